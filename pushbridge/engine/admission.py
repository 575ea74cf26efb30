"""Admission at the TCP level: a cap on open connections, and on connections per client address.

Checked when a connection is accepted, before a byte of HTTP is read, so a flood of connections
that never finish their request cannot take every file descriptor: the server turns the
excess away at once (an HTTP 503 naming the limit, then the close) and keeps room for clients
from other addresses. Connections from ``exempt`` addresses (a trusted reverse proxy, through
which every client arrives) are counted only against the overall cap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import Callable, Iterable

logger = logging.getLogger("pushbridge.server")

#: Descriptors kept free below the process's limit for everything but client sockets
#: (the listening socket, webhook requests, log files...): a tenth, at least this many.
DESCRIPTOR_RESERVE = 32
#: The per-address limit when none is given: at most this, and at most half the cap.
DEFAULT_PER_ADDRESS = 256


def default_connection_cap() -> int:
    """Open connections allowed when no cap is given: the descriptor limit, less a reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(1, soft - max(DESCRIPTOR_RESERVE, soft // 10))


def default_per_address(cap: int) -> int:
    """Connections one address may hold when no limit is given: enough for a busy NAT, not the server."""
    return max(1, min(DEFAULT_PER_ADDRESS, cap // 2))


class Admission:
    """Counts open connections, overall and per address; ``None`` or 0 for a limit means none."""

    def __init__(self, max_open: int | None, per_address: int | None, exempt: Iterable[str] = ()) -> None:
        self.max_open = max_open or None
        self.per_address = per_address or None
        self.exempt = frozenset(exempt)
        self.open = 0
        self.by_address: dict[str, int] = {}

    def admit(self, address: str | None) -> str | None:
        """Count a new connection from ``address``; return why it is refused, or ``None``."""
        if self.max_open is not None and self.open >= self.max_open:
            return f"Too many open connections: the server allows {self.max_open}. Retry later."
        key = address if address is not None and address not in self.exempt else None
        if key is not None and self.per_address is not None:
            held = self.by_address.get(key, 0)
            if held >= self.per_address:
                return f"Too many connections from {key}: the limit is {self.per_address} per address."
        self.open += 1
        if key is not None:
            self.by_address[key] = self.by_address.get(key, 0) + 1
        return None

    def release(self, address: str | None) -> None:
        """A connection admitted from ``address`` closed."""
        self.open -= 1
        if address is None or address in self.exempt:
            return
        held = self.by_address.get(address, 0) - 1
        if held > 0:
            self.by_address[address] = held
        else:
            self.by_address.pop(address, None)


def refusal_response(reason: str) -> bytes:
    """A complete HTTP 503 response carrying ``{"error": reason}``, for a connection turned away."""
    body = json.dumps({"error": reason}).encode("utf-8")
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 5\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class AdmittedProtocol(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: admits it, or turns it away, and counts it out.

    Everything else is passed through to the wrapped protocol untouched.
    """

    __slots__ = ("_address", "_admission", "_admitted", "_inner")

    def __init__(self, inner: asyncio.Protocol, admission: Admission) -> None:
        self._inner = inner
        self._admission = admission
        self._address: str | None = None
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._address = peer[0] if isinstance(peer, tuple) and peer else None
        reason = self._admission.admit(self._address)
        if reason is not None:
            logger.warning("Refused a connection from %s: %s", self._address, reason)
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(refusal_response(reason))
            transport.close()
            return
        self._admitted = True
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._admission.release(self._address)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._admitted:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


def admitting(factory: Callable[[], asyncio.Protocol], admission: Admission) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for ``loop.create_server`` that puts every connection through ``admission``."""
    return lambda: AdmittedProtocol(factory(), admission)
