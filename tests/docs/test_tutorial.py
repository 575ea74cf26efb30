"""docs/tutorial.md, done as a reader does it: every file written and every command run, in order.

The commands run with this suite's Python (pushbridge is installed in it, so ``pip install`` is
skipped) in a temporary folder; servers that run until Ctrl-C are skipped (``pushbridge_runserver``
has a test of its own, tests/commands). The tutorial's own tests must pass, and its page must
render with the browser client's configuration.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.markdown_steps import FileStep, steps

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: What the suite cannot do as a reader would: install (done already) and serve until Ctrl-C.
SKIPPED = ("pip install", "python manage.py pushbridge_runserver")


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    words = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PUSHBRIDGE_URL")}
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


def test_the_tutorial_works_as_written(tmp_path: Path) -> None:
    cwd = tmp_path
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
    result = outputs["python manage.py test shop"]
    assert "Ran 3 tests" in result, result
    assert "\nOK\n" in result, result
    check = run("python manage.py check", cwd)
    assert "no issues" in check.stdout, check.stdout + check.stderr

    page = run(
        "python manage.py shell -c "
        + shlex.quote(
            "from django.test import Client; from django.contrib.auth.models import User; "
            "c = Client(); c.force_login(User.objects.get(username='ann')); "
            "print(c.get('/orders/', HTTP_HOST='127.0.0.1').content.decode())"
        ),
        cwd,
    ).stdout
    config = json.loads(re.search(r'<script id="pushbridge-config" type="application/json">(.*?)</script>', page)[1])
    assert (config["key"], config["wsHost"], config["wsPort"]) == ("app-key", "127.0.0.1", 6001)
    assert config["channelAuthorization"] == {"endpoint": "/pushbridge/auth/"}
    assert '<script src="/static/pushbridge/pushbridge.js"></script>' in page
