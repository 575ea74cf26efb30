"""The fake for test suites: the ``django.core.mail.outbox`` of pushbridge.

Every event this backend receives is appended to ``pushbridge.outbox``, one
:class:`OutboxEvent` per channel, so a test reads what was pushed::

    pushbridge.trigger("orders", "order-paid", {"id": 7})
    assert pushbridge.outbox[-1].data == {"id": 7}

Tests clear it with ``pushbridge.outbox.clear()`` (or assign a new list, as with mail.outbox:
the backend always appends to whatever ``pushbridge.outbox`` is at that moment).

Code in the same process may also subscribe to channels and receive events as they are
triggered (:func:`subscribe`), which lets a test or a demo script watch events without a server.
The backend enforces the same limits as hosted Pusher by default, so a payload that Pusher
would refuse also fails in tests. Everything here is thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pushbridge.backends.base import BaseBackend
from pushbridge.events import Event, decode_data
from pushbridge.limits import is_presence

#: Guards ``pushbridge.outbox`` and the subscriber table.
_lock = threading.RLock()
#: channel name (or None for every channel) -> callbacks
_subscribers: dict[str | None, list[Callable[[OutboxEvent], None]]] = {}


@dataclass(frozen=True)
class OutboxEvent:
    """One event as delivered to one channel."""

    channel: str
    event: str
    #: The payload decoded from JSON (the text itself when it was not JSON).
    data: Any
    #: The exact text that would have travelled.
    raw_data: str = field(repr=False)
    socket_id: str | None = None
    #: The alias of the backend it was sent through.
    using: str = "default"


def subscribe(channel: str | None, callback: Callable[[OutboxEvent], None]) -> Callable[[], None]:
    """Call ``callback`` for each event on ``channel`` (``None``: every channel).

    Returns a function that removes the subscription. Callbacks run on the thread that
    triggered, after the event is in the outbox; an exception in one propagates to it.
    """
    with _lock:
        _subscribers.setdefault(channel, []).append(callback)

    def unsubscribe() -> None:
        with _lock:
            callbacks = _subscribers.get(channel, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                _subscribers.pop(channel, None)

    return unsubscribe


def _subscribed_channels() -> list[str]:
    with _lock:
        return [name for name in _subscribers if name is not None]


class MemoryBackend(BaseBackend):
    """Keep events in ``pushbridge.outbox`` and hand them to in-process subscribers."""

    default_settings = {"APP_ID": "memory", "KEY": "memory-key", "SECRET": "memory-secret"}
    has_server = False

    def trigger(self, event: Event) -> dict[str, Any]:
        import pushbridge

        records = [
            OutboxEvent(
                channel=channel,
                event=event.name,
                data=decode_data(event.data),
                raw_data=event.data,
                socket_id=event.socket_id,
                using=self.alias,
            )
            for channel in event.channels
        ]
        with _lock:
            pushbridge.outbox.extend(records)
            listeners = [
                (record, list(_subscribers.get(record.channel, ())) + list(_subscribers.get(None, ())))
                for record in records
            ]
        for record, callbacks in listeners:
            for callback in callbacks:
                callback(record)
        return {}

    def channels(self, prefix: str | None = None, info: Iterable[str] | str = ()) -> dict[str, dict[str, Any]]:
        """Channels with an in-process subscriber count as occupied."""
        return {name: {} for name in _subscribed_channels() if not prefix or name.startswith(prefix)}

    def channel_info(self, name: str, info: Iterable[str] | str = ()) -> dict[str, Any]:
        self.limits.check_channel(name)
        with _lock:
            count = len(_subscribers.get(name, ()))
        reply: dict[str, Any] = {"occupied": count > 0}
        wanted = {info} if isinstance(info, str) else set(info)
        if "subscription_count" in wanted and not is_presence(name):
            reply["subscription_count"] = count
        return reply

    def channel_users(self, name: str) -> list[str]:
        """In-process subscribers are not users: always empty."""
        self.limits.check_channel(name)
        return []

    def terminate_user_connections(self, user_id: str) -> None:
        """Nothing to terminate in memory; the user id is still validated."""
        self.limits.check_user_id(user_id)
