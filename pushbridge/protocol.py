"""The embedded server's core, sans-I/O: apps, connections, channels, presence, HTTP API.

Nothing here touches a socket, a clock it was not given, an event loop or Django. The I/O
layer (``server.py``) feeds :class:`PusherCore` parsed input -- a connection opened, a text
frame received, a tick of the clock, an HTTP API request -- and executes the outputs it gets
back: frames to send, connections to close, HTTP replies, webhook events to post. Keeping the
rules here means every rule of the protocol can be unit-tested without a network, and the
I/O layer stays a thin loop that can be made fast.

Fan-out is the hot path. A published event is JSON-encoded into its frame once, and a single
:class:`Fanout` output hands that same ``str`` and the tuple of subscribers to the I/O layer,
which writes it to each of them. The core never builds one output per subscriber.

References: ``pusher-protocol.md`` sections 1-3 (wire format, codes, limits), 5 (HTTP API)
and 6 (webhooks); section 11 is the interop checklist this module follows.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, unquote

from pushbridge.errors import InvalidChannel, PayloadTooLarge, SignatureError, ValidationError
from pushbridge.limits import (
    CLIENT_EVENT_PREFIX,
    PUSHER_LIMITS,
    SERVER_TO_USER_PREFIX,
    Limits,
    channel_kind,
    check_socket_id,
    is_cache_channel,
    is_presence,
)
from pushbridge.signing import (
    channel_string_to_sign,
    user_string_to_sign,
    verify_request,
    verify_token,
)

#: Protocol versions the server speaks. pysher announces 6, pusher-js 7.
SUPPORTED_PROTOCOLS = range(4, 8)
#: Seconds of silence after which the server pings a client (announced in the handshake).
DEFAULT_ACTIVITY_TIMEOUT = 120
#: Seconds a pinged client has to say anything before it is closed with 4201.
DEFAULT_PONG_TIMEOUT = 30
#: How long a cache channel keeps its last event (Pusher: up to 30 minutes).
DEFAULT_CACHE_TTL = 30 * 60
#: Seconds during which further ``cache_miss`` webhooks for the same channel are not sent
#: (Pusher de-duplicates them too: a crowd subscribing to an empty channel is one miss).
DEFAULT_CACHE_MISS_WINDOW = 5.0

# Close / error codes (pusher-protocol.md section 2.3). 4000-4099: do not reconnect,
# 4100-4199: reconnect after backing off, 4200-4299: reconnect now, 43xx: error frames only.
APP_NOT_FOUND = 4001
UNSUPPORTED_PROTOCOL = 4007
UNAUTHORIZED = 4009
OVER_CAPACITY = 4100
RECONNECT_NOW = 4200
PONG_NOT_RECEIVED = 4201
CLIENT_EVENT_REJECTED = 4301

_PONG_FRAME = '{"event":"pusher:pong","data":{}}'
_PING_FRAME = '{"event":"pusher:ping","data":{}}'


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)
_SURROGATE = re.compile("[\ud800-\udfff]")


def encode(message: Any) -> str:
    """Encode a frame (or any JSON value) the way Pusher does: compact, non-ASCII kept as is.

    The result always encodes to UTF-8. Text holding a lone surrogate (what ``json.loads``
    makes of a ``"\\ud800"`` escape from a client or the HTTP API) cannot, so such a message
    is encoded with ASCII escapes instead: the value goes out exactly as it came in. NaN and
    the infinities are not JSON and raise ``ValueError`` (input containing them is refused).
    """
    text = _ENCODER.encode(message)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _ASCII_ENCODER.encode(message)
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity, which no JSON peer can read back.
        raise ValueError(f"{text} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def decode(text: str) -> Any:
    """Parse JSON text strictly: ``NaN``, ``Infinity`` and out-of-range numbers are ``ValueError``.

    Python's ``json`` accepts them by default, and relaying them would hand peers invalid JSON.
    """
    return _DECODER.decode(text)


def error_frame(code: int | None, message: str, channel: str | None = None) -> str:
    """Return a ``pusher:error`` frame; ``data`` is an object, as pysher requires."""
    frame: dict[str, Any] = {"event": "pusher:error", "data": {"code": code, "message": message}}
    if channel is not None:
        frame["channel"] = channel
    return encode(frame)


# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AppConfig:
    """One application the server hosts: its credentials and its limits.

    ``max_connections`` of ``None`` means no limit. ``webhooks`` says whether the core should
    emit :class:`WebhookEvent` outputs for this app (the I/O layer knows where to post them).
    """

    app_id: str
    key: str
    secret: str
    limits: Limits = PUSHER_LIMITS
    max_connections: int | None = None
    client_events: bool = True
    webhooks: bool = False
    cache_ttl: float = DEFAULT_CACHE_TTL


# -- outputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Send one text frame to one connection."""

    conn: Connection
    frame: str


@dataclass(frozen=True, slots=True)
class Fanout:
    """Send the same text frame to every connection in ``targets`` except ``exclude``.

    ``targets`` is a snapshot: the I/O layer may close connections while it iterates.
    """

    frame: str
    targets: Sequence[Connection]
    exclude: Connection | None = None


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close a connection with a WebSocket close code.

    The core has already emitted the matching ``pusher:error`` frame (pysher acts only on
    that frame, never on the close code) and forgotten the connection.
    """

    conn: Connection
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer a WebSocket-level ping from ``conn`` with a pong frame carrying ``payload``."""

    conn: Connection
    payload: bytes


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One webhook event (``{"name": "channel_occupied", ...}``) to post for ``app``."""

    app: AppConfig
    event: dict[str, Any]


#: Everything the core can ask the I/O layer to do.
Output: TypeAlias = SendFrame | Fanout | CloseConnection | WebhookEvent | Pong


@dataclass
class HttpReply:
    """The answer to an HTTP API request, plus what publishing it set in motion."""

    status: int
    body: dict[str, Any]
    outputs: list[Output] = field(default_factory=list)


class HttpError(Exception):
    """Raised inside the HTTP API handlers; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- state ------------------------------------------------------------------------------------


class Connection:
    """One WebSocket connection, as the core sees it.

    ``channels`` maps each subscribed channel to the presence user id it joined as (``None``
    for other channels). ``pinged_at`` is when the server pinged it and is still waiting for
    a sign of life (``None`` when not waiting). ``tokens`` / ``tokens_at`` are its inbound
    rate limit (a token bucket) and ``refused`` the frames refused in a row for that limit.
    ``sink`` belongs to the I/O layer (its handle for writing); the core never looks at it.
    """

    __slots__ = (
        "app",
        "channels",
        "client_window",
        "client_window_count",
        "closed",
        "last_seen",
        "pinged_at",
        "refused",
        "sink",
        "socket_id",
        "tokens",
        "tokens_at",
        "user_id",
        "user_info",
    )

    def __init__(self, app: _AppState, socket_id: str, now: float) -> None:
        self.app = app
        self.socket_id = socket_id
        self.channels: dict[str, str | None] = {}
        self.closed = False
        self.last_seen = now
        self.pinged_at: float | None = None
        self.user_id: str | None = None
        self.user_info: Any = None
        self.client_window = 0.0
        self.client_window_count = 0
        self.tokens = float(app.config.limits.max_messages_burst)
        self.tokens_at = now
        self.refused = 0
        self.sink: Any = None

    def __repr__(self) -> str:
        return f"<Connection {self.socket_id} app={self.app.config.app_id!r}>"


class _Member:
    """A presence member: one user id, possibly on several sockets."""

    __slots__ = ("info", "sockets")

    def __init__(self, info: Any) -> None:
        self.info = info
        self.sockets: set[Connection] = set()


class _Channel:
    __slots__ = ("members", "name", "subscribers")

    def __init__(self, name: str) -> None:
        self.name = name
        # An insertion-ordered set: dict keys iterate fast and delete in O(1).
        self.subscribers: dict[Connection, None] = {}
        self.members: dict[str, _Member] = {}


@dataclass
class _CachedEvent:
    frame: str
    data: str
    expires: float


class _AppState:
    __slots__ = ("cache", "cache_misses", "channels", "config", "connections", "users")

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.connections: dict[str, Connection] = {}
        self.channels: dict[str, _Channel] = {}
        self.users: dict[str, dict[Connection, None]] = {}
        self.cache: dict[str, _CachedEvent] = {}
        # Cache channel -> when its last cache_miss webhook went out (de-duplication).
        self.cache_misses: dict[str, float] = {}


# A home for connections refused before they belonged to any app (unknown key).
_NO_APP = _AppState(AppConfig(app_id="", key="", secret=""))


# -- the core ---------------------------------------------------------------------------------


class PusherCore:
    """The Pusher protocol state machine for a set of apps.

    Every public method takes parsed input and returns a list of :data:`Output` (or an
    :class:`HttpReply`); the caller executes them in order. ``clock`` is a monotonic clock for
    timeouts and cache expiry; ``wall_clock`` (Unix seconds) checks HTTP API timestamps.
    ``max_message_bytes`` bounds one frame from a client (UTF-8 bytes; ``None``: no bound);
    a bigger one is answered with ``pusher:error`` 4301 and dropped, the connection stays.
    ``cache_miss_window`` is how long further ``cache_miss`` webhooks of a channel are held back.
    """

    def __init__(
        self,
        apps: Iterable[AppConfig],
        *,
        activity_timeout: int = DEFAULT_ACTIVITY_TIMEOUT,
        pong_timeout: float = DEFAULT_PONG_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        max_message_bytes: int | None = None,
        cache_miss_window: float = DEFAULT_CACHE_MISS_WINDOW,
    ) -> None:
        if activity_timeout <= 0:
            raise ValueError("activity_timeout must be positive: pusher-js refuses a handshake without one.")
        self._apps_by_key: dict[str, _AppState] = {}
        self._apps_by_id: dict[str, _AppState] = {}
        for config in apps:
            if config.key in self._apps_by_key or config.app_id in self._apps_by_id:
                raise ValueError(f"App id {config.app_id!r} or key {config.key!r} is configured twice.")
            state = _AppState(config)
            self._apps_by_key[config.key] = state
            self._apps_by_id[config.app_id] = state
        self.activity_timeout = activity_timeout
        self.pong_timeout = pong_timeout
        self.max_message_bytes = max_message_bytes
        self.cache_miss_window = cache_miss_window
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()

    # -- introspection ------------------------------------------------------------------------

    @property
    def apps(self) -> list[AppConfig]:
        """The configuration of every app this core hosts, in the order they were given."""
        return [state.config for state in self._apps_by_id.values()]

    def connections(self, app_id: str | None = None) -> list[Connection]:
        """Live connections of app ``app_id``, or of all apps when ``app_id`` is ``None``.

        An ``app_id`` the core does not host is a ``ValueError``.
        """
        states = [self._app(app_id)] if app_id is not None else list(self._apps_by_id.values())
        return [conn for state in states for conn in state.connections.values()]

    def stats(self) -> dict[str, int]:
        """Counts over all apps, for the health endpoint and for tests that wait for the server's view.

        ``members`` counts presence members (user ids) over all presence channels; ``cached``
        counts cache channels holding an event (expired ones leave on the next :meth:`tick`).
        """
        states = self._apps_by_id.values()
        return {
            "apps": len(self._apps_by_id),
            "connections": sum(len(s.connections) for s in states),
            "channels": sum(len(s.channels) for s in states),
            "users": sum(len(s.users) for s in states),
            "members": sum(len(c.members) for s in states for c in s.channels.values()),
            "cached": sum(len(s.cache) for s in states),
        }

    def subscription_count(self, channel: str, app_id: str | None = None) -> int:
        """How many connections of app ``app_id`` are subscribed to ``channel`` (0 for none).

        ``app_id`` may be left out only while the core hosts a single app: with several, that
        is a ``ValueError`` rather than a guess. An unknown ``app_id`` is a ``ValueError`` too.
        """
        ch = self._app(app_id).channels.get(channel)
        return len(ch.subscribers) if ch else 0

    def _app(self, app_id: str | None) -> _AppState:
        if app_id is None:
            if len(self._apps_by_id) != 1:
                raise ValueError(f"This core hosts {len(self._apps_by_id)} apps; say which one with app_id.")
            return next(iter(self._apps_by_id.values()))
        state = self._apps_by_id.get(app_id)
        if state is None:
            raise ValueError(f"Unknown app id {app_id!r}; this core hosts {sorted(self._apps_by_id)}.")
        return state

    # -- connection lifecycle -----------------------------------------------------------------

    def open(self, key: str, query: Mapping[str, str]) -> tuple[Connection, list[Output]]:
        """A WebSocket was opened on ``/app/{key}?{query}``.

        Returns the connection (already closed if it was refused) and the handshake, or the
        error frame and close that refuse it.
        """
        now = self._clock()
        state = self._apps_by_key.get(key)
        if state is None:
            conn = Connection(_NO_APP, "0.0", now)
            return conn, self._refuse(conn, APP_NOT_FOUND, f"App key {key!r} does not exist.")
        raw_protocol = query.get("protocol")
        try:
            protocol = 7 if raw_protocol in (None, "") else int(raw_protocol)
        except ValueError:
            protocol = -1
        conn = Connection(state, self._new_socket_id(), now)
        if protocol not in SUPPORTED_PROTOCOLS:
            return conn, self._refuse(
                conn,
                UNSUPPORTED_PROTOCOL,
                f"Unsupported protocol version {raw_protocol!r}; this server speaks protocols 4 to 7.",
            )
        limit = state.config.max_connections
        if limit is not None and len(state.connections) >= limit:
            return conn, self._refuse(conn, OVER_CAPACITY, f"Over capacity: the app allows {limit} connections.")
        state.connections[conn.socket_id] = conn
        handshake = encode(
            {
                "event": "pusher:connection_established",
                "data": encode({"socket_id": conn.socket_id, "activity_timeout": self.activity_timeout}),
            }
        )
        return conn, [SendFrame(conn, handshake)]

    def closed(self, conn: Connection) -> list[Output]:
        """The connection is gone (the peer closed it or the network dropped it)."""
        if conn.closed:
            return []
        return self._detach(conn)

    def kick(self, conn: Connection, code: int, message: str) -> list[Output]:
        """Close a connection for a reason found by the I/O layer (e.g. it reads too slowly)."""
        if conn.closed:
            return []
        return self._close(conn, code, message)

    def touch(self, conn: Connection) -> None:
        """A WebSocket-level pong (or anything else that is no message) arrived: it is alive."""
        conn.last_seen = self._clock()
        conn.pinged_at = None

    def receive_ping(self, conn: Connection, payload: bytes) -> list[Output]:
        """A WebSocket-level ping arrived: answer it with a :class:`Pong`, within the rate limit."""
        if conn.closed:
            return []
        now = conn.last_seen = self._clock()
        conn.pinged_at = None
        refused = self._throttle(conn, now)
        if refused is not None:
            return refused
        return [Pong(conn, payload)]

    def tick(self) -> list[Output]:
        """Time passed: ping quiet connections, close silent ones, drop expired cache entries.

        A connection silent for ``activity_timeout`` seconds is pinged; one that still says
        nothing ``pong_timeout`` seconds after that ping is closed with 4201. Called every few
        seconds by the I/O layer; it only needs to be called often enough for the timeouts'
        precision, never per connection.
        """
        now = self._clock()
        ping_after = self.activity_timeout
        pong_timeout = self.pong_timeout
        outputs: list[Output] = []
        for state in self._apps_by_id.values():
            for conn in list(state.connections.values()):
                pinged_at = conn.pinged_at
                if pinged_at is not None:
                    if now - pinged_at >= pong_timeout:
                        silent = int(now - conn.last_seen)
                        outputs += self._close(
                            conn, PONG_NOT_RECEIVED, f"No activity for {silent} s; pong reply not received."
                        )
                elif now - conn.last_seen >= ping_after:
                    conn.pinged_at = now
                    outputs.append(SendFrame(conn, _PING_FRAME))
            for name in [name for name, cached in state.cache.items() if cached.expires <= now]:
                del state.cache[name]
            window = self.cache_miss_window
            for name in [name for name, sent in state.cache_misses.items() if now - sent >= window]:
                del state.cache_misses[name]
        return outputs

    def shutdown(self) -> list[Output]:
        """The server is stopping: tell every client to reconnect at once (4200), forget everything.

        Linear in connections plus members: connections are not detached one by one (that
        would fan ``member_removed`` out to connections about to close, O(members**2) per
        presence channel). Apps with webhooks still get ``member_removed`` and
        ``channel_vacated`` for what was occupied, so their view of presence stays right.
        """
        message = "Server is shutting down; reconnect."
        frame = error_frame(RECONNECT_NOW, message)
        outputs: list[Output] = []
        for state in self._apps_by_id.values():
            for conn in state.connections.values():
                conn.closed = True
                conn.channels.clear()
                outputs.append(SendFrame(conn, frame))
                outputs.append(CloseConnection(conn, RECONNECT_NOW, message))
            config = state.config
            if config.webhooks:
                for name, channel in state.channels.items():
                    for member_id in channel.members:
                        outputs.append(
                            WebhookEvent(config, {"name": "member_removed", "channel": name, "user_id": member_id})
                        )
                    outputs.append(WebhookEvent(config, {"name": "channel_vacated", "channel": name}))
            state.connections.clear()
            state.channels.clear()
            state.users.clear()
            state.cache.clear()
            state.cache_misses.clear()
        return outputs

    # -- frames from clients ------------------------------------------------------------------

    def receive(self, conn: Connection, text: str) -> list[Output]:
        """A text frame arrived from ``conn``."""
        if conn.closed:
            return []
        now = conn.last_seen = self._clock()
        conn.pinged_at = None
        refused = self._throttle(conn, now)
        if refused is not None:
            return refused
        limit = self.max_message_bytes
        if limit is not None and len(text) * 4 > limit:  # Cheap bound first: at most 4 bytes a character.
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > limit:
                message = f"Message too large: {size} bytes; the limit is {limit} bytes per message. It was dropped."
                return [SendFrame(conn, error_frame(CLIENT_EVENT_REJECTED, message))]
        try:
            message = decode(text)
        except (ValueError, RecursionError):
            return [SendFrame(conn, error_frame(None, "Invalid message: frames must be JSON objects."))]
        if not isinstance(message, dict):
            return [SendFrame(conn, error_frame(None, "Invalid message: frames must be JSON objects."))]
        event = message.get("event")
        if not isinstance(event, str):
            return [SendFrame(conn, error_frame(None, "Invalid message: 'event' must be a string."))]
        if event == "pusher:ping":
            return [SendFrame(conn, _PONG_FRAME)]
        if event == "pusher:pong":
            return []
        if event.startswith(CLIENT_EVENT_PREFIX):
            return self._client_event(conn, event, message)
        data = message.get("data")
        if isinstance(data, str):
            # Some clients double-encode; pusher-js and pysher send an object.
            with contextlib.suppress(ValueError, RecursionError):
                data = decode(data)
        if event == "pusher:subscribe":
            return self._subscribe(conn, data)
        if event == "pusher:unsubscribe":
            channel = data.get("channel") if isinstance(data, dict) else None
            if isinstance(channel, str) and channel in conn.channels:
                return self._leave(conn, channel)
            return []  # Pusher is silent about channels that were never subscribed.
        if event == "pusher:signin":
            return self._signin(conn, data)
        return [SendFrame(conn, error_frame(None, f"Unsupported event {event!r}."))]

    def receive_binary(self, conn: Connection) -> list[Output]:
        """A binary frame arrived: Pusher only speaks text frames."""
        if conn.closed:
            return []
        now = conn.last_seen = self._clock()
        conn.pinged_at = None
        refused = self._throttle(conn, now)
        if refused is not None:
            return refused
        return [SendFrame(conn, error_frame(None, "Binary frames are not supported; send JSON text frames."))]

    def _throttle(self, conn: Connection, now: float) -> list[Output] | None:
        """Take one token from the connection's bucket; return the refusal if there is none.

        Every frame a client sends costs a token; tokens come back at ``max_messages_per_second``
        up to ``max_messages_burst``. A refused frame gets ``pusher:error`` 4301 (the connection
        stays, as for rate-limited client events); after ``max_messages_refused`` refusals in a
        row the client is closed with 4100, which makes Pusher clients back off and reconnect.
        """
        limits = conn.app.config.limits
        tokens = conn.tokens + (now - conn.tokens_at) * limits.max_messages_per_second
        if tokens > limits.max_messages_burst:
            tokens = limits.max_messages_burst
        conn.tokens_at = now
        if tokens >= 1.0:
            conn.tokens = tokens - 1.0
            conn.refused = 0
            return None
        conn.tokens = tokens
        conn.refused += 1
        rate = f"at most {limits.max_messages_per_second} messages per second per connection"
        if conn.refused > limits.max_messages_refused:
            return self._close(conn, OVER_CAPACITY, f"Too many messages ({rate}); back off, then reconnect.")
        return [SendFrame(conn, error_frame(CLIENT_EVENT_REJECTED, f"Message rejected due to rate limit: {rate}."))]

    # -- subscriptions ------------------------------------------------------------------------

    def _subscribe(self, conn: Connection, data: Any) -> list[Output]:
        if not isinstance(data, dict):
            return [SendFrame(conn, error_frame(None, "pusher:subscribe needs a data object with a channel."))]
        name = data.get("channel")
        if not isinstance(name, str):
            return [SendFrame(conn, error_frame(None, "pusher:subscribe needs a 'channel' string."))]
        config = conn.app.config
        try:
            config.limits.check_channel(name)
        except InvalidChannel as exc:
            return [_subscription_error(conn, name, "InvalidChannel", str(exc), UNAUTHORIZED)]
        kind = channel_kind(name)
        if kind == "user":
            return self._subscribe_user_channel(conn, name)
        if name.startswith("#"):
            return [_subscription_error(conn, name, "InvalidChannel", f"Channel {name!r} is reserved.", UNAUTHORIZED)]

        limit = config.limits.max_channels_per_connection
        if name not in conn.channels and len(conn.channels) >= limit:
            return [
                _subscription_error(
                    conn,
                    name,
                    "LimitReached",
                    f"This connection is subscribed to {len(conn.channels)} channels, the limit; "
                    f"unsubscribe from one before subscribing to {name!r}.",
                    OVER_CAPACITY,
                )
            ]

        member_id: str | None = None
        member_info: Any = None
        try:
            if kind in ("private", "encrypted"):
                _verify(config, data.get("auth"), channel_string_to_sign(conn.socket_id, name))
            elif kind == "presence":
                member_id, member_info = self._presence_member(conn, name, data)
        except SignatureError as exc:
            return [_subscription_error(conn, name, "AuthError", exc.reason, 401)]
        except _SubscriptionRefused as exc:
            return [_subscription_error(conn, name, exc.type, exc.message, exc.status)]

        state = conn.app
        channel = state.channels.get(name)
        if name in conn.channels and channel is not None:
            # Subscribing twice is harmless: confirm again, change nothing.
            return [SendFrame(conn, self._succeeded_frame(channel))]
        if member_id is not None and channel is not None:
            limits = config.limits
            if member_id not in channel.members and len(channel.members) >= limits.max_presence_members:
                return [
                    _subscription_error(
                        conn,
                        name,
                        "LimitReached",
                        f"Presence channel {name!r} already has {limits.max_presence_members} members, the limit.",
                        OVER_CAPACITY,
                    )
                ]
        outputs: list[Output] = []
        if channel is None:
            channel = state.channels[name] = _Channel(name)
            if config.webhooks:
                outputs.append(WebhookEvent(config, {"name": "channel_occupied", "channel": name}))
        channel.subscribers[conn] = None
        conn.channels[name] = member_id
        added: _Member | None = None
        if member_id is not None:
            member = channel.members.get(member_id)
            if member is None:
                member = added = channel.members[member_id] = _Member(member_info)
            member.sockets.add(conn)
        outputs.append(SendFrame(conn, self._succeeded_frame(channel)))
        if added is not None and member_id is not None:
            frame = encode(
                {
                    "event": "pusher_internal:member_added",
                    "channel": name,
                    "data": encode({"user_id": member_id, "user_info": member_info}),
                }
            )
            if len(channel.subscribers) > 1:
                outputs.append(Fanout(frame, tuple(channel.subscribers), exclude=conn))
            if config.webhooks:
                outputs.append(WebhookEvent(config, {"name": "member_added", "channel": name, "user_id": member_id}))
        if is_cache_channel(name):
            outputs += self._replay_cache(conn, name)
        return outputs

    def _presence_member(self, conn: Connection, name: str, data: dict[str, Any]) -> tuple[str, Any]:
        """Verify a presence subscription and return the member's (user id, user info)."""
        config = conn.app.config
        channel_data = data.get("channel_data")
        if channel_data is None and conn.user_id is not None:
            # pusher-js with a signed-in user and an auth response without channel_data.
            _verify(config, data.get("auth"), channel_string_to_sign(conn.socket_id, name))
            _check_member_info(config.limits, conn.user_info)
            return conn.user_id, conn.user_info
        if not isinstance(channel_data, str):
            raise _SubscriptionRefused("AuthError", "Presence channels need 'channel_data', a JSON string.", 401)
        # Verify over the exact text received: a re-serialization would not match.
        _verify(config, data.get("auth"), channel_string_to_sign(conn.socket_id, name, channel_data))
        try:
            parsed = decode(channel_data)
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict) or "user_id" not in parsed:
            raise _SubscriptionRefused("InvalidChannelData", "channel_data must be a JSON object with 'user_id'.", 400)
        user_id = parsed["user_id"]
        limits = config.limits
        if isinstance(user_id, bool) or not isinstance(user_id, (str, int)) or str(user_id) == "":
            raise _SubscriptionRefused("InvalidChannelData", f"user_id {user_id!r} must be a non-empty string.", 400)
        user_id = str(user_id)
        if len(user_id) > limits.max_user_id_length:
            raise _SubscriptionRefused(
                "InvalidChannelData",
                f"user_id is {len(user_id)} characters long; the limit is {limits.max_user_id_length}.",
                400,
            )
        info = parsed.get("user_info")
        _check_member_info(limits, info)
        return user_id, info

    def _subscribe_user_channel(self, conn: Connection, name: str) -> list[Output]:
        """``#server-to-user-{id}``: only the connection signed in as ``{id}`` may listen."""
        wanted = name[len(SERVER_TO_USER_PREFIX) :]
        if conn.user_id is None or conn.user_id != wanted:
            return [
                _subscription_error(
                    conn,
                    name,
                    "AuthError",
                    f"Only a connection signed in as user {wanted!r} may subscribe to {name!r}.",
                    401,
                )
            ]
        # Delivery goes through the user's signed-in connections; the subscription is
        # remembered only so that unsubscribing is quiet and subscribing twice is harmless.
        conn.channels[name] = None
        succeeded = {"event": "pusher_internal:subscription_succeeded", "channel": name, "data": "{}"}
        return [SendFrame(conn, encode(succeeded))]

    def _succeeded_frame(self, channel: _Channel) -> str:
        if is_presence(channel.name):
            members = channel.members
            presence = {
                "presence": {
                    "ids": list(members),
                    "hash": {uid: member.info for uid, member in members.items()},
                    "count": len(members),
                }
            }
            data = encode(presence)
        else:
            data = "{}"
        return encode({"event": "pusher_internal:subscription_succeeded", "channel": channel.name, "data": data})

    def _replay_cache(self, conn: Connection, name: str) -> list[Output]:
        state = conn.app
        now = self._clock()
        cached = state.cache.get(name)
        if cached is not None and cached.expires > now:
            return [SendFrame(conn, cached.frame)]
        outputs: list[Output] = [SendFrame(conn, encode({"event": "pusher:cache_miss", "channel": name}))]
        config = state.config
        if config.webhooks:
            sent = state.cache_misses.get(name)
            if sent is None or now - sent >= self.cache_miss_window:
                state.cache_misses[name] = now
                outputs.append(WebhookEvent(config, {"name": "cache_miss", "channel": name}))
        return outputs

    def _leave(self, conn: Connection, name: str) -> list[Output]:
        """Remove ``conn`` from one channel, telling the others and the webhook what changed."""
        member_id = conn.channels.pop(name)
        state = conn.app
        channel = state.channels.get(name)
        if channel is None:  # A #server-to-user- channel: nothing shared to update.
            return []
        channel.subscribers.pop(conn, None)
        config = state.config
        outputs: list[Output] = []
        if member_id is not None:
            member = channel.members.get(member_id)
            if member is not None:
                member.sockets.discard(conn)
                if not member.sockets:
                    del channel.members[member_id]
                    if channel.subscribers:
                        frame = encode(
                            {
                                "event": "pusher_internal:member_removed",
                                "channel": name,
                                "data": encode({"user_id": member_id}),
                            }
                        )
                        outputs.append(Fanout(frame, tuple(channel.subscribers)))
                    if config.webhooks:
                        outputs.append(
                            WebhookEvent(config, {"name": "member_removed", "channel": name, "user_id": member_id})
                        )
        if not channel.subscribers:
            del state.channels[name]
            if config.webhooks:
                outputs.append(WebhookEvent(config, {"name": "channel_vacated", "channel": name}))
        return outputs

    # -- client events and signin -------------------------------------------------------------

    def _client_event(self, conn: Connection, event: str, message: dict[str, Any]) -> list[Output]:
        config = conn.app.config
        limits = config.limits
        channel = message.get("channel")

        def reject(code: int | None, text: str) -> list[Output]:
            where = channel if isinstance(channel, str) else None
            return [SendFrame(conn, error_frame(code, text, where))]

        if not config.client_events:
            return reject(None, "Client events are disabled for this app.")
        if not isinstance(channel, str) or channel not in conn.channels:
            return reject(None, f"Client event {event!r} rejected: the connection is not subscribed to {channel!r}.")
        if channel_kind(channel) not in ("private", "presence"):
            return reject(
                None,
                f"Client event {event!r} rejected: client events are only allowed on private and presence channels.",
            )
        if len(event) > limits.max_event_name_length:
            return reject(
                CLIENT_EVENT_REJECTED,
                f"Client event name is {len(event)} characters long; the limit is {limits.max_event_name_length}.",
            )
        now = self._clock()
        if now - conn.client_window >= 1.0:
            conn.client_window = now
            conn.client_window_count = 0
        conn.client_window_count += 1
        if conn.client_window_count > limits.max_client_events_per_second:
            return reject(
                CLIENT_EVENT_REJECTED,
                f"Client event rejected due to rate limit: at most {limits.max_client_events_per_second} "
                "client events per second per connection.",
            )
        data = message.get("data")
        data_text = data if isinstance(data, str) else encode(data)
        try:
            _check_payload(limits, data_text, channel)
        except PayloadTooLarge as exc:
            return reject(CLIENT_EVENT_REJECTED, f"Client event rejected: {exc}")
        frame_message: dict[str, Any] = {"event": event, "channel": channel, "data": data}
        member_id = conn.channels[channel]
        if member_id is not None:
            frame_message["user_id"] = member_id
        outputs: list[Output] = []
        subscribers = conn.app.channels[channel].subscribers
        if len(subscribers) > 1:
            outputs.append(Fanout(encode(frame_message), tuple(subscribers), exclude=conn))
        if config.webhooks:
            hook: dict[str, Any] = {
                "name": "client_event",
                "channel": channel,
                "event": event,
                "data": data_text,
                "socket_id": conn.socket_id,
            }
            if member_id is not None:
                hook["user_id"] = member_id
            outputs.append(WebhookEvent(config, hook))
        return outputs

    def _signin(self, conn: Connection, data: Any) -> list[Output]:
        config = conn.app.config
        if not isinstance(data, dict) or not isinstance(data.get("user_data"), str):
            return self._close(conn, UNAUTHORIZED, "pusher:signin needs 'auth' and 'user_data' (a JSON string).")
        user_data: str = data["user_data"]
        try:
            _verify(config, data.get("auth"), user_string_to_sign(conn.socket_id, user_data))
        except SignatureError as exc:
            return self._close(conn, UNAUTHORIZED, f"Sign-in refused: {exc.reason}")
        try:
            parsed = decode(user_data)
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict):
            return self._close(conn, UNAUTHORIZED, "Sign-in refused: user_data must be a JSON object.")
        try:
            user_id = config.limits.check_user_id(parsed.get("id"))
        except ValidationError as exc:
            return self._close(conn, UNAUTHORIZED, f"Sign-in refused: {exc}")
        if conn.user_id is not None and conn.user_id != user_id:
            return self._close(
                conn, UNAUTHORIZED, f"Sign-in refused: already signed in as {conn.user_id!r}, not {user_id!r}."
            )
        conn.user_id = user_id
        conn.user_info = parsed.get("user_info")
        conn.app.users.setdefault(user_id, {})[conn] = None
        return [SendFrame(conn, encode({"event": "pusher:signin_success", "data": {"user_data": user_data}}))]

    # -- closing ------------------------------------------------------------------------------

    def _refuse(self, conn: Connection, code: int, message: str) -> list[Output]:
        conn.closed = True
        return [SendFrame(conn, error_frame(code, message)), CloseConnection(conn, code, message)]

    def _close(self, conn: Connection, code: int, message: str) -> list[Output]:
        outputs: list[Output] = [SendFrame(conn, error_frame(code, message)), CloseConnection(conn, code, message)]
        return outputs + self._detach(conn)

    def _detach(self, conn: Connection) -> list[Output]:
        """Forget a connection: leave its channels, sign it out, free its slot."""
        conn.closed = True
        state = conn.app
        outputs: list[Output] = []
        for name in list(conn.channels):
            outputs += self._leave(conn, name)
        if conn.user_id is not None:
            sockets = state.users.get(conn.user_id)
            if sockets is not None:
                sockets.pop(conn, None)
                if not sockets:
                    del state.users[conn.user_id]
        state.connections.pop(conn.socket_id, None)
        return outputs

    def _new_socket_id(self) -> str:
        rand = self._rng.randrange
        while True:
            socket_id = f"{rand(1, 10**10)}.{rand(1, 10**10)}"
            if all(socket_id not in s.connections for s in self._apps_by_id.values()):
                return socket_id

    # -- HTTP API -----------------------------------------------------------------------------

    def http(self, method: str, target: str, body: bytes) -> HttpReply:
        """Answer an HTTP API request.

        ``target`` is the request target as received (raw path and query string): the
        signature is checked against the raw path first, then the percent-decoded one.
        """
        try:
            return self._http(method.upper(), target, body)
        except HttpError as exc:
            return HttpReply(exc.status, {"error": exc.message})

    def _http(self, method: str, target: str, body: bytes) -> HttpReply:
        raw_path, _, query_string = target.partition("?")
        path = unquote(raw_path)
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        parts = [part for part in path.split("/") if part]
        state: _AppState | None
        if len(parts) >= 2 and parts[0] == "apps":
            state = self._apps_by_id.get(parts[1])
            if state is None:
                raise HttpError(404, f"Unknown app id {parts[1]!r}.")
            route = parts[2:]
        elif len(parts) == 3 and parts[0] == "users" and parts[2] == "terminate_connections":
            # The official SDK calls this path without the /apps/{id} prefix.
            state = self._apps_by_key.get(query.get("auth_key", ""))
            if state is None:
                raise HttpError(401, f"Unknown auth_key {query.get('auth_key')!r}.")
            route = parts
        else:
            raise HttpError(404, f"Unknown path {path!r}; the HTTP API lives under /apps/<app_id>/.")
        config = state.config
        try:
            verify_request(config.key, config.secret, method, (raw_path, path), query, body, now=self._wall_clock())
        except SignatureError as exc:
            raise HttpError(401, exc.reason) from None
        try:
            return self._route(state, method, route, query, body)
        except PayloadTooLarge as exc:
            raise HttpError(413, str(exc)) from None
        except ValidationError as exc:
            raise HttpError(400, str(exc)) from None

    def _route(self, state: _AppState, method: str, route: list[str], query: dict[str, str], body: bytes) -> HttpReply:
        n = len(route)
        if n == 1 and route[0] in ("events", "batch_events"):
            _expect(method, "POST")
            payload = _json_body(body)
            if route[0] == "events":
                return self._post_events(state, payload)
            return self._post_batch(state, payload)
        if n >= 1 and route[0] == "channels":
            _expect(method, "GET")
            if n == 1:
                return self._get_channels(state, query)
            if n == 2:
                return self._get_channel(state, route[1], query)
            if n == 3 and route[2] == "users":
                return self._get_users(state, route[1])
        if n == 3 and route[0] == "users" and route[2] == "terminate_connections":
            _expect(method, "POST")
            return self._terminate(state, route[1])
        raise HttpError(404, f"Unknown API path /{'/'.join(route)} for app {state.config.app_id!r}.")

    def _post_events(self, state: _AppState, payload: dict[str, Any]) -> HttpReply:
        limits = state.config.limits
        if "channels" in payload:
            channels = payload["channels"]
            if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
                raise HttpError(400, "'channels' must be a list of channel names.")
        elif "channel" in payload:
            channels = payload["channel"]
            if not isinstance(channels, str):
                raise HttpError(400, "'channel' must be a channel name.")
        else:
            raise HttpError(400, "Missing 'channels' (a list) or 'channel'.")
        names = limits.check_channels(channels)
        event, data, socket_id = self._check_event(state, payload, names)
        attributes = _info_attributes(payload.get("info"), {"user_count", "subscription_count"})
        outputs = self._publish(state, names, event, data, socket_id)
        if not attributes:
            return HttpReply(200, {}, outputs)
        info = {name: self._channel_attributes(state, name, attributes, strict=False) for name in names}
        return HttpReply(200, {"channels": info}, outputs)

    def _post_batch(self, state: _AppState, payload: dict[str, Any]) -> HttpReply:
        limits = state.config.limits
        batch = payload.get("batch")
        if not isinstance(batch, list):
            raise HttpError(400, "Missing 'batch': a list of events.")
        if len(batch) > limits.max_batch_size:
            raise HttpError(400, f"Batch holds {len(batch)} events; the limit is {limits.max_batch_size}.")
        checked = []
        for index, item in enumerate(batch):
            if not isinstance(item, dict):
                raise HttpError(400, f"Batch item {index} must be an object.")
            channel = item.get("channel")
            if not isinstance(channel, str):
                raise HttpError(400, f"Batch item {index} needs a 'channel' string.")
            names = (limits.check_channel(channel),)
            event, data, socket_id = self._check_event(state, item, names)
            attributes = _info_attributes(item.get("info"), {"user_count", "subscription_count"})
            checked.append((names, event, data, socket_id, attributes))
        # Every item was valid: only now publish, so a bad item publishes nothing.
        outputs: list[Output] = []
        for names, event, data, socket_id, _ in checked:
            outputs += self._publish(state, names, event, data, socket_id)
        if not any(attributes for *_, attributes in checked):
            return HttpReply(200, {}, outputs)
        infos = [
            self._channel_attributes(state, names[0], attributes, strict=False) if attributes else {}
            for names, _, _, _, attributes in checked
        ]
        return HttpReply(200, {"batch": infos}, outputs)

    def _check_event(self, state: _AppState, item: dict[str, Any], names: Sequence[str]) -> tuple[str, str, str | None]:
        limits = state.config.limits
        event = limits.check_event_name(item.get("name"))
        data = item.get("data")
        if not isinstance(data, str):
            raise HttpError(400, "'data' must be a string (JSON-encode objects before sending).")
        _check_payload(limits, data, names[0] if len(names) == 1 else None)
        socket_id = item.get("socket_id")
        if socket_id is not None:
            check_socket_id(socket_id)
        return event, data, socket_id

    def _publish(
        self, state: _AppState, names: Sequence[str], event: str, data: str, socket_id: str | None
    ) -> list[Output]:
        """Deliver one event: one frame per channel, encoded once for all its subscribers."""
        exclude = state.connections.get(socket_id) if socket_id else None
        outputs: list[Output] = []
        for name in names:
            frame = encode({"event": event, "channel": name, "data": data})
            if is_cache_channel(name):
                state.cache[name] = _CachedEvent(frame, data, self._clock() + state.config.cache_ttl)
            if name.startswith(SERVER_TO_USER_PREFIX):
                targets: dict[Connection, None] | None = state.users.get(name[len(SERVER_TO_USER_PREFIX) :])
            else:
                channel = state.channels.get(name)
                targets = channel.subscribers if channel is not None else None
            if targets:
                outputs.append(Fanout(frame, tuple(targets), exclude))
        return outputs

    def _channel_attributes(self, state: _AppState, name: str, attributes: set[str], *, strict: bool) -> dict[str, Any]:
        channel = state.channels.get(name)
        result: dict[str, Any] = {}
        if "user_count" in attributes:
            if is_presence(name):
                result["user_count"] = len(channel.members) if channel else 0
            elif strict:
                raise HttpError(400, f"info=user_count is only available for presence channels, not {name!r}.")
        if "subscription_count" in attributes:
            result["subscription_count"] = len(channel.subscribers) if channel else 0
        if "cache" in attributes:
            if not is_cache_channel(name):
                raise HttpError(400, f"info=cache is only available for cache channels, not {name!r}.")
            cached = state.cache.get(name)
            now = self._clock()
            if cached is not None and cached.expires > now:
                result["cache"] = {"data": cached.data, "ttl": int(cached.expires - now)}
        return result

    def _get_channels(self, state: _AppState, query: dict[str, str]) -> HttpReply:
        prefix = query.get("filter_by_prefix", "")
        attributes = _info_attributes(query.get("info"), {"user_count", "subscription_count"})
        if "user_count" in attributes and not prefix.startswith("presence-"):
            raise HttpError(400, "info=user_count needs filter_by_prefix=presence- (it only exists for presence).")
        channels = {
            name: self._channel_attributes(state, name, attributes, strict=True)
            for name in state.channels
            if name.startswith(prefix)
        }
        return HttpReply(200, {"channels": channels})

    def _get_channel(self, state: _AppState, name: str, query: dict[str, str]) -> HttpReply:
        state.config.limits.check_channel(name)
        attributes = _info_attributes(query.get("info"), {"user_count", "subscription_count", "cache"})
        body: dict[str, Any] = {"occupied": name in state.channels}
        body.update(self._channel_attributes(state, name, attributes, strict=True))
        return HttpReply(200, body)

    def _get_users(self, state: _AppState, name: str) -> HttpReply:
        state.config.limits.check_channel(name)
        if not is_presence(name):
            raise HttpError(400, f"Users can only be listed for presence channels, not {name!r}.")
        channel = state.channels.get(name)
        users = [{"id": uid} for uid in channel.members] if channel else []
        return HttpReply(200, {"users": users})

    def _terminate(self, state: _AppState, user_id: str) -> HttpReply:
        user_id = state.config.limits.check_user_id(user_id)
        outputs: list[Output] = []
        for conn in list(state.users.get(user_id, ())):
            outputs += self._close(conn, UNAUTHORIZED, "You got disconnected by the app.")
        return HttpReply(200, {}, outputs)


# -- helpers ----------------------------------------------------------------------------------


class _SubscriptionRefused(Exception):
    def __init__(self, type_: str, message: str, status: int) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status


def _subscription_error(conn: Connection, channel: str, type_: str, message: str, status: int) -> SendFrame:
    """A refused subscription: the connection stays open (Soketi's shape, which pusher-js re-emits)."""
    frame = encode(
        {
            "event": "pusher:subscription_error",
            "channel": channel,
            "data": {"type": type_, "error": message, "status": status},
        }
    )
    return SendFrame(conn, frame)


def _verify(config: AppConfig, token: object, string_to_sign: str) -> None:
    """:func:`verify_token` for input that may hold lone surrogates, which cannot be signed."""
    try:
        verify_token(config.key, config.secret, token, string_to_sign)
    except UnicodeEncodeError:
        raise SignatureError(
            "Auth token or signed data holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
            "it cannot be verified."
        ) from None


def _check_payload(limits: Limits, data: str, channel: str | None) -> None:
    """:meth:`Limits.check_payload`, counting a lone surrogate as the 3 bytes of a character."""
    try:
        limits.check_payload(data, channel=channel)
    except UnicodeEncodeError:
        limits.check_payload(_SURROGATE.sub("\ufffd", data), channel=channel)


def _check_member_info(limits: Limits, info: Any) -> None:
    """Refuse a presence member whose ``user_info`` is over the size limit (Pusher: 1 KB)."""
    size = len(encode(info).encode("utf-8"))
    if size > limits.max_presence_member_bytes:
        raise _SubscriptionRefused(
            "LimitReached",
            f"user_info is {size} bytes; the limit is {limits.max_presence_member_bytes} bytes.",
            CLIENT_EVENT_REJECTED,
        )


def _expect(method: str, wanted: str) -> None:
    if method != wanted:
        raise HttpError(405, f"Method {method} is not allowed here; use {wanted}.")


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        payload = decode(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HttpError(400, "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise HttpError(400, "The request body must be a JSON object.")
    return payload


def _info_attributes(value: object, allowed: set[str]) -> set[str]:
    """Parse an ``info`` parameter (``"user_count,subscription_count"``) into a set."""
    if value is None or value == "":
        return set()
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise HttpError(400, "'info' must be a comma-separated string.")
    attributes = {part.strip() for part in value.split(",") if part.strip()}
    unknown = attributes - allowed
    if unknown:
        raise HttpError(400, f"Unknown info attribute(s) {sorted(unknown)}; allowed here: {sorted(allowed)}.")
    return attributes
