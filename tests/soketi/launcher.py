"""Start a real, unmodified Soketi (1.6.1 from npm, installed by ``scripts/test``) on free ports.

Each :class:`SoketiNode` is one ``soketi start`` process with its own JSON config file (every
port it opens is chosen free: the HTTP/WebSocket port, the metrics port and the UDP discovery
port), so parallel test runs never meet. The process that starts a node stops it: ``stop()``
sends SIGTERM and waits, ``kill()`` simulates a crash. Apps are plain dicts in Soketi's own
``appManager.array.apps`` form.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from tests.services.process import free_port

SOKETI_DIR = Path(__file__).resolve().parent
SOKETI_BIN = SOKETI_DIR / "node_modules" / ".bin" / "soketi"
START_TIMEOUT = 30.0  # seconds: generous, for a loaded 2-core machine.

#: Every webhook Soketi can send.
WEBHOOK_EVENTS = ("channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss")


def soketi_installed() -> bool:
    return SOKETI_BIN.exists()


def app(
    app_id: str = "app-id",
    key: str = "app-key",
    secret: str = "app-secret",
    *,
    webhook_url: str | None = None,
    **limits: Any,
) -> dict[str, Any]:
    """One Soketi app with everything pushbridge offers switched on (see docs/soketi.md).

    ``limits`` are Soketi's own app keys (``maxBackendEventsPerSecond=5``...).
    """
    webhooks = [{"url": webhook_url, "event_types": list(WEBHOOK_EVENTS)}] if webhook_url else []
    return {
        "id": app_id,
        "key": key,
        "secret": secret,
        "enabled": True,
        "enableClientMessages": True,
        "enableUserAuthentication": True,
        "maxConnections": -1,
        "maxBackendEventsPerSecond": -1,
        "maxClientEventsPerSecond": -1,
        "maxReadRequestsPerSecond": -1,
        "webhooks": webhooks,
        **limits,
    }


class SoketiNode:
    """One Soketi process; ``options`` are Soketi's dotted config keys (``adapter.driver``...)."""

    def __init__(self, apps: Sequence[Mapping[str, Any]], options: Mapping[str, Any] | None = None) -> None:
        self.port = free_port()
        self.apps = [dict(a) for a in apps]
        self.options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "metrics.host": "127.0.0.1",
            "metrics.port": free_port(),
            "cluster.hostname": "127.0.0.1",
            "cluster.port": free_port(socket.SOCK_DGRAM),
            "shutdownGracePeriod": 200,
            "appManager.array.apps": self.apps,
            **(options or {}),
        }
        self._dir = tempfile.TemporaryDirectory(prefix="pushbridge-soketi-")
        self.log_path = Path(self._dir.name) / "soketi.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SoketiNode:
        if not soketi_installed():
            raise RuntimeError(f"Soketi is not installed: run `npm ci --prefix {SOKETI_DIR}` (scripts/test does).")
        config = Path(self._dir.name) / "config.json"
        config.write_text(json.dumps(self.options))
        # Only the config file speaks: SOKETI_* variables from the caller's environment would win.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOKETI_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SOKETI_BIN), "start", f"--config={config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"Soketi exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/ready", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"Soketi did not start within {START_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: Soketi tells its clients to reconnect elsewhere)."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Stop at once, as a crash would."""
        self._end(signal.SIGKILL, 10.0)

    def _end(self, how: signal.Signals, timeout: float) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, how)  # soketi's own node process and anything it started
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()
