"""Start a program, wait until it accepts TCP connections, stop it: what every launcher shares."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 20.0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing uses right now (TCP, or UDP with ``socket.SOCK_DGRAM``)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_program(name: str, *candidates: str) -> str:
    """The path of ``name`` (or the first existing candidate path); skip, or fail under CI, if none.

    CI installs every service (scripts/test), so there a missing program is a broken install,
    not a reason to skip.
    """
    found = shutil.which(name) or next((path for path in candidates if os.path.exists(path)), None)
    if found:
        return found
    reason = f"{name} is not installed (scripts/test installs it when run as root)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, *, host: str = "127.0.0.1") -> None:
    """Block until ``host:port`` accepts a connection, or raise with the program's log."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{_tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{process.args!r} did not listen on {host}:{port} within {STARTUP_TIMEOUT}s:\n{_tail(log)}")


def stop_process(process: subprocess.Popen[bytes] | None, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Ask a process to stop, then kill it if it has not within ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
