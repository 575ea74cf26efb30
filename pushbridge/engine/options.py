"""Knobs of the I/O layer, and how the frame size limit follows from the protocol's limits."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pushbridge.engine.codes import DEFAULT_ACTIVITY_TIMEOUT
from pushbridge.limits import Limits

logger = logging.getLogger("pushbridge.server")

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
    #: Seconds a client has to send a request's headers (and an HTTP API request its body);
    #: an idle keep-alive HTTP connection is closed after as long. WebSockets are not affected.
    header_timeout: float = 10.0
    #: Open TCP connections (WebSocket and HTTP) the server accepts; beyond, a 503 and the
    #: close. ``None``: the process's descriptor limit less a reserve; 0: no cap.
    max_open_connections: int | None = None
    #: Open TCP connections one client address may hold. ``None``: 256, or half the cap if
    #: less; 0: no limit. Addresses in ``trusted_proxies`` are exempt.
    max_connections_per_address: int | None = None
    #: Subscriptions all the connections of one client address may hold (0: no limit).
    max_subscriptions_per_address: int = 10_000
    #: Seconds between the start of a shutdown and telling clients to reconnect: ``/ready``
    #: already answers 503 and new WebSockets are refused, so a load balancer has time to
    #: notice and send clients elsewhere.
    drain_grace: float = 0.0
    #: Origins whose pages may call the HTTP side from a browser (CORS); ``*``: any.
    cors_origins: frozenset[str] = frozenset({"*"})
    #: Seconds a connection has to sign in (``pusher:signin``) before it is closed with 4009;
    #: ``None``: no limit (Pusher's default).
    signin_timeout: float | None = None
    #: Addresses exempt from the limits per address: reverse proxies every client arrives
    #: through (which would otherwise count all clients as one). By default the local host's
    #: own addresses, where a proxy on the same machine (and a local load test) connects from.
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})


def min_frame_bytes(limits: Limits) -> int:
    """The smallest frame limit that lets through every client event ``limits`` accept.

    Event data counts twice (a data string travels JSON-escaped: quotes and backslashes
    double) plus :data:`FRAME_ENVELOPE_BYTES` for the rest of the frame.
    """
    return 2 * limits.max_payload_bytes + FRAME_ENVELOPE_BYTES


def hard_frame_limit(max_frame_bytes: int) -> int:
    """Size above which aiohttp stops reading a message and the connection is closed."""
    return max(HARD_FRAME_FACTOR * max_frame_bytes, max_frame_bytes + HARD_FRAME_MARGIN)


def fit_frame_limit(options: ServerOptions, limits: Iterable[Limits]) -> ServerOptions:
    """``options`` with ``max_frame_bytes`` raised, if needed, to :func:`min_frame_bytes` of every ``limits``.

    Raising the payload limit raises the frame limit with it: a client event the protocol
    accepts must never be refused for its size as a frame.
    """
    needed = max((min_frame_bytes(each) for each in limits), default=0)
    if options.max_frame_bytes >= needed:
        return options
    logger.info("Frame limit raised from %d to %d bytes to fit the payload limit.", options.max_frame_bytes, needed)
    return dataclasses.replace(options, max_frame_bytes=needed)
