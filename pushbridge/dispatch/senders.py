"""The background senders of this process, one per alias: made on first use, stopped at exit."""

from __future__ import annotations

import os
import threading
import time

from django.core.signals import setting_changed

from pushbridge.backends import BaseBackend
from pushbridge.dispatch import retry
from pushbridge.dispatch.background import DEFAULT_LINGER_SECONDS, BackgroundSender, Stats

_lock = threading.Lock()
_senders: dict[str, BackgroundSender] = {}


def sender_for(backend: BaseBackend) -> BackgroundSender:
    """The running sender of ``backend``'s alias, started on first use."""
    sender = _senders.get(backend.alias)
    if sender is None:
        with _lock:
            sender = _senders.get(backend.alias)
            if sender is None:
                linger_ms = backend.config.options.get("batch_linger_ms", DEFAULT_LINGER_SECONDS * 1000)
                sender = BackgroundSender(
                    backend.alias,
                    backend.config.queue_size,
                    linger=float(linger_ms) / 1000,
                    batch_size=backend.limits.max_batch_size,
                    policy=retry.policy_for(backend.config, retry.BACKGROUND),
                    shutdown_timeout=backend.config.shutdown_timeout,
                )
                _senders[backend.alias] = sender.start()
        from pushbridge.dispatch import exit_hooks

        exit_hooks.install()  # from the main thread only; otherwise AppConfig.ready() did it
    return sender


def flush(timeout: float | None = 10.0) -> bool:
    """Wait for every background sender to empty its queue; False if ``timeout`` ran out.

    Call it at the end of a management command or a task when events must have left.
    """
    senders = list(_senders.values())
    deadline = None if timeout is None else time.monotonic() + timeout
    done = True
    for sender in senders:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        done = sender.flush(remaining) and done
    return done


def stats() -> dict[str, Stats]:
    """Counters of each alias's background sender."""
    return {alias: sender.stats for alias, sender in list(_senders.items())}


def shutdown(timeout: float | None = None) -> int:
    """Flush and stop every background sender; return how many events were left unsent.

    Each sender gets its alias's ``SHUTDOWN_TIMEOUT`` unless ``timeout`` is given. Takes no
    lock, so that it is safe from a signal handler.
    """
    senders = list(_senders.values())
    _senders.clear()
    return sum(sender.stop(timeout) for sender in senders)


def _forget_after_fork() -> None:
    """In a forked child (gunicorn --preload, multiprocessing): the parent's threads are gone.

    Drop the senders without stopping them (their threads do not exist here, and their locks
    may have been held at the fork); the next trigger starts a fresh one. Queued events stay
    the parent's to send.
    """
    global _lock
    _lock = threading.Lock()
    _senders.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "PUSHBRIDGE":
        shutdown()


setting_changed.connect(_on_setting_changed, dispatch_uid="pushbridge.dispatch.shutdown")
