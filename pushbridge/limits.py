"""The one table of protocol limits, and the checks that enforce them.

Every number that bounds an event, a name or an id lives in :class:`Limits`. The client side
(``trigger()`` and the backends) and the embedded server (``pushbridge.engine``) both check against
it, and every error names the offending value and the limit it crossed.

The defaults are hosted Pusher's published limits; :data:`SOKETI_LIMITS` relaxes the ones
Soketi relaxes. Sources: Pusher's channel naming rules
(https://pusher.com/docs/channels/using_channels/channels/#channel-naming-conventions), its
HTTP API reference (https://pusher.com/docs/channels/library_auth_reference/rest-api/) and its
limits (https://pusher.com/docs/channels/library_auth_reference/limits/).

This module imports nothing from Django and does no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from pushbridge.errors import (
    InvalidChannel,
    InvalidEventName,
    InvalidSocketId,
    InvalidUserId,
    PayloadTooLarge,
    TooManyChannels,
)

# Characters Pusher allows in a channel name. ASCII only: ``\w`` would admit other scripts.
_CHANNEL_CHARS = re.compile(r"[A-Za-z0-9_\-=@,.;]+")
_SOCKET_ID = re.compile(r"[0-9]+\.[0-9]+")

#: Prefixes that only the service itself may use for event names.
RESERVED_EVENT_PREFIXES = ("pusher:", "pusher_internal:")
#: Prefix of events that clients send to each other.
CLIENT_EVENT_PREFIX = "client-"
#: Prefix of the per-user channel that ``send_to_user`` publishes to.
SERVER_TO_USER_PREFIX = "#server-to-user-"
ENCRYPTED_PREFIX = "private-encrypted-"
PRIVATE_PREFIX = "private-"
PRESENCE_PREFIX = "presence-"


@dataclass(frozen=True)
class Limits:
    """Protocol limits of one backend or server. Sizes are in bytes of UTF-8."""

    #: Size of an event's encoded ``data`` (Pusher: 10 KB, HTTP 413 above it).
    max_payload_bytes: int = 10 * 1024
    #: Channels one trigger may name.
    max_channels_per_trigger: int = 100
    #: Events one ``batch_events`` request may carry.
    max_batch_size: int = 10
    #: Length of a channel name, prefix included (Pusher documents 164; the SDK allows 200).
    max_channel_name_length: int = 164
    #: Length of an event name (the SDK and Soketi: 200).
    max_event_name_length: int = 200
    #: Length of a user id (presence and signin).
    max_user_id_length: int = 128
    #: Members of one presence channel.
    max_presence_members: int = 100
    #: Size of one presence member's ``user_info`` JSON.
    max_presence_member_bytes: int = 1024
    #: Client events one connection may send per second.
    max_client_events_per_second: int = 10
    #: Channels one connection may be subscribed to at once (the embedded server answers
    #: ``pusher:subscription_error`` ``LimitReached`` beyond it). Pusher documents no such limit;
    #: this bound only stops one connection from growing the server's state without end.
    max_channels_per_connection: int = 1000
    #: Frames of any kind one connection may send per second, on average (embedded server).
    max_messages_per_second: int = 100
    #: Frames one connection may send in a burst above that rate: enough for a client that
    #: re-subscribes to ``max_channels_per_connection`` channels at once after a reconnect.
    max_messages_burst: int = 1200
    #: Frames in a row refused for the rate above before the connection is closed with 4100.
    max_messages_refused: int = 100

    def replace(self, **changes: int) -> Limits:
        """Return a copy with some limits changed (a setting overrides one limit)."""
        return dataclasses.replace(self, **changes)

    # -- names and ids -------------------------------------------------------------------

    def check_channel(self, name: object) -> str:
        """Return ``name`` if it is a valid channel name, else raise :class:`InvalidChannel`."""
        if not isinstance(name, str):
            raise InvalidChannel(f"Channel name must be a string, got {type(name).__name__}: {name!r}.")
        if not name:
            raise InvalidChannel("Channel name must not be empty.")
        if len(name) > self.max_channel_name_length:
            raise InvalidChannel(
                f"Channel name {_clip(name)!r} is {len(name)} characters long; "
                f"the limit is {self.max_channel_name_length}."
            )
        body = name[len(SERVER_TO_USER_PREFIX) :] if name.startswith(SERVER_TO_USER_PREFIX) else name
        if not _CHANNEL_CHARS.fullmatch(body):
            bad = sorted({c for c in body if not _CHANNEL_CHARS.fullmatch(c)})
            raise InvalidChannel(
                f"Channel name {_clip(name)!r} contains {''.join(bad)!r}; channel names may only "
                "contain A-Z, a-z, 0-9 and _ - = @ , . ;"
            )
        return name

    def check_channels(self, channels: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """Normalise one channel or a list into a tuple of valid, distinct names, order kept."""
        if isinstance(channels, str):
            names: tuple[object, ...] = (channels,)
        elif isinstance(channels, (list, tuple)):
            names = tuple(channels)
        else:
            raise InvalidChannel(
                f"Channels must be a name or a list of names, got {type(channels).__name__}: {channels!r}."
            )
        if not names:
            raise InvalidChannel("At least one channel is required.")
        if len(names) > self.max_channels_per_trigger:
            raise TooManyChannels(
                f"{len(names)} channels given; one trigger may name at most {self.max_channels_per_trigger}."
            )
        unique = tuple(dict.fromkeys(self.check_channel(name) for name in names))
        if len(unique) > 1 and any(is_encrypted(name) for name in unique):
            encrypted = next(name for name in unique if is_encrypted(name))
            raise InvalidChannel(
                f"Encrypted channel {encrypted!r} cannot share a trigger with other channels: "
                "each encrypted channel has its own key, so trigger it on its own."
            )
        return unique

    def check_event_name(self, name: object) -> str:
        """Return ``name`` if a server may publish it, else raise :class:`InvalidEventName`."""
        if not isinstance(name, str):
            raise InvalidEventName(f"Event name must be a string, got {type(name).__name__}: {name!r}.")
        if not name:
            raise InvalidEventName("Event name must not be empty.")
        if len(name) > self.max_event_name_length:
            raise InvalidEventName(
                f"Event name {_clip(name)!r} is {len(name)} characters long; the limit is {self.max_event_name_length}."
            )
        for prefix in RESERVED_EVENT_PREFIXES:
            if name.startswith(prefix):
                raise InvalidEventName(
                    f"Event name {name!r} uses the prefix {prefix!r}, which is reserved to the service."
                )
        return name

    def check_user_id(self, user_id: object) -> str:
        """Return ``user_id`` as text if it can name a user, else raise :class:`InvalidUserId`.

        Integers are accepted and turned into text, as Pusher clients compare ids as strings.
        """
        if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
            raise InvalidUserId(f"User id must be a string or an integer, got {user_id!r}.")
        text = str(user_id)
        if not text:
            raise InvalidUserId("User id must not be empty.")
        if len(text) > self.max_user_id_length:
            raise InvalidUserId(
                f"User id {_clip(text)!r} is {len(text)} characters long; the limit is {self.max_user_id_length}."
            )
        if not _CHANNEL_CHARS.fullmatch(text):
            raise InvalidUserId(
                f"User id {text!r} may only contain A-Z, a-z, 0-9 and _ - = @ , . ; "
                "(it becomes part of the channel name #server-to-user-<id>)."
            )
        return text

    def check_payload(self, data: str, *, channel: str | None = None) -> str:
        """Raise :class:`PayloadTooLarge` if encoded ``data`` is over the payload limit."""
        # Cheap bound first: a UTF-8 character takes at most 4 bytes.
        if len(data) * 4 > self.max_payload_bytes:
            self.check_payload_size(len(data.encode("utf-8")), channel=channel)
        return data

    def check_payload_size(self, size: int, *, channel: str | None = None) -> None:
        """Raise :class:`PayloadTooLarge` if ``size`` bytes of data are over the payload limit."""
        if size > self.max_payload_bytes:
            where = f" for channel {channel!r}" if channel else ""
            raise PayloadTooLarge(
                f"Event data{where} is {size} bytes; the limit is {self.max_payload_bytes} bytes "
                f"({self.max_payload_bytes // 1024} KB)."
            )


def check_socket_id(socket_id: object) -> str:
    """Return ``socket_id`` if it has the form ``123.456``, else raise :class:`InvalidSocketId`."""
    if not isinstance(socket_id, str) or not _SOCKET_ID.fullmatch(socket_id):
        raise InvalidSocketId(
            f"Socket id {socket_id!r} is malformed; it must be two runs of digits joined by a dot, like '1234.5678'."
        )
    return socket_id


def channel_kind(name: str) -> str:
    """Return ``"encrypted"``, ``"private"``, ``"presence"``, ``"user"`` or ``"public"``."""
    if name.startswith(ENCRYPTED_PREFIX):
        return "encrypted"
    if name.startswith(PRIVATE_PREFIX):
        return "private"
    if name.startswith(PRESENCE_PREFIX):
        return "presence"
    if name.startswith(SERVER_TO_USER_PREFIX):
        return "user"
    return "public"


def is_encrypted(name: str) -> bool:
    """True for ``private-encrypted-`` channels, whose payloads are end-to-end encrypted."""
    return name.startswith(ENCRYPTED_PREFIX)


def is_presence(name: str) -> bool:
    """True for ``presence-`` channels, which track their members."""
    return name.startswith(PRESENCE_PREFIX)


def requires_auth(name: str) -> bool:
    """True for channels a client may only join with a signed token."""
    return name.startswith((PRIVATE_PREFIX, PRESENCE_PREFIX))


def is_cache_channel(name: str) -> bool:
    """True for cache channels, which hand the last event to each new subscriber."""
    return name.startswith(("cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-"))


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


#: Hosted Pusher Channels.
PUSHER_LIMITS = Limits()
#: Soketi 1.6 defaults: 100 KB payloads, 200-character channel names.
SOKETI_LIMITS = Limits(max_payload_bytes=100 * 1024, max_channel_name_length=200)
