"""How events share HTTP requests: the one grouping every dispatch mode uses."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pushbridge.backends import BaseBackend
from pushbridge.events import Event


def requests_for(events: Sequence[Event], batch_size: int) -> Iterator[list[Event]]:
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
    """Send one group made by :func:`requests_for` ONCE: one event alone, or a batch."""
    if len(request) == 1:
        return backend.trigger(request[0])
    return backend.trigger_batch(request)
