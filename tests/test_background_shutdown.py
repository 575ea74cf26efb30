"""Background mode when the process stops: SIGTERM, SIGINT and exit flush, or say what was lost.

Each test runs a real Python process that queues events and is then stopped; a collector HTTP
server plays the service (slow on purpose, so that the queue is still full when the signal
comes), or nothing listens at all (an outage).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collector import collector

ROOT = Path(__file__).parent.parent


@pytest.fixture
def slow_service() -> Iterator[tuple[int, list[Any]]]:
    with collector(delay=0.01) as service:
        yield service


def script(port: int, count: int, *, before: str = "", after: str = "", timeout: float = 30) -> str:
    """A process that queues ``count`` events, says "queued", then runs ``after``."""
    return textwrap.dedent(
        f"""
        import os, signal, sys, time
        {before}
        import django
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS=["pushbridge"],
            PUSHBRIDGE={{"default": {{"BACKEND": "soketi", "PORT": {port}, "DISPATCH": "background",
                                     "SHUTDOWN_TIMEOUT": {timeout}, "OPTIONS": {{"retry_backoff": 0.05}}}}}},
        )
        django.setup()
        import pushbridge
        from pushbridge.signals import dispatch_failed

        def report(sender, events, error, dropped, **kwargs):
            print("failed", len(events), flush=True)

        dispatch_failed.connect(report)
        for i in range({count}):
            pushbridge.trigger("c", "e", i)
        print("queued", flush=True)
        {after}
        """
    )


def run(code: str, *, stop: signal.Signals | None = None, ready: str = "queued") -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    first = ""
    while not first.endswith(f"{ready}\n"):
        line = process.stdout.readline()
        assert line, first + process.stderr.read()  # type: ignore[union-attr]
        first += line
    if stop is not None:
        process.send_signal(stop)
    out, err = process.communicate(timeout=90)
    return subprocess.CompletedProcess(process.args, process.returncode, first + out, err)


def announced(output: str) -> int:
    return sum(int(line.split()[1]) for line in output.splitlines() if line.startswith("failed "))


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sigterm_flushes_the_queue_then_terminates(slow_service: tuple[int, list[Any]]) -> None:
    port, received = slow_service
    result = run(script(port, 2000, after="time.sleep(60)"), stop=signal.SIGTERM)
    assert result.returncode == -signal.SIGTERM, result.stderr  # the default action still happens
    assert sorted(received) == list(range(2000))
    assert announced(result.stdout) == 0


def test_sigint_flushes_and_still_raises_keyboard_interrupt(slow_service: tuple[int, list[Any]]) -> None:
    port, received = slow_service
    after = (
        "try:\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)"
    )
    code = script(port, 500, after=textwrap.indent(after, "        ").strip())
    result = run(code, stop=signal.SIGINT, ready="ready")
    assert "interrupted" in result.stdout
    assert sorted(received) == list(range(500))


def test_a_host_handler_is_chained_not_replaced(slow_service: tuple[int, list[Any]]) -> None:
    port, received = slow_service
    before = (
        "def host(signum, frame):\n"
        "    print('host handler', flush=True)\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, host)"
    )
    code = script(port, 1000, before=textwrap.indent(before, "        ").strip(), after="time.sleep(60)")
    result = run(code, stop=signal.SIGTERM)
    assert "host handler" in result.stdout
    assert result.returncode == 3
    assert sorted(received) == list(range(1000))


def test_sigterm_during_an_outage_announces_every_unsent_event() -> None:
    result = run(script(free_port(), 2000, after="time.sleep(60)", timeout=1), stop=signal.SIGTERM)
    assert result.returncode == -signal.SIGTERM
    assert announced(result.stdout) == 2000  # none lost without a word
    assert "not sent within SHUTDOWN_TIMEOUT" in result.stderr or "gave up on" in result.stderr


def test_normal_exit_during_an_outage_announces_every_unsent_event() -> None:
    result = run(script(free_port(), 500, timeout=1))
    assert result.returncode == 0, result.stderr
    assert announced(result.stdout) == 500


def test_a_handler_installed_later_replaces_ours_and_the_exit_flush_still_runs(
    slow_service: tuple[int, list[Any]],
) -> None:
    port, received = slow_service
    after = (
        "def host(signum, frame):\n"
        "    print('late host handler', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, host)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)"
    )
    code = script(port, 1000, after=textwrap.indent(after, "        ").strip())
    result = run(code, stop=signal.SIGTERM, ready="ready")
    assert "late host handler" in result.stdout
    assert result.returncode == 0
    assert sorted(received) == list(range(1000))  # sent by the flush at exit
