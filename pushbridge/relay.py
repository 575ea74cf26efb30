"""The relay: sends committed ``pending`` rows, in order, in batches, with retries.

It runs in two places, the same code in both:

* in every process that writes durable events, as a daemon thread woken when a transaction
  that wrote events commits (so the added latency is a couple of small queries and the
  request; while commits come faster than one per 3 ms it waits up to 12 ms to take them in
  one turn), and polling every few seconds for rows another process left (it crashed, or was
  killed);
* as ``manage.py pushbridge_relay``, a long-running worker for deployments that prefer one.

**One relay sends at a time**, whatever the number of processes: relays take turns on one
lease row, which is what keeps events in order per channel (two relays sending different
batches at once could deliver a channel's later event first) and sends each row once in the
normal case.

* PostgreSQL (and any database with ``SELECT ... FOR UPDATE SKIP LOCKED``): a relay's turn is
  a transaction that locks the lease row with ``FOR UPDATE SKIP LOCKED`` (another relay finding
  it locked skips its turn at once), then locks the due rows the same way, sends them, marks
  them sent, and commits. A relay that crashes mid-turn loses its lock with its connection.
  An event is sent twice only if the process dies between the service's reply and the commit.
* SQLite (no row locks): a turn is claimed by an ``UPDATE`` of the lease row (owner and an
  expiry ``LEASE_SECONDS`` ahead), rows are sent and marked in short transactions of their
  own (a long transaction would block every writer of the database during a request), and the
  lease is released. A crashed relay's lease expires; a relay stalled longer than the lease
  (far beyond the request timeouts) could have its rows sent again by another one.

Either way delivery is at-least-once, and history events carry a stable id receivers use to
drop a duplicate.

Failures: a refused request (4xx) marks its rows ``failed`` at once; a retryable one (outage,
429, 5xx) leaves them ``pending`` with a later ``next_attempt_at`` and ends the turn, so that
nothing behind them overtakes them; after the durable retries (``dispatch.retry``) they turn
``failed``. Every failed row is logged and announced by ``dispatch_failed``, and listed on the
admin page. Rows that were sent are kept for the alias's history window, then purged.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.utils import timezone

from pushbridge.backends import get_backend
from pushbridge.dispatch import failures, retry
from pushbridge.dispatch.durable import wire_event
from pushbridge.dispatch.grouping import send_request
from pushbridge.errors import BackendError, PushbridgeError
from pushbridge.events import Event
from pushbridge.models import StoredEvent
from pushbridge.relay_lease import Lease
from pushbridge.relay_purge import purge
from pushbridge.relay_statements import mark_rows

logger = logging.getLogger("pushbridge.relay")

#: Rows taken per turn (sent in requests of the backend's batch size).
BATCH_ROWS = 100
#: The in-process relay looks for rows left by other processes this often.
IN_PROCESS_POLL_SECONDS = 5.0
#: Commits closer together than this (on average) are gathered into one turn: a relay woken by
#: each commit of a busy writer would otherwise take a turn (a claim, a select, a request and a
#: commit) for every one or two events. Slower traffic (100 events/s is one per 10 ms) never waits.
LINGER_SECONDS = 0.003
#: A lingering relay waits at most this many linger times for a turn to fill.
LINGER_ROUNDS = 4
#: A relay that found another's turn under way looks again this soon.
BUSY_RETRY_SECONDS = 0.02
#: After the database refused a turn as locked, the relay looks again this soon.
LOCKED_RETRY_SECONDS = 0.1
#: Purging runs at most this often per relay.
PURGE_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class Turn:
    """What one turn did: ``sent``/``failed`` rows, ``busy`` (another relay's turn), ``wait`` seconds."""

    sent: int = 0
    failed: int = 0
    busy: bool = False
    idle: bool = False
    wait: float | None = None


class Relay:
    """Sends the pending rows of one database; ``turn()`` once, or ``run()`` until stopped."""

    def __init__(self, database: str = DEFAULT_DB_ALIAS, *, batch: int = BATCH_ROWS) -> None:
        self.database = database
        self.batch = batch
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = threading.Event()
        self._last_wake = time.monotonic()
        self._wake_gap = 1.0  # seconds between wake-ups, a moving average ("no traffic yet")
        self._woken = 0  # wake-ups since the last turn began
        self._relaxed: object = None  # the database connection whose commits were relaxed
        self._last_purge = 0.0
        self.lease = Lease(database, self.owner)
        self._marks: list[tuple[list[StoredEvent], dict[str, object]]] = []

    # -- one turn ----------------------------------------------------------------------------

    def turn(self) -> Turn:
        """Send the rows that are due, if it is this relay's turn."""
        with self.lease.turn() as mine:
            if not mine:
                return Turn(busy=True)
            rows = self._due_rows()
            if not rows:
                return Turn(idle=True)
            head = rows[0].next_attempt_at
            now = timezone.now()
            if head is not None and head > now:
                return Turn(wait=(head - now).total_seconds())
            result = self._send(rows)
            self._write_marks()
            return result

    def _write_marks(self) -> None:
        """Record the turn's outcomes, and on SQLite release the lease, in one transaction.

        One commit per turn instead of one per request and another for the lease: on SQLite
        every commit is a sync to disk, and they were most of a relay turn's cost.
        """
        marks, self._marks = self._marks, []
        # No savepoint inside the PostgreSQL turn's transaction: two round trips fewer a turn.
        with transaction.atomic(using=self.database, savepoint=False):
            for rows, fields in marks:
                mark_rows(self.database, [row.pk for row in rows], fields)
            if self.lease.holding:
                self.lease.release()

    def _due_rows(self) -> list[StoredEvent]:
        rows = StoredEvent.objects.using(self.database).filter(status=StoredEvent.PENDING).order_by("id")
        if connections[self.database].features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        return list(rows[: self.batch])

    def _send(self, rows: list[StoredEvent]) -> Turn:
        sent = failed = 0
        for request in _requests(rows):
            alias = request[0].alias
            try:
                backend = get_backend(alias)
                events = [wire_event(row) for row in request]
                send_request(backend, events)
            except BackendError as exc:
                policy = retry.policy_for(backend.config, retry.DURABLE)
                attempts = request[0].attempts
                if policy.should_retry(exc, attempts):
                    delay = policy.delay(attempts, exc.retry_after)
                    self._mark_retry(request, exc, delay)
                    logger.warning("pushbridge relay: %s; %d event(s) retried in %.2f s", exc, len(request), delay)
                    return Turn(sent=sent, failed=failed, wait=delay)
                self._mark_failed(request, exc)
                failed += len(request)
            except (PushbridgeError, ValueError, TypeError) as exc:  # unknown alias, a row that no longer fits
                self._mark_failed(request, exc)
                failed += len(request)
            else:
                self._update(request, status=StoredEvent.SENT, sent_at=timezone.now(), error="")
                sent += len(request)
        return Turn(sent=sent, failed=failed)

    def _update(self, rows: list[StoredEvent], **fields: object) -> None:
        """Remember an outcome; :meth:`_write_marks` writes them all at the end of the turn."""
        self._marks.append((rows, fields))

    def _mark_retry(self, rows: list[StoredEvent], exc: BaseException, delay: float) -> None:
        for row in rows:
            row.attempts += 1
        self._update(
            rows,
            attempts=rows[0].attempts,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            error=str(exc)[:2000],
        )

    def _mark_failed(self, rows: list[StoredEvent], exc: BaseException) -> None:
        self._update(rows, status=StoredEvent.FAILED, error=str(exc)[:2000])
        failures.announce(rows[0].alias, [_plain_event(row) for row in rows], exc)

    # -- purging -----------------------------------------------------------------------------

    def purge(self, now: datetime | None = None) -> int:
        """Delete sent rows older than their alias's history window, failed ones after a week."""
        return purge(self.database, now)

    def purge_if_due(self) -> None:
        if time.monotonic() - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = time.monotonic()
        try:
            self.purge()
        except Exception:
            logger.exception("pushbridge relay: purging failed")

    # -- running -----------------------------------------------------------------------------

    def drain(self) -> float | None:
        """Take turns until nothing is due; return how long to wait before looking again."""
        while True:
            result = self.turn()
            if result.busy:
                return BUSY_RETRY_SECONDS
            if result.wait is not None:
                return result.wait
            if result.idle or result.sent + result.failed < self.batch:
                # A turn that took fewer rows than it could found the queue empty: rows
                # committed since then have woken this relay again (the wake-up is kept), so
                # an extra turn to learn "nothing left" would only cost commits.
                return None

    def wake(self) -> None:
        """Look for rows now (a transaction that wrote some has committed)."""
        now = time.monotonic()
        # Unlocked, as in the background sender: a lost update only nudges an estimate.
        self._wake_gap += (now - self._last_wake - self._wake_gap) * 0.2
        self._last_wake = now
        self._woken += 1
        self._wake.set()

    def _linger(self, stop: threading.Event) -> None:
        """While commits arrive faster than one per ``LINGER_SECONDS``, let a turn fill first.

        Sleeping rather than waiting on the wake-up event: commits wake nobody meanwhile, and
        the writer keeps the core (in-process, the relay shares the GIL with it).
        """
        missing = self.batch - self._woken
        if self._wake_gap < LINGER_SECONDS and missing > 0:
            stop.wait(min(LINGER_SECONDS * LINGER_ROUNDS, self._wake_gap * missing))
        self._woken = 0

    def _relax_commits(self) -> None:
        """Let this relay's own commits skip the wait for the disk (its connection only).

        What a relay commits is delivery bookkeeping: the lease, rows marked sent or failed,
        retry times, purges. A power loss or crash that loses the last of these loses no event
        and corrupts nothing: the rows are pending again and sent again (at least once; the id
        lets receivers drop the repeat), or purged again. The writers' commits, the events
        themselves, keep the database's durability. On SQLite, only in WAL mode (where
        ``synchronous=NORMAL`` cannot corrupt the file); on PostgreSQL, ``synchronous_commit``
        off for this session. A synced commit cost a SQLite relay turn several milliseconds.
        """
        connection = connections[self.database]
        connection.ensure_connection()
        if connection.connection is self._relaxed:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA journal_mode")
                if str(cursor.fetchone()[0]).lower() == "wal":
                    cursor.execute("PRAGMA synchronous = NORMAL")
            elif connection.vendor == "postgresql":
                cursor.execute("SET synchronous_commit TO off")
        self._relaxed = connection.connection

    def run(self, stop: threading.Event, poll: float) -> None:
        """Send until ``stop`` is set: on every wake-up, and every ``poll`` seconds."""
        while not stop.is_set():
            self._wake.clear()
            self._linger(stop)
            wait: float | None = poll
            try:
                self._relax_commits()
                wait = self.drain()
                self.purge_if_due()
            except OperationalError as exc:
                # SQLite's "database is locked" after its busy timeout: a writer held the lock
                # that long. Outcomes not written are sent again (at least once); look again soon.
                logger.warning("pushbridge relay: %s; trying again in %.1f s", exc, LOCKED_RETRY_SECONDS)
                connections[self.database].close()
                wait = LOCKED_RETRY_SECONDS
            except Exception:
                logger.exception("pushbridge relay: a turn failed; trying again in %.1f s", poll)
                connections[self.database].close()
                wait = poll
            self._wake.wait(poll if wait is None else min(wait, poll))
        connections[self.database].close()


def _requests(rows: list[StoredEvent]) -> Iterator[list[StoredEvent]]:
    """Rows in order, grouped as the backend sends them: one alias per request, batch size kept."""
    group: list[StoredEvent] = []
    for row in rows:
        if group and (row.alias != group[0].alias or len(row.channels) > 1 or len(group[0].channels) > 1):
            yield group
            group = []
        group.append(row)
        if len(group) >= _batch_size(row.alias):
            yield group
            group = []
    if group:
        yield group


def _batch_size(alias: str) -> int:
    try:
        return get_backend(alias).limits.max_batch_size
    except PushbridgeError:
        return 1


def _plain_event(row: StoredEvent) -> Event:
    return Event(list(row.channels), row.name, row.data, socket_id=row.socket_id or None)


# -- the in-process relay -------------------------------------------------------------------------

_lock = threading.Lock()
#: database -> (relay, its thread, the event that stops it)
_relays: dict[str, tuple[Relay, threading.Thread, threading.Event]] = {}


def in_process_relay(database: str = DEFAULT_DB_ALIAS) -> Relay:
    """This process's relay thread for ``database``, started on first use."""
    running = _relays.get(database)
    if running is None:
        with _lock:
            running = _relays.get(database)
            if running is None:
                relay, stop = Relay(database), threading.Event()
                thread = threading.Thread(
                    target=relay.run,
                    args=(stop, IN_PROCESS_POLL_SECONDS),
                    name=f"pushbridge-relay-{database}",
                    daemon=True,
                )
                thread.start()
                running = _relays[database] = (relay, thread, stop)
    return running[0]


def stop_in_process(timeout: float = 10.0) -> None:
    """Stop this process's relay threads (they close their database connections)."""
    with _lock:
        running = list(_relays.values())
        _relays.clear()
    for relay, thread, stop in running:
        stop.set()
        relay.wake()
        thread.join(timeout)


def after_commit(database: str = DEFAULT_DB_ALIAS) -> None:
    """``on_commit`` hook of every transaction that wrote rows: wake this process's relay.

    ``PUSHBRIDGE_RELAY_IN_PROCESS = False`` leaves sending to ``manage.py pushbridge_relay``.
    """
    from django.conf import settings

    if getattr(settings, "PUSHBRIDGE_RELAY_IN_PROCESS", True):
        in_process_relay(database).wake()


def _forget_after_fork() -> None:
    global _lock
    _relays.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
