"""A user's own project, made by ``django-admin startproject`` in a temporary folder.

The tests of what a newcomer does (the tutorial, ``pushbridge_runserver``) run in such a
project, in subprocesses with its own settings, as the user would: nothing of pushbridge's
test settings leaks in.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Generous on purpose: a loaded 2-core machine must not turn slowness into failures.
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Project:
    """A startproject project: ``root`` holds manage.py, ``package`` the settings and urls."""

    root: Path
    package: Path

    @property
    def settings(self) -> Path:
        return self.package / "settings.py"

    def add_settings(self, text: str) -> None:
        with self.settings.open("a") as settings:
            settings.write("\n" + text)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of the project's commands: the venv's Python finds pushbridge."""
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PUSHBRIDGE_URL")}
        return {**env, "PYTHONUNBUFFERED": "1", **extra}

    def manage(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``python manage.py ARGS`` to completion; fail with its output if it fails."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            pytest.fail(f"manage.py {' '.join(args)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done


def start_project(parent: Path, name: str = "mysite") -> Project:
    """``django-admin startproject NAME`` in ``parent``, as the tutorial's first step."""
    root = parent / name
    root.mkdir()
    subprocess.run([sys.executable, "-m", "django", "startproject", name, str(root)], check=True, timeout=120)
    return Project(root, root / name)


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[str], log: Path) -> None:
    """Poll ``ready`` until it holds; fail with the process's log if it dies or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what}: the process exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        if ready():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {START_TIMEOUT} s:\n{log.read_text()[-4000:]}")
