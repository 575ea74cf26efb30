"""Writing events to pushbridge's table in the caller's transaction.

``"DISPATCH": "durable"``: every event becomes a row (status ``pending``) in the same
transaction as the data it describes, so it exists if and only if that transaction commits; a
relay (:mod:`pushbridge.relay`), woken on commit, sends it. A crash at any moment after the
commit loses nothing: the row waits for the next relay.

Other modes write rows only for channels with history (status ``direct``): the position must
be taken in the transaction (:mod:`pushbridge.positions`), and the history endpoint serves the
rows. Those events then leave after the commit through the alias's own mode, wrapped with
their id and position; inside a transaction they cannot leave earlier (``on_commit=False`` is
refused), because an uncommitted position may yet be rolled back and given to another event.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, transaction

from pushbridge.backends import BaseBackend
from pushbridge.dispatch import commit, retry
from pushbridge.dispatch.inserts import insert_rows
from pushbridge.errors import ConfigurationError, ValidationError
from pushbridge.events import Event
from pushbridge.history import channel_has_history, envelope, has_history

if TYPE_CHECKING:
    from pushbridge.models import StoredEvent


def database() -> str:
    """The database pushbridge's rows live in (``PUSHBRIDGE_DATABASE``, default ``"default"``).

    The caller's transaction on that database is the one joined: events are atomic with the
    data saved through the same database.
    """
    from django.conf import settings

    return str(getattr(settings, "PUSHBRIDGE_DATABASE", DEFAULT_DB_ALIAS))


def require_app(config_alias: str) -> None:
    """The tables exist only when ``"pushbridge"`` is an installed app (and migrated)."""
    if not apps.is_installed("pushbridge"):
        raise ConfigurationError(
            f"PUSHBRIDGE[{config_alias!r}] needs pushbridge's tables (durable dispatch or HISTORY): "
            'add "pushbridge" to INSTALLED_APPS and run manage.py migrate.'
        )


def store(events: list[Event], backend: BaseBackend, *, on_commit: bool | None = None) -> list[dict[str, Any]]:
    """Write ``events`` in the caller's transaction (or one of their own); see the module doc."""
    config = backend.config
    require_app(config.alias)
    durable = config.dispatch == retry.DURABLE
    db = database()
    in_transaction = transaction.get_connection(db).in_atomic_block
    if on_commit is False and in_transaction and not durable:
        raise ValidationError(
            f"Events on channels with history (PUSHBRIDGE[{config.alias!r}]['HISTORY']) leave after the "
            "commit; on_commit=False cannot apply inside a transaction."
        )
    with _joined(db, positions=has_history(config, events)):
        pairs = [pair for event in events for pair in rows_for(event, backend, durable=durable)]
        insert_rows([row for row, _ in pairs if row is not None], db)
        _wake_relay_on_commit(db)
    if durable:
        return []
    wire = [event for _, event in pairs]
    from pushbridge.dispatch import deliver

    if in_transaction:
        commit.after_commit(db, lambda: deliver(wire, backend), alias=config.alias, events=wire)
        return []
    return deliver(wire, backend)


def rows_for(event: Event, backend: BaseBackend, *, durable: bool) -> list[tuple[StoredEvent | None, Event]]:
    """The rows to write for ``event`` and the event each one sends.

    One row per history channel (each has its own position, so its own wire data), and, for
    the other channels together, one row in durable mode (none otherwise: nothing to keep).
    """
    from pushbridge.models import StoredEvent
    from pushbridge.positions import next_position

    config = backend.config
    history = [channel for channel in event.channels if channel_has_history(config, channel)]
    plain = [channel for channel in event.channels if channel not in history]
    socket_id = event.socket_id or ""
    made: list[tuple[StoredEvent | None, Event]] = []
    if plain:
        wire = event if not history else Event(plain, event.name, event.data, socket_id=event.socket_id)
        row = None
        if durable:
            status = StoredEvent.PENDING
            row = StoredEvent(
                alias=config.alias, channels=plain, name=event.name, data=event.data, socket_id=socket_id, status=status
            )
        made.append((row, wire))
    for channel in history:
        row = StoredEvent(
            alias=config.alias,
            channels=[channel],
            channel=channel,
            position=next_position(channel, database()),
            name=event.name,
            data=event.data,
            socket_id=socket_id,
            status=StoredEvent.PENDING if durable else StoredEvent.DIRECT,
        )
        made.append((row, backend.check(wire_event(row))))
    return made


def wire_event(row: StoredEvent) -> Event:
    """What a row sends: its data, wrapped with id and position when it has a position."""
    data = row.data if row.position is None else envelope(row.uid, row.position, row.data)
    return Event(list(row.channels), row.name, data, socket_id=row.socket_id or None)


def write_rows(event: Event, backend: BaseBackend) -> list[StoredEvent]:
    """Write the rows of one event in the current transaction (model auto-push's final state)."""
    require_app(backend.alias)
    durable = backend.config.dispatch == retry.DURABLE
    db = database()
    with _joined(db, positions=has_history(backend.config, [event])):
        rows = [row for row, _ in rows_for(event, backend, durable=durable) if row is not None]
        insert_rows(rows, db)
    if rows:
        _wake_relay_on_commit(db)
    return rows


def _joined(db: str, *, positions: bool) -> transaction.Atomic:
    """The transaction rows are written in: the caller's, or one of their own (an autocommit save).

    Inside the caller's transaction no savepoint is taken (two statements fewer per event, two
    round trips on PostgreSQL) unless ``positions`` are taken. Without a savepoint, an error
    while writing marks the caller's whole transaction for rollback, which is what "the event
    exists if and only if the transaction commits" asks: the caller cannot catch the error and
    commit without the event. With positions, checking a wrapped event can still refuse it (too
    large once wrapped) after its position was taken; the savepoint hands the position back, so
    that the caller may go on, as it may after any ``ValidationError`` of ``trigger()``.
    """
    return transaction.atomic(using=db, savepoint=positions)


def _wake_relay_on_commit(db: str) -> None:
    from pushbridge import relay

    transaction.on_commit(partial(relay.after_commit, db), using=db, robust=True)


def rewrite_rows(rows: Sequence[StoredEvent], event: Event, backend: BaseBackend) -> list[StoredEvent] | None:
    """Give rows written earlier in this transaction the event's final state, in place.

    In place, so that they keep their positions (no gap a reader would take for a loss) and
    their place in the relay's order. Returns copies (the earlier save's entry keeps its own
    rows, which are right again if this save's savepoint rolls back), or None, with nothing
    changed, when the event no longer goes to the same channels: then the caller replaces them.
    """
    from pushbridge.models import StoredEvent

    config = backend.config
    history = [channel for channel in event.channels if channel_has_history(config, channel)]
    plain = [channel for channel in event.channels if channel not in history]
    durable = config.dispatch == retry.DURABLE
    wanted = ([(tuple(plain), "")] if plain and durable else []) + [((channel,), channel) for channel in history]
    if [(tuple(row.channels), row.channel) for row in rows] != wanted:
        return None
    rewritten = [copy.copy(row) for row in rows]
    for row in rewritten:
        row.name, row.data, row.socket_id = event.name, event.data, event.socket_id or ""
        backend.check(wire_event(row))
    for row in rewritten:
        StoredEvent.objects.using(database()).filter(pk=row.pk).update(
            name=row.name, data=row.data, socket_id=row.socket_id
        )
    return rewritten


def delete_rows(rows: Sequence[StoredEvent]) -> None:
    """Take back rows written earlier in the same transaction (a superseded state of a model row)."""
    from pushbridge.models import StoredEvent

    if rows:
        StoredEvent.objects.using(database()).filter(pk__in=[row.pk for row in rows]).delete()


def committed_wire_events(event: Event, rows: Sequence[StoredEvent], backend: BaseBackend) -> list[Event]:
    """What a committed event sends in sync/background mode: its plain channels as they are, and
    each history row wrapped (durable mode sends nothing itself: the relay does)."""
    plain = [channel for channel in event.channels if not channel_has_history(backend.config, channel)]
    wire = [Event(plain, event.name, event.data, socket_id=event.socket_id)] if plain else []
    return wire + [wire_event(row) for row in rows]
