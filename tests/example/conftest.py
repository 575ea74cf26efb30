"""Fixtures for the example project's browser tests: the real demo site, run as a user runs it.

* The embedded push server is its own process (``python -m pushbridge.server``), so a test
  can stop and restart it under the pages' feet.
* The demo site runs in a subprocess with its own settings (``demo_site.settings``; this
  suite's process is configured with ``tests.settings``), a fresh SQLite file, the demo users
  from ``create_demo_users``, and Django's ``runserver``, pointed at that push server with
  ``DEMO_WS_PORT``. A second copy serves the pages with pusher-js, for the test that needs it.
* Debian's chromium, driven by Playwright's sync API, one browser context per user.

Everything binds to free ports on 127.0.0.1 and logs into ``test-artifacts/example/``.
Tests never sleep: they wait for what a user would see, with generous timeouts.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import launched_chromium

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example_project"
ARTIFACTS = REPO / "test-artifacts" / "example"
PUSHER_JS = REPO / "tests" / "node" / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js"
#: Generous on purpose: a loaded 2-core machine must not turn slowness into failures.
WAIT_MS = 15_000
START_TIMEOUT = 60.0
PASSWORD = "demo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``ready`` until it holds; fail with the process's log if it dies or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not start within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a service manager would; SIGKILL only if it does not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- the push server ---------------------------------------------------------------------------


@dataclass
class PushServer:
    """``python -m pushbridge.server`` in a subprocess, restartable on the same port."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = ARTIFACTS / f"push-server-{self.starts}.log"
        command = [sys.executable, "-m", "pushbridge.server", "--host", "127.0.0.1", "--port", str(self.port)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: port_open(self.port), "the push server", self.process, log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def push_server() -> Iterator[PushServer]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = PushServer()
    server.start()
    yield server
    server.stop()


# -- the demo site -----------------------------------------------------------------------------


@dataclass
class DemoSite:
    """One runserver of the example project; ``url`` is its base URL."""

    url: str
    database: Path

    def query(self, sql: str, *params: Any) -> Any:
        """One value from the site's database (ids of the demo data, for URLs and channels)."""
        with sqlite3.connect(self.database) as connection:
            row = connection.execute(sql, params).fetchone()
        assert row is not None, f"no row for {sql} {params}"
        return row[0]

    def user_id(self, username: str) -> int:
        return int(self.query("SELECT id FROM auth_user WHERE username = ?", username))

    def room_id(self, name: str) -> int:
        return int(self.query("SELECT id FROM chat_room WHERE name = ?", name))

    def item_id(self, title: str) -> int:
        return int(self.query("SELECT id FROM items_item WHERE title = ?", title))


def site_env(ws_port: int, database: Path, js_client: str = "shim") -> dict[str, str]:
    """The demo's environment: its own settings, database and push server port, nothing inherited."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PUSHBRIDGE", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="demo_site.settings",  # this process runs with tests.settings
        DEMO_DB=str(database),
        DEMO_WS_PORT=str(ws_port),
        DEMO_DEBUG="1",  # runserver serves the static files (CSS, the shim) only in DEBUG
        PUSHBRIDGE_JS_CLIENT=js_client,
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run_site(push_server: PushServer, database: Path, js_client: str, name: str) -> Iterator[DemoSite]:
    """Start ``manage.py runserver`` for the example on a free port; stop it afterwards."""
    env = site_env(push_server.port, database, js_client)
    port = free_port()
    log = ARTIFACTS / f"{name}.log"
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=EXAMPLE, env=env, stdout=out, stderr=subprocess.STDOUT)
    site = DemoSite(f"http://127.0.0.1:{port}", database)
    try:
        wait_until(lambda: http_ok(f"{site.url}/login/"), f"the demo site ({name})", process, log)
        yield site
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file holding the demo users, rooms, items and transactions."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    database = tmp_path_factory.mktemp("example") / "demo.sqlite3"
    env = site_env(free_port(), database)  # seeding is muted: it never reaches a push server
    manage(env, "migrate", "--noinput")
    manage(env, "create_demo_users")
    return database


@pytest.fixture(scope="session")
def site(push_server: PushServer, demo_database: Path) -> Iterator[DemoSite]:
    """The demo as ./scripts/demo serves it: pages use pushbridge's JS shim."""
    yield from run_site(push_server, demo_database, "shim", "site-shim")


@pytest.fixture(scope="session")
def pusher_js_site(push_server: PushServer, demo_database: Path) -> Iterator[DemoSite]:
    """The same site and database, with PUSHBRIDGE_JS_CLIENT=pusher-js."""
    if not PUSHER_JS.exists():
        pytest.skip(f"pusher-js is not installed at {PUSHER_JS} (run: npm ci --prefix tests/node)")
    yield from run_site(push_server, demo_database, "pusher-js", "site-pusher-js")


# -- the browser -------------------------------------------------------------------------------


class DemoPage:
    """A logged-in user's Playwright page, with the waits the tests share."""

    def __init__(self, page: Any, site: DemoSite, username: str) -> None:
        self.page = page
        self.site = site
        self.username = username

    def goto(self, path: str) -> DemoPage:
        self.page.goto(self.site.url + path)
        return self

    def wait(self, expression: str, arg: Any = None) -> Any:
        """Wait until ``expression`` (a JS function of ``arg``) is truthy in the page; return it."""
        return self.page.wait_for_function(expression, arg=arg, timeout=WAIT_MS).json_value()

    def wait_subscribed(self, channel: str) -> None:
        """Wait until the page's client holds ``channel``: works with the shim and pusher-js."""
        self.wait("(name) => { const c = demo.client.channel(name); return c && c.subscribed; }", channel)

    def socket_id(self) -> str:
        return str(self.wait("() => demo.client.connection.state === 'connected' && demo.client.connection.socket_id"))

    def texts(self, selector: str) -> list[str]:
        return [text.strip() for text in self.page.locator(selector).all_inner_texts()]

    def screenshot(self, name: str) -> Path:
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one module at a time (see ``tests.chromium``)."""
    with launched_chromium() as instance:
        yield instance


@pytest.fixture
def login(browser: Any, site: DemoSite) -> Iterator[Callable[..., DemoPage]]:
    """Factory: ``login("ann")`` logs ann in through the login form, in a context of her own.

    ``login("ann", site=other)`` uses another copy of the site. Uncaught page errors, and any
    404 (a missing script, style or icon), fail the test.
    """
    contexts: list[Any] = []
    errors: list[str] = []
    not_found: list[str] = []

    def login_(username: str, site: DemoSite = site) -> DemoPage:
        context = browser.new_context(viewport={"width": 1180, "height": 720})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: errors.append(f"{username}: {error}"))
        page.on("response", lambda response: response.status == 404 and not_found.append(response.url))
        page.goto(f"{site.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button")
        page.wait_for_url(f"{site.url}/")
        return DemoPage(page, site, username)

    yield login_
    for context in contexts:
        context.close()
    assert errors == [], f"uncaught errors in the pages: {errors}"
    assert not_found == [], f"404s in the pages: {not_found}"
