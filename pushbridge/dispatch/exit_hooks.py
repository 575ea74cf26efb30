"""Background queues are sent, with a deadline, when the process stops: SIGTERM, SIGINT, exit.

A normal exit runs :func:`senders.shutdown` through ``atexit``. SIGTERM (``docker stop``,
systemd, Kubernetes) and SIGINT (Ctrl-C) would otherwise end the process without running
``atexit`` at all (SIGTERM's default action) or with the queue still full, so pushbridge installs
handlers for them that first flush (each alias waits at most its ``SHUTDOWN_TIMEOUT``), then hand
the signal on to whatever handler was there before: the host's own (gunicorn, uWSGI, Celery
install theirs) is called, Python's default SIGINT handler still raises ``KeyboardInterrupt``,
and a default SIGTERM still terminates the process with the signal's status. A handler the host
installs *after* pushbridge replaces ours; then the ``atexit`` flush still runs if the host
exits normally.

Handlers are installed from the main thread only (Python allows nothing else): by
``AppConfig.ready()`` when an alias dispatches in the background, and again when a sender
starts on the main thread. ``OPTIONS``-independent: the deadline is per alias.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from types import FrameType
from typing import Any

from pushbridge.dispatch import senders

SIGNALS = (signal.SIGTERM, signal.SIGINT)

#: signal -> the handler that was installed before ours.
_previous: dict[int, Any] = {}


def install() -> bool:
    """Put the flushing handlers in front of the current ones; False off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is _on_signal:
            continue
        if current is signal.SIG_IGN or current is None:
            continue  # the host chose to ignore it (or it was set outside Python): leave it so
        _previous[signum] = current
        signal.signal(signum, _on_signal)
    return True


def _on_signal(signum: int, frame: FrameType | None) -> None:
    senders.shutdown()
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        # What the signal would have done without us: end the process with its status.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _at_exit() -> None:
    senders.shutdown()


atexit.register(_at_exit)
