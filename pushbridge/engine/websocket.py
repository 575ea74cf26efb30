"""The WebSocket endpoint ``/app/{key}``: reads one client's frames and feeds them to the core."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from pushbridge.engine.admission import AdmittedProtocol
from pushbridge.engine.codec import error_frame
from pushbridge.engine.codes import OVER_CAPACITY, RECONNECT_NOW
from pushbridge.engine.core import PusherCore
from pushbridge.engine.executor import OutputExecutor, Peer
from pushbridge.engine.http_endpoint import json_response
from pushbridge.engine.options import ServerOptions, hard_frame_limit
from pushbridge.engine.state import Connection
from pushbridge.engine.wire import close_reason

logger = logging.getLogger("pushbridge.server")

#: WebSocket close codes aiohttp uses on its own when a client breaks the WebSocket protocol.
_PROTOCOL_FAILURES: dict[int, str] = {
    WSCloseCode.MESSAGE_TOO_BIG.value: "Message too large: over {limit} bytes (the limit is {soft} bytes a message).",
    WSCloseCode.INVALID_TEXT.value: "Invalid text frame: it is not UTF-8.",
    WSCloseCode.PROTOCOL_ERROR.value: "WebSocket protocol error.",
    WSCloseCode.UNSUPPORTED_DATA.value: "Unsupported WebSocket data.",
    WSCloseCode.POLICY_VIOLATION.value: "WebSocket policy violation.",
}


class PusherWebSocketResponse(web.WebSocketResponse):
    """aiohttp's WebSocket response, made to say ``pusher:error`` before it closes on its own.

    When a client breaks the WebSocket protocol (a message over the hard size limit, a text
    frame that is not UTF-8...) aiohttp's ``receive()`` closes the connection itself (1009,
    1007, 1002...). Pusher clients act on the ``pusher:error`` frame, not the close code --
    pysher stops for good after a bare close -- so that close sends one first: 4100, which
    makes both pusher-js and pysher reconnect after a back-off.
    """

    soft_limit = 0
    hard_limit = 0

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True) -> bool:
        template = _PROTOCOL_FAILURES.get(code)
        if template is not None and not self.closed:
            text = template.format(limit=self.hard_limit, soft=self.soft_limit)
            text += " Closing; reconnect after a back-off."
            with contextlib.suppress(Exception):
                await self.send_str(error_frame(OVER_CAPACITY, text))
        return await super().close(code=code, message=message, drain=drain)


class WebSocketEndpoint:
    """The handler of ``/app/{key}`` (see :mod:`.routes`); ``stopping`` says whether shutdown has begun."""

    def __init__(
        self, core: PusherCore, executor: OutputExecutor, options: ServerOptions, stopping: Callable[[], bool]
    ) -> None:
        self.core = core
        self.executor = executor
        self.options = options
        self._stopping = stopping
        # Made once for the server, not once a connection: each handler holds what it names
        # for as long as its connection lives, and a bound method or a large integer made
        # there would cost every idle connection its own copy.
        self._apply = executor.apply
        self._overflowed = executor.overflowed
        self._hard_limit = hard_frame_limit(options.max_frame_bytes)

    async def handle(self, request: web.BaseRequest, key: str) -> web.StreamResponse:
        options = self.options
        ws = PusherWebSocketResponse(
            autoping=False,
            compress=False,
            max_msg_size=self._hard_limit,
            timeout=options.close_timeout,
        )
        ws.soft_limit = options.max_frame_bytes
        ws.hard_limit = self._hard_limit
        if not ws.can_prepare(request).ok:
            return json_response(400, {"error": "This is a WebSocket endpoint; connect with a Pusher client."})
        if self._stopping():  # a keep-alive connection that outlived the listening socket
            return json_response(503, {"error": "The server is shutting down; reconnect shortly."})
        await ws.prepare(request)
        if self._stopping():  # shutdown began while the handshake was under way
            await self.refuse_unopened(ws)
            return ws
        transport = request.transport
        if transport is None:  # The client went away during the handshake.
            return ws
        assert isinstance(transport, asyncio.Transport)
        core, apply = self.core, self._apply
        try:
            conn, outputs = core.open(key, _query(request), self._address(transport))
        except Exception:
            logger.exception("Opening a connection failed")
            await self.refuse_unopened(ws, OVER_CAPACITY, "Internal server error; reconnect after a back-off.")
            return ws
        peer = conn.sink = Peer(ws, transport)
        # The buffer limit is the transport's high-water mark: going over it pauses writing,
        # which our protocol reports to the executor (the connection is then dropped).
        transport.set_write_buffer_limits(high=options.max_buffer_bytes)
        protocol = transport.get_protocol()
        if isinstance(protocol, AdmittedProtocol):  # Always, behind the server's own listening site.
            protocol.on_overflow = self._overflowed
            protocol.owner = conn
        self.executor.traffic.connections_opened += 1
        apply(outputs)
        del outputs  # The handshake is sent: do not keep its frame for the life of the connection.
        try:
            # The message goes straight into the call: nothing of it stays referenced by this
            # frame while it waits for the next one.
            while not conn.closed and self._dispatch(conn, await ws.receive()):
                pass
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("Connection %s ended: %s", conn.socket_id, exc)
        finally:
            try:
                apply(core.closed(conn))
            except Exception:
                logger.exception("Forgetting %r failed", conn)
        if peer.closing is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await peer.closing
        return ws

    def _dispatch(self, conn: Connection, message: WSMessage) -> bool:
        """Hand one message to the core and carry out its outputs; ``False`` once the client is gone or going.

        A method of its own so that the message and the outputs are freed on return, not kept
        by the handler (which lives as long as the connection) until the next message arrives.
        """
        core = self.core
        kind = message.type
        try:
            if kind is WSMsgType.TEXT:
                outputs = core.receive(conn, message.data)
            elif kind is WSMsgType.BINARY:
                outputs = core.receive_binary(conn)
            elif kind is WSMsgType.PING:
                outputs = core.receive_ping(conn, message.data)
            elif kind is WSMsgType.PONG:
                outputs = core.receive_pong(conn)
            else:  # CLOSE, CLOSING, CLOSED, ERROR: the client is gone or going.
                return False
            self.executor.traffic.messages_in += 1
        except Exception:
            logger.exception("Handling a message from %r failed", conn)
            outputs = self.executor.internal_error(conn)
        self._apply(outputs)
        return True

    def _address(self, transport: asyncio.Transport) -> str | None:
        """The client's address, for its budgets; ``None`` for a trusted proxy (not counted)."""
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) and peer else None
        return None if address in self.options.trusted_proxies else address

    async def refuse_unopened(
        self,
        ws: web.WebSocketResponse,
        code: int = RECONNECT_NOW,
        message: str = "Server is shutting down; reconnect.",
    ) -> None:
        """Refuse a connection the core never saw: ``pusher:error`` first, then the close."""
        timeout = self.options.close_timeout
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.send_str(error_frame(code, message)), timeout)
            await asyncio.wait_for(ws.close(code=code, message=close_reason(message)), timeout)


def _query(request: web.BaseRequest) -> dict[str, str]:
    """The query parameters of ``request`` (the first value of each), parsed for one use.

    ``request.query`` would keep its parsed copy on the request, and aiohttp keeps the request
    for as long as the WebSocket is open: about 200 bytes a connection, for a value read once.
    """
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True):
        query.setdefault(name, value)
    return query
