"""Frames from clients: rate-limited, size-checked, parsed, and routed to the concern that owns them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from pushbridge.engine.client_events import ClientEvents
from pushbridge.engine.codec import PONG_FRAME, decode, error_frame
from pushbridge.engine.codes import CLIENT_EVENT_REJECTED, OVER_CAPACITY
from pushbridge.engine.connections import Connections
from pushbridge.engine.drops import INVALID, RATE_LIMITED, TOO_LARGE, Drops
from pushbridge.engine.outputs import Output, Pong, SendFrame
from pushbridge.engine.signin import signin
from pushbridge.engine.state import Connection
from pushbridge.engine.subscriptions import Subscriptions
from pushbridge.engine.throttle import take_token
from pushbridge.limits import CLIENT_EVENT_PREFIX


class Messages:
    """Reads what clients send: text frames, binary frames, WebSocket pings and pongs.

    ``max_message_bytes`` bounds one text frame (UTF-8 bytes; ``None``: no bound); a bigger
    one is answered with ``pusher:error`` 4301 and dropped, the connection stays.
    """

    def __init__(
        self,
        connections: Connections,
        subscriptions: Subscriptions,
        client_events: ClientEvents,
        *,
        clock: Callable[[], float],
        max_message_bytes: int | None,
        drops: Drops,
    ) -> None:
        self._connections = connections
        self._subscriptions = subscriptions
        self._client_events = client_events
        self._clock = clock
        self.max_message_bytes = max_message_bytes
        self._drops = drops

    def receive(self, conn: Connection, text: str) -> list[Output]:
        """A text frame arrived from ``conn``."""
        if conn.closed:
            return []
        refused = self._arrived(conn)
        if refused is not None:
            return refused
        limit = self.max_message_bytes
        if limit is not None and len(text) * 4 > limit:  # Cheap bound first: at most 4 bytes a character.
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > limit:
                message = f"Message too large: {size} bytes; the limit is {limit} bytes per message. It was dropped."
                self._drops.count(TOO_LARGE)
                return [SendFrame(conn, error_frame(CLIENT_EVENT_REJECTED, message))]
        try:
            message = decode(text)
        except (ValueError, RecursionError):
            return self._invalid(conn, "Invalid message: frames must be JSON objects.")
        if not isinstance(message, dict):
            return self._invalid(conn, "Invalid message: frames must be JSON objects.")
        event = message.get("event")
        if not isinstance(event, str):
            return self._invalid(conn, "Invalid message: 'event' must be a string.")
        if event == "pusher:ping":
            return [SendFrame(conn, PONG_FRAME)]
        if event == "pusher:pong":
            return []
        if event.startswith(CLIENT_EVENT_PREFIX):
            return self._client_events.receive(conn, event, message)
        data = message.get("data")
        if isinstance(data, str):
            # Some clients double-encode; pusher-js and pysher send an object.
            with contextlib.suppress(ValueError, RecursionError):
                data = decode(data)
        if event == "pusher:subscribe":
            return self._subscriptions.subscribe(conn, data)
        if event == "pusher:unsubscribe":
            channel = data.get("channel") if isinstance(data, dict) else None
            if isinstance(channel, str) and channel in conn.channels:
                return self._subscriptions.leave(conn, channel)
            return []  # Pusher is silent about channels that were never subscribed.
        if event == "pusher:signin":
            return signin(self._connections, conn, data)
        return self._invalid(conn, f"Unsupported event {event!r}.")

    def receive_binary(self, conn: Connection) -> list[Output]:
        """A binary frame arrived: Pusher only speaks text frames."""
        if conn.closed:
            return []
        refused = self._arrived(conn)
        if refused is not None:
            return refused
        return self._invalid(conn, "Binary frames are not supported; send JSON text frames.")

    def receive_ping(self, conn: Connection, payload: bytes) -> list[Output]:
        """A WebSocket-level ping arrived: answer it with a :class:`Pong`, within the rate limit.

        A ping is not a sign of life: a client that never reads can send pings, so only a
        message (``pusher:pong`` to the server's ``pusher:ping`` among them) resets the idle timer.
        """
        if conn.closed:
            return []
        refused = self._charge(conn, self._clock())
        if refused is not None:
            return refused
        return [Pong(conn, payload)]

    def receive_pong(self, conn: Connection) -> list[Output]:
        """An unsolicited WebSocket-level pong (the server never pings at that level): charged, no more."""
        if conn.closed:
            return []
        return self._charge(conn, self._clock()) or []

    def _arrived(self, conn: Connection) -> list[Output] | None:
        """Note that ``conn`` spoke, and charge the frame to its rate limit; the refusal, if any."""
        now = conn.last_seen = self._clock()
        conn.pinged_at = None
        return self._charge(conn, now)

    def _charge(self, conn: Connection, now: float) -> list[Output] | None:
        """Charge one frame to ``conn``'s rate limit; the refusal, if the limit says no."""
        refusal = take_token(conn, now)
        if refusal is None:
            return None
        self._drops.count(RATE_LIMITED)
        if refusal.close:
            return self._connections.close(conn, OVER_CAPACITY, refusal.message)
        return [SendFrame(conn, error_frame(CLIENT_EVENT_REJECTED, refusal.message))]

    def _invalid(self, conn: Connection, message: str) -> list[Output]:
        """Answer a frame that is no Pusher message with ``pusher:error``; the connection stays."""
        self._drops.count(INVALID)
        return [SendFrame(conn, error_frame(None, message))]
