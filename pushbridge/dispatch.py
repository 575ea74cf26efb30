"""WHEN an event leaves: now, or from a background sender that batches and retries.

Each alias chooses with its ``DISPATCH`` key:

``"sync"`` (default)
    ``trigger()`` sends before it returns; errors raise into the caller.

``"background"``
    ``trigger()`` validates and encodes the event on the caller's thread (so bad input still
    raises there), then only enqueues it: a few microseconds. One daemon thread per alias
    drains the queue, sending up to the backend's batch size (10) per HTTP request, retrying
    failures with jittered exponential backoff. The queue is bounded (``QUEUE_SIZE``): when it
    is full the event is dropped rather than blocking a request. A backend outage never raises
    into the caller; it is logged, counted (:func:`stats`) and announced by the
    :data:`pushbridge.signals.dispatch_failed` signal. The queue is flushed at process exit
    and by :func:`flush`.

This module decides only *when*; formatting requests is the backend's job.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.signals import setting_changed

from pushbridge.backends import BaseBackend, get_backend
from pushbridge.errors import BackendError
from pushbridge.events import Event

logger = logging.getLogger("pushbridge.dispatch")

SYNC = "sync"
BACKGROUND = "background"
MODES = (SYNC, BACKGROUND)

#: Attempts after the first for a batch that failed in a retryable way (outage, 429, 5xx).
BACKGROUND_RETRIES = 5
BACKGROUND_BACKOFF = 0.5
BACKGROUND_BACKOFF_MAX = 30.0
#: Events closer together than this (on average) are batched (``OPTIONS["batch_linger_ms"]``).
DEFAULT_LINGER_SECONDS = 0.003
#: A lingering sender sleeps at most this many linger times for a request to fill.
LINGER_ROUNDS = 4
#: At most this many queued events are taken in one go.
DRAIN_MAX = 100

_muted: contextvars.ContextVar[int] = contextvars.ContextVar("pushbridge_muted", default=0)


@contextmanager
def muted() -> Iterator[None]:
    """Push nothing inside this block: no trigger, no model auto-push (fixtures, imports)."""
    token = _muted.set(_muted.get() + 1)
    try:
        yield
    finally:
        _muted.reset(token)


def is_muted() -> bool:
    """True inside :func:`muted`."""
    return _muted.get() > 0


@dataclass
class Stats:
    """Counters of one background sender, for monitoring."""

    enqueued: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    # ``+=`` on an attribute is not atomic: request threads count concurrently.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, name: str, number: int = 1) -> None:
        """Add ``number`` to the counter ``name``, safely from any thread."""
        with self._lock:
            setattr(self, name, getattr(self, name) + number)


class BackgroundSender:
    """A bounded queue and one daemon thread that sends its events in batches."""

    def __init__(
        self, alias: str, queue_size: int, *, linger: float = DEFAULT_LINGER_SECONDS, batch_size: int = 10
    ) -> None:
        self.alias = alias
        self.linger = linger
        #: Lingering stops once this many events are in hand: a full ``batch_events`` request.
        self.batch_size = batch_size
        self._last_arrival = time.monotonic()
        self._arrival_gap = 1.0  # seconds: "no traffic yet" (finite, or the average stays inf)
        self.queue: queue.Queue[Event | None] = queue.Queue(maxsize=queue_size)
        self.stats = Stats()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pushbridge-sender-{alias}", daemon=True)

    def start(self) -> BackgroundSender:
        """Start the sending thread (separate from construction, so the parts can be tested alone)."""
        self._thread.start()
        return self

    def enqueue(self, event: Event) -> None:
        """Queue ``event`` without blocking; drop it (counted, logged, signalled) when full."""
        now = time.monotonic()
        # A moving average of the time between events: is there traffic worth batching?
        self._arrival_gap += (now - self._last_arrival - self._arrival_gap) * 0.2
        self._last_arrival = now
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.stats.count("dropped")
            logger.error("pushbridge queue for %r is full (%d); dropped %r", self.alias, self.queue.maxsize, event)
            _announce_failure(self.alias, [event], "queue full", dropped=True)
        else:
            self.stats.count("enqueued")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was sent or given up; False if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.queue.all_tasks_done.wait(remaining)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (within ``timeout``) and end the thread."""
        self.flush(timeout)
        self._stopping.set()
        with contextlib.suppress(queue.Full):  # a full queue after a timed-out flush: the flag ends it
            self.queue.put_nowait(None)
        self._thread.join(timeout)

    # -- the sender thread -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            first = self.queue.get()
            if first is None:
                self.queue.task_done()
                return
            # When events have been arriving faster than one per linger time, give a request
            # the time to fill before sending it: one request per 10 events instead of one per
            # event. Slower traffic (200 events/s is one per 5 ms) never waits; what queued up
            # meanwhile is taken all the same.
            events = self._take_more([first], linger=self._arrival_gap < self.linger)
            try:
                self._send(events)
            finally:
                for _ in events:
                    self.queue.task_done()

    def _take_more(self, events: list[Event], *, linger: bool) -> list[Event]:
        """Add what is queued; when lingering, first sleep about as long as a full request takes to come.

        Sleeping (rather than waiting on the queue) means arrivals wake nobody: one wake-up
        per request instead of one per event, which matters when both threads share a core.
        """
        if linger:
            missing = self.batch_size - len(events) - self.queue.qsize()
            if missing > 0:
                time.sleep(min(self.linger * LINGER_ROUNDS, self._arrival_gap * missing))
        limit = self.batch_size if linger else DRAIN_MAX
        while len(events) < limit:
            try:
                extra = self.queue.get_nowait()
            except queue.Empty:
                break
            if extra is None:
                self._stopping.set()
                self.queue.task_done()
                break
            events.append(extra)
        return events

    def _send(self, events: list[Event]) -> None:
        try:
            backend = get_backend(self.alias)
        except Exception as exc:  # a bad setting must not kill the sender thread
            self._give_up(events, exc)
            return
        for request in requests_for(events, backend.limits.max_batch_size):
            self._send_with_retries(backend, request)

    def _send_with_retries(self, backend: BaseBackend, request: list[Event]) -> None:
        attempt = 0
        while True:
            try:
                send_request(backend, request)
            except BackendError as exc:
                if not exc.retryable or attempt >= BACKGROUND_RETRIES or self._stopping.is_set():
                    self._give_up(request, exc)
                    return
                delay = random.uniform(0, min(BACKGROUND_BACKOFF_MAX, BACKGROUND_BACKOFF * 2**attempt))
                logger.warning("%r: %s; retrying %d event(s) in %.1f s", self.alias, exc, len(request), delay)
                time.sleep(delay)
                attempt += 1
            except Exception as exc:  # never let one bad batch end the thread
                self._give_up(request, exc)
                return
            else:
                self.stats.count("sent", len(request))
                return

    def _give_up(self, events: list[Event], exc: BaseException) -> None:
        self.stats.count("failed", len(events))
        logger.error("pushbridge %r: giving up on %d event(s): %s", self.alias, len(events), exc)
        _announce_failure(self.alias, events, exc)


def requests_for(events: list[Event], batch_size: int) -> Iterator[list[Event]]:
    """Group events into requests, order kept.

    Consecutive single-channel events share ``batch_events`` requests of ``batch_size``; a
    multi-channel event goes alone, as one ``events`` request reaches all its channels.
    """
    batch: list[Event] = []
    for event in events:
        if len(event.channels) > 1:
            if batch:
                yield batch
                batch = []
            yield [event]
            continue
        batch.append(event)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def send_request(backend: BaseBackend, request: list[Event]) -> dict[str, Any]:
    """Send one group made by :func:`requests_for`: one event alone, or a batch of single-channel ones."""
    if len(request) == 1:
        return backend.trigger(request[0])
    return backend.trigger_batch(request)


def _announce_failure(alias: str, events: list[Event], error: BaseException | str, *, dropped: bool = False) -> None:
    from pushbridge.signals import dispatch_failed

    try:
        dispatch_failed.send_robust(sender=alias, events=events, error=error, dropped=dropped)
    except Exception:  # pragma: no cover - send_robust already isolates receivers
        logger.exception("pushbridge dispatch_failed receivers raised")


# -- the per-alias registry ----------------------------------------------------------------------

_lock = threading.Lock()
_senders: dict[str, BackgroundSender] = {}


def _sender(backend: BaseBackend) -> BackgroundSender:
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
                ).start()
                _senders[backend.alias] = sender
    return sender


def send(event: Event, backend: BaseBackend) -> dict[str, Any]:
    """Send a checked event through ``backend`` now or in the background, as configured."""
    if is_muted():
        return {}
    if backend.config.dispatch == BACKGROUND:
        _sender(backend).enqueue(event)
        return {}
    return backend.trigger(event)


def send_batch(events: list[Event], backend: BaseBackend) -> list[dict[str, Any]]:
    """Send checked events in order, in as few requests as :func:`requests_for` makes."""
    if is_muted():
        return []
    if backend.config.dispatch == BACKGROUND:
        sender = _sender(backend)
        for event in events:
            sender.enqueue(event)
        return []
    return [send_request(backend, request) for request in requests_for(events, backend.limits.max_batch_size)]


def flush(timeout: float | None = 10.0) -> bool:
    """Wait for every background sender to empty its queue; False if ``timeout`` ran out.

    Call it at the end of a management command or a task when events must have left.
    """
    with _lock:
        senders = list(_senders.values())
    deadline = None if timeout is None else time.monotonic() + timeout
    done = True
    for sender in senders:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        done = sender.flush(remaining) and done
    return done


def stats() -> dict[str, Stats]:
    """Counters of each alias's background sender."""
    with _lock:
        return {alias: sender.stats for alias, sender in _senders.items()}


def shutdown(timeout: float = 5.0) -> None:
    """Flush and stop every background sender (at process exit, or when settings change)."""
    with _lock:
        senders = list(_senders.values())
        _senders.clear()
    for sender in senders:
        sender.stop(timeout)


atexit.register(shutdown)


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
