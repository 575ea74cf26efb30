"""Background mode under an unmodified gunicorn: a graceful stop (SIGTERM) sends the queue first.

gunicorn installs its worker's signal handlers before it loads the app; pushbridge's, installed
when the app loads, run first and then hand the signal to gunicorn's graceful stop.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.collector import collector
from tests.services.process import free_port

pytest.importorskip("gunicorn")
ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_to_gunicorn_flushes_the_workers_queue() -> None:
    port = free_port()
    with collector(delay=0.01) as (service_port, received):
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "tests.hosts.gunicorn_app"],
            cwd=ROOT,
            env={"COLLECTOR_PORT": str(service_port), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    reply = requests.get(f"http://127.0.0.1:{port}/", params={"n": 1000}, timeout=10)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.1)
            assert reply.text == "queued 1000"
            server.send_signal(signal.SIGTERM)
            _, errors = server.communicate(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        assert server.returncode == 0, errors
        assert sorted(received) == list(range(1000))
