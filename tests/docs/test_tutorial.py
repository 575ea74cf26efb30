"""docs/tutorial.md, done as a reader does it: every file written and every command run, in order.

The commands run with this suite's Python (pushbridge is installed in it, so ``pip install`` is
skipped) in a temporary folder; servers that run until Ctrl-C are skipped (``pushbridge_runserver``
has a test of its own, tests/commands, and step 6 is played in chromium below). The tutorial's
own tests must pass, and its page must be live: two users see an order appear and get shipped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import launched_chromium
from tests.docs.markdown_steps import FileStep, steps
from tests.newproject import free_port, wait_until

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: What the suite cannot do as a reader would: install (done already) and serve until Ctrl-C.
SKIPPED = ("pip install", "python manage.py pushbridge_runserver")


def clean_env() -> dict[str, str]:
    """The reader's environment: nothing of this suite's Django settings."""
    return {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PUSHBRIDGE_URL")}


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    words = shlex.split(command)
    env = clean_env()
    while "=" in words[0]:  # VAR=value prefixes
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if words[0] == "django-admin":
        words = [sys.executable, "-m", "django", *words[1:]]
    elif words[0] == "python":
        words = [sys.executable, *words[1:]]
    done = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"$ {command}\nexited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@dataclass
class Tutorial:
    """The project the tutorial built, and what each of its commands printed."""

    root: Path
    outputs: dict[str, str]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Tutorial:
    cwd = tmp_path_factory.mktemp("tutorial")
    outputs: dict[str, str] = {}
    for step in steps(DOCS / "tutorial.md"):
        if isinstance(step, FileStep):
            target = cwd / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if step.append:
                with target.open("a") as existing:
                    existing.write("\n" + step.text)
            else:
                target.write_text(step.text)
        elif step.command.startswith("cd "):
            cwd = cwd / step.command[3:]
        elif not step.command.startswith(SKIPPED):
            done = run(step.command, cwd)
            outputs[step.command] = done.stdout + done.stderr
    return Tutorial(cwd, outputs)


def test_the_tutorial_works_as_written(tutorial: Tutorial) -> None:
    result = tutorial.outputs["python manage.py test shop"]
    assert "Ran 3 tests" in result, result
    assert "\nOK\n" in result, result
    check = run("python manage.py check", tutorial.root)
    assert "no issues" in check.stdout, check.stdout + check.stderr

    page = run(
        "python manage.py shell -c "
        + shlex.quote(
            "from django.test import Client; from django.contrib.auth.models import User; "
            "c = Client(); c.force_login(User.objects.get(username='ann')); "
            "print(c.get('/orders/', HTTP_HOST='127.0.0.1').content.decode())"
        ),
        tutorial.root,
    ).stdout
    config = json.loads(re.search(r'<script id="pushbridge-config" type="application/json">(.*?)</script>', page)[1])
    assert (config["key"], config["wsHost"], config["wsPort"]) == ("app-key", "127.0.0.1", 6001)
    assert config["channelAuthorization"] == {"endpoint": "/pushbridge/auth/"}
    assert '<script src="/static/pushbridge/pushbridge.js"></script>' in page


@pytest.mark.browser
def test_the_tutorial_page_is_live_in_chromium(tutorial: Tutorial, tmp_path: Path) -> None:
    """Step 6 as a reader does it: two people on the page, an order added, one shipped."""
    web_port, ws_port = free_port(), free_port()
    # The only change to the tutorial's project: this machine may have port 6001 taken.
    with (tutorial.root / "mysite" / "settings.py").open("a") as settings:
        settings.write(f'\nPUSHBRIDGE["default"]["PORT"] = {ws_port}\n')
    run("DJANGO_SUPERUSER_PASSWORD=change-me python manage.py createsuperuser --noinput --username bob "
        "--email bob@example.com", tutorial.root)  # fmt: skip
    log = tmp_path / "runserver.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "pushbridge_runserver", f"127.0.0.1:{web_port}"],
            cwd=tutorial.root, env=clean_env(), stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{web_port}"
    errors: list[str] = []
    try:
        wait_until(lambda: answers(f"{base}/admin/login/"), "the tutorial's site", server, log)
        with launched_chromium() as browser:
            pages = [open_orders(browser, base, name, errors) for name in ("ann", "bob")]
            for page in pages:
                page.locator("#watchers", has_text="2 watching").wait_for()

            add_order = "from shop.models import Order; Order.objects.create(number='B-7')"
            run("python manage.py shell -c " + shlex.quote(add_order), tutorial.root)
            for page in pages:
                page.locator("#orders li", has_text="B-7: new").wait_for()

            pages[0].locator("#orders li", has_text="B-7").locator("button").click()
            for page in pages:
                page.locator("#orders li", has_text="B-7: shipped").wait_for()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert errors == []


def open_orders(browser: Any, base: str, username: str, errors: list[str]) -> Any:
    page = browser.new_context().new_page()
    page.set_default_timeout(20_000)
    page.on("pageerror", lambda error: errors.append(f"{username}: {error}"))
    page.goto(f"{base}/admin/login/?next=/orders/")
    page.fill("#id_username", username)
    page.fill("#id_password", "change-me")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/orders/")
    return page


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False
