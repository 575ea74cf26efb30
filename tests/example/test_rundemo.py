"""``manage.py rundemo``, the command behind ``./scripts/demo``: one command starts both servers,
and Ctrl-C stops both.

Runs the command as a terminal would (its own process group, the autoreloader on, SIGINT to the
whole group) and checks what a newcomer relies on: the banner, a page and the push server's
WebSocket port answering, and nothing left listening afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.example.conftest import (
    ARTIFACTS,
    EXAMPLE,
    free_port,
    http_ok,
    port_open,
    site_env,
    wait_until,
)


def test_rundemo_starts_both_servers_and_ctrl_c_stops_both(demo_database: Path) -> None:
    web_port, ws_port = free_port(), free_port()
    log = ARTIFACTS / "rundemo.log"
    command = [sys.executable, "manage.py", "rundemo", f"127.0.0.1:{web_port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=EXAMPLE,
            env=site_env(ws_port, demo_database),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, like a terminal's job
        )
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{web_port}/login/"), "rundemo", process, log)
        assert port_open(ws_port)
        banner = log.read_text()
        assert f"http://127.0.0.1:{web_port}/" in banner
        assert "ann / demo" in banner
        assert f"ws://127.0.0.1:{ws_port}/app/app-key" in banner

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert process.wait(30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    assert "pushbridge server stopped." in log.read_text()
    assert not port_open(ws_port)
    assert not port_open(web_port)
