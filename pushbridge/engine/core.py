"""The Pusher protocol state machine, sans I/O: the rooms of the core wired together.

Nothing here touches a socket, a clock it was not given, an event loop or Django. The I/O
layer feeds :class:`PusherCore` parsed input -- a connection opened, a text frame received, a
tick of the clock, an HTTP API request -- and carries out the outputs it gets back. Keeping the
rules here means every rule of the protocol can be unit-tested without a network, and the I/O
layer stays a thin loop that can be made fast.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping

from pushbridge.engine.apps import Apps
from pushbridge.engine.budget import SubscriptionBudget
from pushbridge.engine.bus import Bus, LocalBus
from pushbridge.engine.cache import CacheChannels
from pushbridge.engine.client_events import ClientEvents
from pushbridge.engine.codes import DEFAULT_ACTIVITY_TIMEOUT, DEFAULT_CACHE_MISS_WINDOW, DEFAULT_PONG_TIMEOUT
from pushbridge.engine.config import AppConfig
from pushbridge.engine.connections import Connections
from pushbridge.engine.drops import Drops
from pushbridge.engine.http_api import HttpApi
from pushbridge.engine.messages import Messages
from pushbridge.engine.outputs import HttpReply, Output
from pushbridge.engine.publishing import Publisher
from pushbridge.engine.state import Connection
from pushbridge.engine.subscriptions import Subscriptions


class PusherCore:
    """The Pusher protocol for a set of apps.

    Every method takes parsed input and returns a list of :data:`~.outputs.Output` (or an
    :class:`~.outputs.HttpReply`); the caller carries them out in order. ``clock`` is a
    monotonic clock for timeouts and cache expiry; ``wall_clock`` (Unix seconds) checks HTTP
    API timestamps. ``max_message_bytes`` bounds one frame from a client (UTF-8 bytes;
    ``None``: no bound). ``cache_miss_window`` is how long further ``cache_miss`` webhooks of
    a channel are held back. ``bus`` is where events fan out and channel state is shared
    (:class:`~.bus.LocalBus`, the default, for a single process).
    ``max_subscriptions_per_address`` bounds the subscriptions held by all the connections of
    one client address (``None``: no bound); see :meth:`open`. ``signin_timeout`` closes
    connections that have not signed in that many seconds after opening (``None``: never).
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
        bus: Bus | None = None,
        max_subscriptions_per_address: int | None = None,
        signin_timeout: float | None = None,
    ) -> None:
        if activity_timeout <= 0:
            raise ValueError("activity_timeout must be positive: pusher-js refuses a handshake without one.")
        self._apps = Apps(apps)
        self.bus: Bus = bus if bus is not None else LocalBus()
        self._cache = CacheChannels(clock, cache_miss_window)
        subscriptions = Subscriptions(self.bus, self._cache, SubscriptionBudget(max_subscriptions_per_address))
        self._connections = Connections(
            self._apps,
            subscriptions,
            self.bus,
            self._cache,
            activity_timeout=activity_timeout,
            pong_timeout=pong_timeout,
            signin_timeout=signin_timeout,
            clock=clock,
            rng=rng or random.Random(),
        )
        self.publisher = Publisher(self.bus, self._cache)
        #: Messages refused so far, by reason (for metrics).
        self.drops = Drops()
        self._messages = Messages(
            self._connections,
            subscriptions,
            ClientEvents(self.bus, clock, self.drops),
            clock=clock,
            max_message_bytes=max_message_bytes,
            drops=self.drops,
        )
        self._http = HttpApi(
            self._apps, self.bus, self.publisher, self._cache, self._connections, wall_clock=wall_clock
        )
        self.bus.bind(self._apps.by_id, self.kick)

    # -- settings -------------------------------------------------------------------------------

    @property
    def activity_timeout(self) -> int:
        """Seconds of silence before a ping, as announced in the handshake."""
        return self._connections.activity_timeout

    @property
    def pong_timeout(self) -> float:
        """Seconds a pinged client has to answer before it is closed with 4201."""
        return self._connections.pong_timeout

    @property
    def max_message_bytes(self) -> int | None:
        """The largest text frame a client may send, in UTF-8 bytes."""
        return self._messages.max_message_bytes

    @property
    def cache_miss_window(self) -> float:
        """Seconds during which a cache channel's further ``cache_miss`` webhooks are held back."""
        return self._cache.miss_window

    # -- introspection --------------------------------------------------------------------------

    @property
    def apps(self) -> list[AppConfig]:
        """The configuration of every app this core hosts, in the order they were given."""
        return [state.config for state in self._apps.states()]

    def connections(self, app_id: str | None = None) -> list[Connection]:
        """Live connections of app ``app_id``, or of all apps when ``app_id`` is ``None``.

        An ``app_id`` the core does not host is a ``ValueError``.
        """
        states = [self._apps.get(app_id)] if app_id is not None else list(self._apps.states())
        return [conn for state in states for conn in state.connections.values()]

    def stats(self) -> dict[str, int]:
        """Counts on this node over all apps, for the health endpoint and for tests that wait.

        ``members`` counts presence members (user ids) over all presence channels; ``cached``
        counts cache channels holding an event (expired ones leave on the next :meth:`tick`).
        """
        states = list(self._apps.states())
        return {
            "apps": len(states),
            "connections": sum(len(s.connections) for s in states),
            "channels": sum(len(s.channels) for s in states),
            "subscriptions": sum(len(conn.channels) for s in states for conn in s.connections.values()),
            "users": sum(len(s.users) for s in states),
            "members": sum(len(c.members) for s in states for c in s.channels.values()),
            "cached": sum(len(s.cache) for s in states),
        }

    def subscription_count(self, channel: str, app_id: str | None = None) -> int:
        """How many connections of app ``app_id`` on this node are subscribed to ``channel``.

        ``app_id`` may be left out only while the core hosts a single app: with several, that
        is a ``ValueError`` rather than a guess. An unknown ``app_id`` is a ``ValueError`` too.
        """
        found = self._apps.get(app_id).channels.get(channel)
        return len(found.subscribers) if found else 0

    # -- connections ----------------------------------------------------------------------------

    def open(self, key: str, query: Mapping[str, str], address: str | None = None) -> tuple[Connection, list[Output]]:
        """A WebSocket was opened on ``/app/{key}?{query}`` by a client at ``address``.

        Returns the connection (already closed if it was refused) and the handshake, or the
        error frame and close that refuse it. ``address`` counts the connection's
        subscriptions against its address's budget (``None``: not counted).
        """
        return self._connections.open(key, query, address)

    def closed(self, conn: Connection) -> list[Output]:
        """The connection is gone (the peer closed it or the network dropped it)."""
        if conn.closed:
            return []
        return self._connections.detach(conn)

    def kick(self, conn: Connection, code: int, message: str) -> list[Output]:
        """Close a connection for a reason found by the I/O layer (e.g. it reads too slowly)."""
        if conn.closed:
            return []
        return self._connections.close(conn, code, message)

    def tick(self) -> list[Output]:
        """Time passed: ping quiet connections, close silent ones (4201), expire the cache.

        Called every few seconds by the I/O layer; only needs to be called often enough for
        the timeouts' precision, never per connection.
        """
        return self._connections.tick()

    def shutdown(self) -> list[Output]:
        """The server is stopping: every client is told to reconnect at once (4200)."""
        return self._connections.shutdown()

    # -- what clients send ----------------------------------------------------------------------

    def receive(self, conn: Connection, text: str) -> list[Output]:
        """A text frame arrived from ``conn``."""
        return self._messages.receive(conn, text)

    def receive_binary(self, conn: Connection) -> list[Output]:
        """A binary frame arrived: Pusher only speaks text frames."""
        return self._messages.receive_binary(conn)

    def receive_ping(self, conn: Connection, payload: bytes) -> list[Output]:
        """A WebSocket-level ping arrived: answer it with a pong, within the rate limit."""
        return self._messages.receive_ping(conn, payload)

    def receive_pong(self, conn: Connection) -> list[Output]:
        """An unsolicited WebSocket-level pong arrived: charged to the rate limit, nothing more."""
        return self._messages.receive_pong(conn)

    # -- HTTP API -------------------------------------------------------------------------------

    def http(self, method: str, target: str, body: bytes) -> HttpReply:
        """Answer an HTTP API request; ``target`` is the raw path and query string as received."""
        return self._http.handle(method, target, body)
