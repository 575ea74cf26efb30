"""The browser tests' real Django site (``tests.browser.django_site``) as a process of its own.

Started with ``manage.py``'s ``runserver`` on a free port, on a fresh SQLite file, sending to
the push server the test gives it; stopped (SIGTERM, then SIGKILL) when the test is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.example.conftest import free_port, http_ok, stop_process, wait_until

REPO = Path(__file__).resolve().parents[2]
SETTINGS = "tests.browser.django_site.settings"


@dataclass
class DjangoSite:
    """One runserver of the browser site; restartable on the same port and database."""

    push_port: int
    directory: Path
    history_window: int = 20
    settings: str = SETTINGS
    #: The push server's app id, key and secret, when not the browser tests' own.
    credentials: tuple[str, str, str] | None = None
    #: A DATABASES entry to use instead of a fresh SQLite file (read by chaos_settings).
    database: dict[str, Any] | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith(("PUSHBRIDGE", "DJANGO_"))}
        env.update(
            DJANGO_SETTINGS_MODULE=self.settings,
            BROWSER_SITE_DB=str(self.directory / "site.sqlite3"),
            BROWSER_SITE_PUSH_PORT=str(self.push_port),
            BROWSER_SITE_HISTORY_WINDOW=str(self.history_window),
            PYTHONPATH=str(REPO),
            PYTHONUNBUFFERED="1",
        )
        if self.database is not None:
            env["BROWSER_SITE_DATABASE"] = json.dumps(self.database)
        if self.credentials is not None:
            env.update(
                zip(("BROWSER_SITE_APP_ID", "BROWSER_SITE_KEY", "BROWSER_SITE_SECRET"), self.credentials, strict=True)
            )
        return env

    def start(self) -> DjangoSite:
        if self.starts == 0:
            migrate = [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"]
            subprocess.run(migrate, cwd=REPO, env=self.env(), check=True, timeout=120)
        self.starts += 1
        log = self.directory / f"site-{self.starts}.log"
        command = [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO, env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: http_ok(f"{self.url}/page/shim/"), "the browser tests' Django site", self.process, log)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no exit handler runs."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(15)
            self.process = None

    def page_url(
        self, client: str = "shim", user: str | None = None, channel: str | None = None, *, kind: str = "page"
    ) -> str:
        """A test page; ``kind="durable"`` renders the channel's position with pushbridge's own tag."""
        query = "&".join(f"{name}={value}" for name, value in (("user", user), ("channel", channel)) if value)
        return f"{self.url}/{kind}/{client}/" + (f"?{query}" if query else "")

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            reply: dict[str, Any] = json.loads(response.read())
        return reply

    def publish(self, channel: str, event: str, data: Any, *, send: bool = True) -> dict[str, Any]:
        """Record an event in the stand-in history and (unless ``send=False``) trigger it."""
        return self.post("/publish/", {"channel": channel, "event": event, "data": data, "send": send})

    def send(self, channel: str, event_id: str) -> None:
        """Trigger a recorded event now: a relay that sends late, or a second time."""
        self.post("/send/", {"channel": channel, "id": event_id})

    def fail_next(self, path: str, count: int) -> None:
        """The next ``count`` requests to ``path`` answer 503, as a restarting Django would."""
        self.post("/faults/", {"path": path, "count": count})

    def delay_history(self, seconds: float) -> None:
        """Make the history view hold its (already read) reply this long (0 ends it)."""
        self.post("/history-delay/", {"seconds": seconds})
