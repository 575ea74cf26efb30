"""What the core asks the I/O layer to do.

Every method of the core returns a list of these; the I/O layer carries them out in order.
Fan-out is the hot path: a published event is encoded into its frame once and one
:class:`Fanout` hands that same ``str`` and a snapshot of the subscribers to the I/O layer.
The core never builds one output per subscriber.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from pushbridge.engine.config import AppConfig

if TYPE_CHECKING:
    from pushbridge.engine.state import Connection


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
