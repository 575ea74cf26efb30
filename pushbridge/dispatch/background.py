"""``"DISPATCH": "background"``: a bounded in-memory queue and one sender thread per alias.

``trigger()`` validates and encodes on the caller's thread (bad input still raises there), then
only appends to the queue: a few microseconds. The sender thread sends up to the backend's batch
size (10) per request and retries as :mod:`.retry` says. Nothing here survives ``kill -9``: the
queue lives in the process. What the process knows it could not send (queue full, retries
exhausted, still queued when a shutdown's deadline passed) is counted, logged and announced by
:data:`pushbridge.signals.dispatch_failed`; nothing is dropped without a word.

The queue is a ``collections.deque``: appending and popping are atomic and take no Python-level
lock, so a signal handler that flushes (see :mod:`.exit_hooks`) can never wait on a lock held by
the very thread it interrupted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

from pushbridge.backends import get_backend
from pushbridge.dispatch import failures, retry
from pushbridge.dispatch.grouping import requests_for, send_request
from pushbridge.events import Event

logger = logging.getLogger("pushbridge.dispatch")

#: Events closer together than this (on average) are batched (``OPTIONS["batch_linger_ms"]``).
DEFAULT_LINGER_SECONDS = 0.003
#: A lingering sender sleeps at most this many linger times for a request to fill.
LINGER_ROUNDS = 4
#: At most this many queued events are taken in one go.
DRAIN_MAX = 100
#: How often :meth:`BackgroundSender.flush` looks whether the queue is empty.
FLUSH_POLL_SECONDS = 0.002


@dataclass
class Stats:
    """Counters of one background sender, for monitoring."""

    enqueued: int = 0
    sent: int = 0
    #: Given up after retries, refused by the service, or unsent when the process stopped.
    failed: int = 0
    #: Refused at enqueue time because the queue was full.
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
        self,
        alias: str,
        queue_size: int,
        *,
        linger: float = DEFAULT_LINGER_SECONDS,
        batch_size: int = 10,
        policy: retry.RetryPolicy | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.alias = alias
        self.queue_size = queue_size
        self.linger = linger
        #: Lingering stops once this many events are in hand: a full ``batch_events`` request.
        self.batch_size = batch_size
        self.policy = policy or retry.RetryPolicy(*retry.DEFAULTS[retry.BACKGROUND])
        #: What :meth:`stop` waits when the process stops (the alias's ``SHUTDOWN_TIMEOUT``).
        self.shutdown_timeout = shutdown_timeout
        self._last_arrival = time.monotonic()
        self._arrival_gap = 1.0  # seconds: "no traffic yet" (finite, or the average stays inf)
        self.queue: deque[Event] = deque()
        self.stats = Stats()
        #: Events the thread took and has not finished with; whoever pops an event owns it.
        self._in_flight: list[Event] = []
        self._wake = threading.Event()
        #: Set when the process stops: retries end, and what is left is reported, not sent.
        self._stopping = threading.Event()
        self._abandoned = False
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
        if len(self.queue) >= self.queue_size or self._stopping.is_set():
            self.stats.count("dropped")
            reason = "queue full" if not self._stopping.is_set() else "the sender has stopped"
            failures.announce(self.alias, [event], f"{reason} ({self.queue_size})", dropped=True)
            return
        self.queue.append(event)
        self.stats.count("enqueued")
        self._wake.set()

    def pending(self) -> int:
        """Events queued or being sent."""
        return len(self.queue) + len(self._in_flight)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was sent or given up; False if ``timeout`` ran out.

        Polls rather than waiting on a condition: it may run inside a signal handler.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.queue or self._in_flight:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(FLUSH_POLL_SECONDS)
        return True

    def stop(self, timeout: float | None = None) -> int:
        """Send what is queued within ``timeout``, then report what is left; return that count.

        Events still queued at the deadline, and those of a request still under way (they may
        or may not arrive), are counted as failed, logged and announced.
        """
        timeout = self.shutdown_timeout if timeout is None else timeout
        self.flush(timeout)
        self._stopping.set()
        self._wake.set()
        left: list[Event] = []
        while True:
            try:
                left.append(self.queue.popleft())
            except IndexError:
                break
        self._thread.join(0.05)
        unconfirmed = list(self._in_flight) if self._thread.is_alive() else []
        self._abandoned = bool(unconfirmed)
        lost = len(left) + len(unconfirmed)
        if left:
            self.stats.count("failed", len(left))
            failures.announce(self.alias, left, f"not sent within SHUTDOWN_TIMEOUT ({timeout:g} s)")
        if unconfirmed:
            self.stats.count("failed", len(unconfirmed))
            failures.announce(
                self.alias, unconfirmed, f"request still unanswered after SHUTDOWN_TIMEOUT ({timeout:g} s)"
            )
        return lost

    # -- the sender thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.clear()
            if not self.queue:
                if self._stopping.is_set():
                    return
                self._wake.wait()
                continue
            # When events have been arriving faster than one per linger time, give a request
            # the time to fill before sending it: one request per 10 events instead of one per
            # event. Slower traffic (200 events/s is one per 5 ms) never waits; what queued up
            # meanwhile is taken all the same.
            self._take(linger=self._arrival_gap < self.linger)
            try:
                self._send(self._in_flight)
            finally:
                self._in_flight = []

    def _take(self, *, linger: bool) -> list[Event]:
        """Move queued events to ``_in_flight``; when lingering, first sleep while a request fills.

        Sleeping (rather than waiting on the queue) means arrivals wake nobody: one wake-up
        per request instead of one per event, which matters when both threads share a core.
        """
        if linger:
            missing = self.batch_size - len(self.queue)
            if missing > 0:
                self._stopping.wait(min(self.linger * LINGER_ROUNDS, self._arrival_gap * missing))
        limit = self.batch_size if linger else DRAIN_MAX
        taken = self._in_flight
        while len(taken) < limit:
            try:
                taken.append(self.queue.popleft())
            except IndexError:
                break
        return taken

    def _send(self, events: list[Event]) -> None:
        try:
            backend = get_backend(self.alias)
        except Exception as exc:  # a bad setting must not kill the sender thread
            self._give_up(events, exc)
            return
        for request in requests_for(events, backend.limits.max_batch_size):
            try:
                retry.call(
                    partial(send_request, backend, request),
                    self.policy,
                    what=f"{self.alias!r} background send of {len(request)} event(s)",
                    stopping=self._stopping,
                )
            except Exception as exc:  # never let one bad batch end the thread
                self._give_up(request, exc)
            else:
                self.stats.count("sent", len(request))

    def _give_up(self, events: list[Event], exc: BaseException) -> None:
        if self._abandoned:
            return  # stop() already reported these as unconfirmed
        self.stats.count("failed", len(events))
        failures.announce(self.alias, events, exc)
