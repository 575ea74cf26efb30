"""Carrying out the core's outputs on real sockets: the fan-out hot path and the slow-client guard.

* Frames are written straight to each connection's transport, synchronously, as pre-built
  WebSocket frames. Nothing on the fan-out path awaits, so a slow reader cannot stall the loop
  that serves the others.
* Each connection's backlog is bounded: when a transport's write buffer grows past
  ``max_buffer_bytes`` the client is dropped with ``pusher:error`` + close 4100 (pusher-js
  reconnects after a back-off) instead of the server buffering without limit.
* Compression is off, which is what makes writing pre-built frames next to aiohttp's own
  control frames safe: aiohttp writes uncompressed frames whole and synchronously too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from pushbridge.engine.codec import error_frame
from pushbridge.engine.codes import OVER_CAPACITY
from pushbridge.engine.core import PusherCore
from pushbridge.engine.joined_writes import JoinedFanout, join_fanouts
from pushbridge.engine.options import ServerOptions
from pushbridge.engine.outputs import CloseConnection, Output, Pong, SendFrame, WebhookEvent
from pushbridge.engine.state import Connection
from pushbridge.engine.traffic import Traffic
from pushbridge.engine.wire import close_reason, websocket_pong_frame, websocket_text_frame

logger = logging.getLogger("pushbridge.server")


class Peer:
    """The I/O layer's handle on a connection (``Connection.sink``)."""

    __slots__ = ("closing", "transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws = ws
        self.transport = transport
        self.closing: asyncio.Task[None] | None = None


class OutputExecutor:
    """Executes outputs in order; an output that fails costs only its own connection."""

    def __init__(
        self, core: PusherCore, options: ServerOptions, webhook: Callable[[WebhookEvent], None], traffic: Traffic
    ) -> None:
        self.core = core
        self.options = options
        self._webhook = webhook
        self.traffic = traffic
        #: Closes under way (each waits for the client's close frame, within ``close_timeout``).
        self.closing_tasks: set[asyncio.Task[None]] = set()
        # Connections whose send buffer went over the limit during the current write.
        self._laggards: list[Connection] = []
        # Outputs of HTTP API requests, carried out together at the end of this loop iteration.
        self._soon: list[Output] = []

    def apply_soon(self, outputs: list[Output]) -> None:
        """Execute ``outputs`` at the end of this event-loop iteration, after those given before.

        The HTTP API's outputs come this way, and those of the cluster's bus. When the server
        is busy, several publish requests (or messages from other nodes) are read in one
        iteration of the loop; their events then go out together, so
        consecutive events to the same subscribers are joined into one write per connection
        (see :func:`join_fanouts`) even when each request carried a single event. Nothing
        waits longer than the iteration, and order holds: :meth:`apply` first carries out
        whatever is still waiting here.
        """
        if not outputs:
            return
        if not self._soon:
            asyncio.get_running_loop().call_soon(self._apply_waiting)
        self._soon.extend(outputs)

    def _apply_waiting(self) -> None:
        waiting, self._soon = self._soon, []
        self._apply(waiting)

    def apply(self, outputs: list[Output]) -> None:
        """Execute the core's outputs, in order, after any the HTTP API left waiting.

        An output that fails is logged and costs only its own connection (``pusher:error``
        and a close), never the handler or the outputs after it.
        """
        if self._soon:
            self._apply_waiting()
        self._apply(outputs)

    def _apply(self, outputs: list[Output]) -> None:
        for output in join_fanouts(outputs):
            try:
                kind = type(output)
                if kind is JoinedFanout:
                    assert isinstance(output, JoinedFanout)
                    self._fanout(output)
                elif kind is SendFrame:
                    assert isinstance(output, SendFrame)
                    self._send(output.conn, output.frame)
                elif kind is CloseConnection:
                    assert isinstance(output, CloseConnection)
                    self._close(output)
                elif kind is Pong:
                    assert isinstance(output, Pong)
                    self._pong(output.conn, output.payload)
                elif kind is WebhookEvent:
                    assert isinstance(output, WebhookEvent)
                    self._webhook(output)
            except Exception:
                logger.exception("Carrying out %r failed", output)
                self._output_failed(output)

    def internal_error(self, conn: Connection) -> list[Output]:
        """What to do when handling ``conn``'s input raised: tell it, close it (4100: back off)."""
        message = "Internal server error; reconnect after a back-off."
        try:
            return self.core.kick(conn, OVER_CAPACITY, message)
        except Exception:
            logger.exception("Closing %r after an internal error failed", conn)
            conn.closed = True
            return [SendFrame(conn, error_frame(OVER_CAPACITY, message)), CloseConnection(conn, OVER_CAPACITY, message)]

    def _output_failed(self, output: Output | JoinedFanout) -> None:
        if isinstance(output, (SendFrame, Pong)):
            conn = output.conn
            if not conn.closed:
                self._apply(self.internal_error(conn))
            elif conn.sink is not None:
                conn.sink.transport.abort()
        elif isinstance(output, CloseConnection) and output.conn.sink is not None:
            output.conn.sink.transport.abort()

    def overflowed(self, conn: Connection) -> None:
        """``conn``'s send buffer went over ``max_buffer_bytes`` (its transport paused writing).

        Called from inside ``transport.write``, by the transport's flow control (its high-water
        mark is the buffer limit): the client is dropped once the write under way is done. So
        the fan-out needs no buffer check per subscriber; profiling showed that check cost
        about 7 % of the loop.
        """
        self._laggards.append(conn)

    def _fanout(self, output: JoinedFanout) -> None:
        """Write ``output``'s pre-built frames to many connections: the hot path, kept minimal."""
        data = output.data
        exclude = output.exclude
        targets = output.targets
        skipped = 0
        for conn in targets:
            # Closed: dropped earlier in this same batch of outputs (a laggard, a kick); its
            # pusher:error and close are already queued and nothing may follow them.
            if conn is exclude or conn.closed:
                skipped += 1
                continue
            transport = conn.sink.transport
            if transport.is_closing():
                skipped += 1
                continue
            transport.write(data)
        traffic = self.traffic
        traffic.deliveries += (len(targets) - skipped) * output.count
        traffic.messages_out += (len(targets) - skipped) * output.count
        if self._laggards:
            self._drop_laggards()

    def _send(self, conn: Connection, frame: str) -> None:
        self._write_one(conn, websocket_text_frame(frame))

    def _pong(self, conn: Connection, payload: bytes) -> None:
        # Pongs obey the buffer limit like any frame: a client that pings but never reads
        # would otherwise grow the server's memory without bound.
        self._write_one(conn, websocket_pong_frame(payload))

    def _write_one(self, conn: Connection, data: bytes) -> None:
        """Write one frame to one open connection, then drop whoever went over its buffer."""
        peer: Peer | None = conn.sink
        if peer is None or peer.closing is not None or peer.transport.is_closing():
            return
        peer.transport.write(data)
        self.traffic.messages_out += 1
        if self._laggards:
            self._drop_laggards()

    def _drop_laggards(self) -> None:
        laggards, self._laggards = self._laggards, []
        for conn in laggards:
            self._drop_slow(conn)

    def _drop_slow(self, conn: Connection) -> None:
        """A client that does not read its messages is dropped (4100: reconnect after a back-off)."""
        if conn.closed:
            return
        logger.warning("Dropping %r: more than %d bytes waiting to be sent.", conn, self.options.max_buffer_bytes)
        dropped = self.traffic.dropped
        dropped["slow_client"] = dropped.get("slow_client", 0) + 1
        self._apply(self.core.kick(conn, OVER_CAPACITY, "Client is too slow: too many messages waiting to be sent."))

    def _close(self, output: CloseConnection) -> None:
        closed = self.traffic.closed
        closed[output.code] = closed.get(output.code, 0) + 1
        peer: Peer | None = output.conn.sink
        if peer is None or peer.closing is not None:
            return
        task = asyncio.ensure_future(self._close_peer(peer, output.code, output.reason))
        peer.closing = task
        self.closing_tasks.add(task)
        task.add_done_callback(self.closing_tasks.discard)

    async def _close_peer(self, peer: Peer, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(peer.ws.close(code=code, message=close_reason(reason)), self.options.close_timeout)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
            logger.debug("Closing a connection ended with %r", exc)
        finally:
            # A dead or stuck reader never drains its buffer: do not let it hold the socket.
            if not peer.transport.is_closing() or peer.transport.get_write_buffer_size():
                peer.transport.abort()
