"""The :class:`Event` value type: validated and JSON-encoded once, where it is made.

An event is one ``name`` with one ``data`` payload, published to one or more channels, possibly
excluding one connection (``socket_id``). Making an :class:`Event` checks everything that does
not depend on the backend (names, characters, the channel count, socket id, JSON encoding) and
encodes ``data`` to the exact text that will travel; the backend later checks its own limits
(payload size, name lengths) against that text without encoding again.

``data`` is encoded with Django's ``DjangoJSONEncoder`` (datetimes, ``Decimal``, ``UUID``, lazy
translation strings) unless it is already a ``str``, which is sent as is. That encoder class is
the only thing this module takes from Django, imported on first use: importing it pulls in
``django.db.models``, which a script that only triggers should not pay for at import time.
"""

from __future__ import annotations

import json
from typing import Any

from pushbridge.errors import NotSerializable
from pushbridge.limits import PUSHER_LIMITS, SERVER_TO_USER_PREFIX, Limits, check_socket_id

Channels = str | list[str] | tuple[str, ...]

# What every backend agrees on (characters, reserved prefixes, 100 channels per trigger). The
# lengths and sizes that differ between Pusher and Soketi are checked by ``Event.check``.
SHAPE_ONLY = PUSHER_LIMITS.replace(max_channel_name_length=10**6, max_event_name_length=10**6)


def django_encoder() -> type[json.JSONEncoder]:
    """Django's JSON encoder, imported when first needed."""
    from django.core.serializers.json import DjangoJSONEncoder

    return DjangoJSONEncoder


def encode_data(data: Any, encoder: type[json.JSONEncoder] | None = None) -> str:
    """Return the wire text of ``data``: a ``str`` as is, anything else as compact JSON.

    NaN and infinities are refused: they are not JSON, and browsers cannot parse them.
    """
    if isinstance(data, str):
        return data
    try:
        return json.dumps(
            data, cls=encoder or django_encoder(), separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise NotSerializable(
            f"Event data of type {type(data).__name__} cannot be encoded as JSON ({exc}). "
            "Pass JSON-serializable values (dict, list, str, finite numbers, datetimes, Decimal, UUID) "
            "or an already encoded str."
        ) from None


def decode_data(text: str) -> Any:
    """Return ``text`` decoded from JSON, or the text itself if it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class Event:
    """An event ready to publish: channels, name and encoded data, already validated.

    >>> Event("orders", "order-paid", {"id": 7}).data
    '{"id":7}'

    Events compare equal when their channels, name, data and socket id are equal.
    """

    __slots__ = ("channels", "data", "name", "socket_id")

    channels: tuple[str, ...]
    name: str
    data: str
    socket_id: str | None

    def __init__(
        self,
        channels: Channels,
        name: str,
        data: Any = None,
        *,
        socket_id: str | None = None,
        limits: Limits = SHAPE_ONLY,
        encoder: type[json.JSONEncoder] | None = None,
    ) -> None:
        object.__setattr__(self, "channels", limits.check_channels(channels))
        object.__setattr__(self, "name", limits.check_event_name(name))
        object.__setattr__(self, "socket_id", None if socket_id is None else check_socket_id(socket_id))
        object.__setattr__(self, "data", encode_data(data, encoder))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Event is immutable; cannot set {name!r}.")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle and copy by value (for task queues, caches, signal receivers): rebuilding
        # from the encoded data re-checks nothing and encodes nothing.
        return (_restore, (self.channels, self.name, self.data, self.socket_id))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        data = self.data if len(self.data) <= 60 else self.data[:57] + "..."
        socket = f", socket_id={self.socket_id!r}" if self.socket_id else ""
        return f"Event(channels={list(self.channels)!r}, name={self.name!r}, data={data!r}{socket})"

    def _key(self) -> tuple[tuple[str, ...], str, str, str | None]:
        return (self.channels, self.name, self.data, self.socket_id)

    @property
    def decoded_data(self) -> Any:
        """The data decoded back from JSON (the text itself if it is not JSON)."""
        return decode_data(self.data)

    def check(self, limits: Limits) -> Event:
        """Check this event against a backend's ``limits``; return it unchanged if it fits."""
        limits.check_channels(self.channels)
        limits.check_event_name(self.name)
        for channel in self.channels:
            if channel.startswith(SERVER_TO_USER_PREFIX):
                limits.check_user_id(channel[len(SERVER_TO_USER_PREFIX) :])
        limits.check_payload(self.data, channel=self.channels[0] if len(self.channels) == 1 else None)
        return self


def _restore(channels: tuple[str, ...], name: str, data: str, socket_id: str | None) -> Event:
    """Rebuild an event from its already checked and encoded fields."""
    event = object.__new__(Event)
    for field, value in (("channels", channels), ("name", name), ("data", data), ("socket_id", socket_id)):
        object.__setattr__(event, field, value)
    return event
