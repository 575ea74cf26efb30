"""The life of a connection: the handshake, keep-alive pings and timeouts, closing, shutdown."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from pushbridge.engine.apps import Apps
from pushbridge.engine.bus import Bus
from pushbridge.engine.cache import CacheChannels
from pushbridge.engine.codec import PING_FRAME, encode, error_frame
from pushbridge.engine.codes import (
    APP_NOT_FOUND,
    OVER_CAPACITY,
    PONG_NOT_RECEIVED,
    RECONNECT_NOW,
    SUPPORTED_PROTOCOLS,
    UNAUTHORIZED,
    UNSUPPORTED_PROTOCOL,
)
from pushbridge.engine.outputs import CloseConnection, Output, SendFrame
from pushbridge.engine.state import NO_APP, Connection
from pushbridge.engine.subscriptions import Subscriptions


class Connections:
    """Opens, keeps alive and closes the connections of every app."""

    def __init__(
        self,
        apps: Apps,
        subscriptions: Subscriptions,
        bus: Bus,
        cache: CacheChannels,
        *,
        activity_timeout: int,
        pong_timeout: float,
        signin_timeout: float | None,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._apps = apps
        self._subscriptions = subscriptions
        self._bus = bus
        self._cache = cache
        self.activity_timeout = activity_timeout
        self.pong_timeout = pong_timeout
        self.signin_timeout = signin_timeout
        self._clock = clock
        self._rng = rng

    def open(self, key: str, query: Mapping[str, str], address: str | None = None) -> tuple[Connection, list[Output]]:
        """A WebSocket was opened on ``/app/{key}?{query}`` from ``address``: the handshake, or the refusal."""
        now = self._clock()
        state = self._apps.by_key.get(key)
        if state is None:
            conn = Connection(NO_APP, "0.0", now)
            return conn, self.refuse(conn, APP_NOT_FOUND, f"App key {key!r} does not exist.")
        raw_protocol = query.get("protocol")
        try:
            protocol = 7 if raw_protocol in (None, "") else int(raw_protocol)
        except ValueError:
            protocol = -1
        conn = Connection(state, self._new_socket_id(), now, address)
        if protocol not in SUPPORTED_PROTOCOLS:
            return conn, self.refuse(
                conn,
                UNSUPPORTED_PROTOCOL,
                f"Unsupported protocol version {raw_protocol!r}; this server speaks protocols 4 to 7.",
            )
        limit = state.config.max_connections
        if limit is not None and self._bus.connections(state) >= limit:
            return conn, self.refuse(conn, OVER_CAPACITY, f"Over capacity: the app allows {limit} connections.")
        state.connections[conn.socket_id] = conn
        handshake = encode(
            {
                "event": "pusher:connection_established",
                "data": encode({"socket_id": conn.socket_id, "activity_timeout": self.activity_timeout}),
            }
        )
        return conn, [SendFrame(conn, handshake)]

    def refuse(self, conn: Connection, code: int, message: str) -> list[Output]:
        """Turn away a connection that was never admitted: ``pusher:error``, then the close."""
        conn.closed = True
        return [SendFrame(conn, error_frame(code, message)), CloseConnection(conn, code, message)]

    def close(self, conn: Connection, code: int, message: str) -> list[Output]:
        """Close an admitted connection: ``pusher:error``, the close, and forget it."""
        outputs: list[Output] = [SendFrame(conn, error_frame(code, message)), CloseConnection(conn, code, message)]
        return outputs + self.detach(conn)

    def detach(self, conn: Connection) -> list[Output]:
        """Forget a connection: leave its channels, sign it out, free its slot."""
        conn.closed = True
        state = conn.app
        outputs: list[Output] = []
        for name in list(conn.channels):
            outputs += self._subscriptions.leave(conn, name)
        if conn.user_id is not None:
            sockets = state.users.get(conn.user_id)
            if sockets is not None:
                sockets.pop(conn, None)
                if not sockets:
                    del state.users[conn.user_id]
        state.connections.pop(conn.socket_id, None)
        return outputs

    def tick(self) -> list[Output]:
        """Time passed: ping quiet connections, close silent ones, drop expired cache entries.

        A connection silent for ``activity_timeout`` seconds is pinged; one that still says
        nothing ``pong_timeout`` seconds after that ping is closed with 4201. With a
        ``signin_timeout``, a connection not signed in that long after it opened is closed
        with 4009.
        """
        now = self._clock()
        ping_after = self.activity_timeout
        pong_timeout = self.pong_timeout
        signin_timeout = self.signin_timeout
        outputs: list[Output] = []
        for state in self._apps.states():
            for conn in list(state.connections.values()):
                if signin_timeout is not None and conn.user_id is None and now - conn.opened_at >= signin_timeout:
                    outputs += self.close(conn, UNAUTHORIZED, f"Connection not signed in within {signin_timeout:g} s.")
                    continue
                pinged_at = conn.pinged_at
                if pinged_at is not None:
                    if now - pinged_at >= pong_timeout:
                        silent = int(now - conn.last_seen)
                        outputs += self.close(
                            conn, PONG_NOT_RECEIVED, f"No activity for {silent} s; pong reply not received."
                        )
                elif now - conn.last_seen >= ping_after:
                    conn.pinged_at = now
                    outputs.append(SendFrame(conn, PING_FRAME))
            self._cache.expire(state)
        return outputs

    def shutdown(self) -> list[Output]:
        """The server is stopping: tell every client to reconnect at once (4200), forget everything.

        Linear in connections plus members: connections are not detached one by one (that
        would fan ``member_removed`` out to connections about to close, O(members**2) per
        presence channel). Subscribers are forgotten first, so the bus still learns of every
        member and channel that goes (and sends their webhooks) without fanning anything out.
        """
        message = "Server is shutting down; reconnect."
        frame = error_frame(RECONNECT_NOW, message)
        outputs: list[Output] = []
        bus = self._bus
        for state in self._apps.states():
            for conn in state.connections.values():
                conn.closed = True
                conn.channels.clear()
                outputs.append(SendFrame(conn, frame))
                outputs.append(CloseConnection(conn, RECONNECT_NOW, message))
            for name, channel in list(state.channels.items()):
                channel.subscribers.clear()
                for member_id in list(channel.members):
                    del channel.members[member_id]
                    outputs += bus.member_removed(state, name, member_id)
                del state.channels[name]
                outputs += bus.vacated(state, name)
            state.connections.clear()
            self._subscriptions.budget.clear()
            state.users.clear()
            state.cache.clear()
            state.cache_misses.clear()
        return outputs

    def _new_socket_id(self) -> str:
        rand = self._rng.randrange
        while True:
            socket_id = f"{rand(1, 10**10)}.{rand(1, 10**10)}"
            if all(socket_id not in s.connections for s in self._apps.states()):
                return socket_id
