"""Knobs of the I/O layer, and how the frame size limit follows from the protocol's limits."""

from __future__ import annotations

from dataclasses import dataclass

from pushbridge.engine.codes import DEFAULT_ACTIVITY_TIMEOUT
from pushbridge.limits import Limits

#: Room in a client frame around its event data: names, JSON punctuation, escapes.
FRAME_ENVELOPE_BYTES = 4096
#: A server closes instead of reading a message this much bigger than ``max_frame_bytes``...
HARD_FRAME_FACTOR = 2
#: ...or this many bytes bigger, whichever is more.
HARD_FRAME_MARGIN = 64 * 1024


@dataclass(frozen=True)
class ServerOptions:
    """Knobs of the I/O layer. The protocol's limits live on :class:`~pushbridge.engine.config.AppConfig`."""

    #: Largest WebSocket message a client may send. A bigger one is answered with
    #: ``pusher:error`` 4301 and dropped; the connection stays open. One so big that it is
    #: over :func:`hard_frame_limit` is not even read: the client gets ``pusher:error`` 4100
    #: and the connection is closed (1009). Never below :func:`min_frame_bytes` of an app's
    #: limits: :class:`~pushbridge.engine.embedded.EmbeddedServer` raises it to that.
    max_frame_bytes: int = 100 * 1024
    #: Bytes a connection may have waiting in its send buffer before it is dropped (4100).
    max_buffer_bytes: int = 1024 * 1024
    #: Largest HTTP API body accepted (a batch of 10 events of 10 KB fits easily).
    max_http_body_bytes: int = 1024 * 1024
    #: Seconds announced to clients; the server pings after this much silence.
    activity_timeout: int = DEFAULT_ACTIVITY_TIMEOUT
    #: Extra seconds of silence after the ping before closing with 4201.
    pong_timeout: float = 30.0
    #: How often timeouts are checked.
    tick_interval: float = 5.0
    #: How long a close waits for the client's close frame before the socket is aborted.
    close_timeout: float = 5.0


def min_frame_bytes(limits: Limits) -> int:
    """The smallest frame limit that lets through every client event ``limits`` accept.

    Event data counts twice (a data string travels JSON-escaped: quotes and backslashes
    double) plus :data:`FRAME_ENVELOPE_BYTES` for the rest of the frame.
    """
    return 2 * limits.max_payload_bytes + FRAME_ENVELOPE_BYTES


def hard_frame_limit(max_frame_bytes: int) -> int:
    """Size above which aiohttp stops reading a message and the connection is closed."""
    return max(HARD_FRAME_FACTOR * max_frame_bytes, max_frame_bytes + HARD_FRAME_MARGIN)
