"""Admission at the TCP level: a cap on open connections, on connections per address, and a header timeout.

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
from typing import Any, cast

from pushbridge.engine.tally import Tally

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
        self.by_address = Tally()
        #: Connections turned away so far, by reason: ``connection_cap``, ``per_address``.
        self.refused: dict[str, int] = {}

    def admit(self, address: str | None) -> str | None:
        """Count a new connection from ``address``; return why it is refused, or ``None``."""
        if self.max_open is not None and self.open >= self.max_open:
            self._refuse("connection_cap")
            return f"Too many open connections: the server allows {self.max_open}. Retry later."
        key = address if address is not None and address not in self.exempt else None
        if key is not None and self.per_address is not None and self.by_address[key] >= self.per_address:
            self._refuse("per_address")
            return f"Too many connections from {key}: the limit is {self.per_address} per address."
        self.open += 1
        if key is not None:
            self.by_address.add(key)
        return None

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def release(self, address: str | None) -> None:
        """A connection admitted from ``address`` closed."""
        self.open -= 1
        if address is not None and address not in self.exempt:
            self.by_address.remove(address)


def refusal_response(status: int, phrase: str, reason: str) -> bytes:
    """A complete HTTP response ``status`` carrying ``{"error": reason}``, for a connection turned away."""
    body = json.dumps({"error": reason}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 5\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class AdmittedProtocol(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: admission, and the header-read timeout.

    A connection over the limits is answered with a 503 and closed. An admitted one must
    complete its first request's headers within ``header_timeout`` seconds, else it gets a
    408 and is closed (aiohttp's keep-alive timeout, set to the same value, bounds the
    requests after the first). When the send buffer goes over the transport's high-water mark,
    ``on_overflow(owner)`` is called too. Everything else is passed through to the wrapped
    protocol.

    One of these lives as long as its connection, so it is kept small: ``__slots__``, and the
    overflow hook is one callable for the whole server, told which connection overflowed by
    ``owner``, rather than a closure made for each connection (a ``functools.partial`` costs
    about 250 bytes a connection).
    """

    __slots__ = (
        "_address",
        "_admission",
        "_admitted",
        "_deadline",
        "_header_timeout",
        "_inner",
        "_tail",
        "on_overflow",
        "owner",
    )

    def __init__(self, inner: asyncio.Protocol, admission: Admission, header_timeout: float) -> None:
        self._inner = inner
        self._admission = admission
        self._header_timeout = header_timeout
        self._address: str | None = None
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""
        #: Called with :attr:`owner` when the send buffer goes over the transport's high-water mark.
        self.on_overflow: Callable[[Any], None] | None = None
        #: Whatever the application layer set for this connection (pushbridge: its core ``Connection``).
        self.owner: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        self._address = peer[0] if isinstance(peer, tuple) and peer else None
        reason = self._admission.admit(self._address)
        if reason is not None:
            logger.warning("Refused a connection from %s: %s", self._address, reason)
            transport.write(refusal_response(503, "Service Unavailable", reason))
            transport.close()
            return
        self._admitted = True
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._header_timeout, self._headers_too_slow, transport)
        self._inner.connection_made(transport)

    def _headers_too_slow(self, transport: asyncio.Transport) -> None:
        self._deadline = None
        reason = f"The request headers did not arrive within {self._header_timeout} s."
        logger.warning("Closing a connection from %s: %s", self._address, reason)
        transport.write(refusal_response(408, "Request Timeout", reason))
        transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._admission.release(self._address)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if self._deadline is not None:
            # Watch for the blank line that ends the first request's headers (it may be split
            # between two reads: keep the last three bytes).
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self._deadline.cancel()
                self._deadline = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._admitted else None

    def pause_writing(self) -> None:
        if self._admitted:
            self._inner.pause_writing()
            if self.on_overflow is not None:
                self.on_overflow(self.owner)

    def resume_writing(self) -> None:
        if self._admitted:
            self._inner.resume_writing()


def admitting(
    factory: Callable[[], asyncio.Protocol], admission: Admission, header_timeout: float
) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for ``loop.create_server`` that puts every connection through ``admission``."""
    return lambda: AdmittedProtocol(factory(), admission, header_timeout)


def admission_for(max_open: int | None, per_address: int | None, exempt: Iterable[str]) -> Admission:
    """The admission of a server: ``None`` limits take their defaults (see :func:`default_connection_cap`)."""
    cap = default_connection_cap() if max_open is None else max_open
    if per_address is None:
        per_address = default_per_address(cap or default_connection_cap())
    return Admission(cap, per_address, exempt)
