"""What the core remembers on this node: connections, channels, presence members, the cache.

Plain records with ``__slots__`` (there is one :class:`Connection` per client, so its size is
the server's memory per idle connection). The rules that change them live elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pushbridge.engine.config import AppConfig


class Connection:
    """One WebSocket connection, as the core sees it.

    ``channels`` maps each subscribed channel to the presence user id it joined as (``None``
    for other channels). ``pinged_at`` is when the server pinged it and is still waiting for
    a sign of life (``None`` when not waiting). ``tokens`` / ``tokens_at`` are its inbound
    rate limit (a token bucket) and ``refused`` the frames refused in a row for that limit.
    ``sink`` belongs to the I/O layer (its handle for writing); the core never looks at it.
    ``address`` is the client's address, for the budgets kept per address (``None``: not counted).
    """

    __slots__ = (
        "address",
        "app",
        "channels",
        "client_window",
        "client_window_count",
        "closed",
        "last_seen",
        "opened_at",
        "pinged_at",
        "refused",
        "sink",
        "socket_id",
        "tokens",
        "tokens_at",
        "user_id",
        "user_info",
    )

    def __init__(self, app: AppState, socket_id: str, now: float, address: str | None = None) -> None:
        self.address = address
        self.app = app
        self.socket_id = socket_id
        self.channels: dict[str, str | None] = {}
        self.closed = False
        self.last_seen = now
        self.opened_at = now
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


class Member:
    """A presence member on this node: one user id, possibly on several sockets."""

    __slots__ = ("info", "sockets")

    def __init__(self, info: Any) -> None:
        self.info = info
        self.sockets: set[Connection] = set()


class Channel:
    """A channel with at least one subscriber on this node."""

    __slots__ = ("members", "name", "subscribers")

    def __init__(self, name: str) -> None:
        self.name = name
        # An insertion-ordered set: dict keys iterate fast and delete in O(1).
        self.subscribers: dict[Connection, None] = {}
        self.members: dict[str, Member] = {}


@dataclass
class CachedEvent:
    """The last event of a cache channel: its frame (replayed as is) and its data."""

    frame: str
    data: str
    expires: float


class AppState:
    """Everything this node knows about one app."""

    __slots__ = ("cache", "cache_misses", "channels", "config", "connections", "users")

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.connections: dict[str, Connection] = {}
        self.channels: dict[str, Channel] = {}
        # Signed-in user id -> that user's connections (what #server-to-user- reaches).
        self.users: dict[str, dict[Connection, None]] = {}
        self.cache: dict[str, CachedEvent] = {}
        # Cache channel -> when its last cache_miss webhook went out (de-duplication).
        self.cache_misses: dict[str, float] = {}


#: A home for connections refused before they belonged to any app (unknown key).
NO_APP = AppState(AppConfig(app_id="", key="", secret=""))
