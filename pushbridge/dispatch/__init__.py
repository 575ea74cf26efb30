"""WHEN an event leaves, chosen per alias by its ``DISPATCH`` key; one module per mode.

``"sync"`` (default, :mod:`.sync`)
    ``trigger()`` sends before it returns; errors raise into the caller.
``"background"`` (:mod:`.background`)
    ``trigger()`` only queues; a sender thread batches and retries.
``"durable"`` (:mod:`.durable`)
    ``trigger()`` writes the event to pushbridge's table in the caller's transaction; a relay
    (:mod:`pushbridge.relay`) sends what committed.

In sync and background modes a send made inside a transaction waits for its commit unless
``on_commit=False`` (:mod:`.commit`). Retries and backoff are decided by :mod:`.retry` for all
three. Events of channels with history (``HISTORY``) are written to the table in every mode,
because their positions are assigned there (:mod:`pushbridge.history`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pushbridge.backends import BaseBackend
from pushbridge.dispatch import commit, retry, sync
from pushbridge.dispatch.background import BackgroundSender, Stats
from pushbridge.dispatch.grouping import requests_for, send_request
from pushbridge.dispatch.muting import is_muted, muted
from pushbridge.dispatch.senders import flush, sender_for, shutdown, stats
from pushbridge.events import Event
from pushbridge.history import has_history

SYNC, BACKGROUND, DURABLE = retry.SYNC, retry.BACKGROUND, retry.DURABLE
MODES = (SYNC, BACKGROUND, DURABLE)


def send(event: Event, backend: BaseBackend, *, on_commit: bool | None = None) -> dict[str, Any]:
    """Send a checked event through ``backend`` as its alias's mode says."""
    replies = send_batch([event], backend, on_commit=on_commit)
    return replies[0] if replies else {}


def send_batch(events: Sequence[Event], backend: BaseBackend, *, on_commit: bool | None = None) -> list[dict[str, Any]]:
    """Send checked events in order, in as few requests as :func:`requests_for` makes.

    Returns the service's replies when they were sent before returning (sync mode, no
    transaction), else ``[]``.
    """
    if is_muted() or not events:
        return []
    config = backend.config
    if config.dispatch == DURABLE or has_history(config, events):
        from pushbridge.dispatch import durable

        return durable.store(list(events), backend, on_commit=on_commit)
    database = commit.open_transaction(on_commit)
    if database is not None:
        batch = list(events)
        commit.after_commit(database, lambda: deliver(batch, backend), alias=backend.alias, events=batch)
        return []
    return deliver(events, backend)


def deliver(events: Sequence[Event], backend: BaseBackend) -> list[dict[str, Any]]:
    """Hand events to the sync or background path now (the durable relay uses neither)."""
    if backend.config.dispatch == BACKGROUND:
        sender = sender_for(backend)
        for event in events:
            sender.enqueue(event)
        return []
    return sync.send(events, backend)


__all__ = [
    "BACKGROUND",
    "DURABLE",
    "MODES",
    "SYNC",
    "BackgroundSender",
    "Stats",
    "deliver",
    "flush",
    "is_muted",
    "muted",
    "requests_for",
    "send",
    "send_batch",
    "send_request",
    "shutdown",
    "stats",
]
