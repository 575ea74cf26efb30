"""The embedded Pusher-protocol server: thin asyncio I/O on aiohttp around :mod:`pushbridge.protocol`.

One port serves the WebSocket endpoint ``/app/{key}`` (pusher-js, pysher...) and the HTTP API
``/apps/{app_id}/...`` (the official SDKs, pushbridge's own backends), like Soketi. Every rule
lives in :class:`pushbridge.protocol.PusherCore`; this module only moves bytes:

* Frames are written straight to each connection's transport, synchronously, as pre-built
  WebSocket frames. A published event is turned into wire bytes once and the same ``bytes``
  object is written to every subscriber. Nothing on the fan-out path awaits, so a slow reader
  cannot stall the loop that serves the others.
* Each connection's kernel-side backlog is bounded: when a transport's write buffer grows past
  ``max_buffer_bytes`` the client is dropped with ``pusher:error`` + close 4100 (pusher-js
  reconnects after a back-off) instead of the server buffering without limit.
* Compression is off, which is what makes writing pre-built frames next to aiohttp's own
  control frames safe: aiohttp writes uncompressed frames whole and synchronously too.

Run it with ``python -m pushbridge.server`` (see :func:`main`), ``manage.py pushbridge_server``,
or from Python with :class:`EmbeddedServer` (in a thread or inside a running event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import struct
import sys
import threading
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import WSCloseCode, WSMsgType, web

from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.limits import PUSHER_LIMITS, Limits
from pushbridge.protocol import (
    DEFAULT_ACTIVITY_TIMEOUT,
    OVER_CAPACITY,
    RECONNECT_NOW,
    AppConfig,
    CloseConnection,
    Connection,
    Fanout,
    Output,
    Pong,
    PusherCore,
    SendFrame,
    WebhookEvent,
    error_frame,
)
from pushbridge.webhooks_client import WebhookSender

logger = logging.getLogger("pushbridge.server")

T = TypeVar("T")

#: Soketi's defaults, so a project configured for a local Soketi works unchanged.

#: Environment variables read by the command line (flags win over them).
ENV_VARS = {
    "host": "PUSHBRIDGE_SERVER_HOST",
    "port": "PUSHBRIDGE_SERVER_PORT",
    "app_id": "PUSHBRIDGE_SERVER_APP_ID",
    "key": "PUSHBRIDGE_SERVER_KEY",
    "secret": "PUSHBRIDGE_SERVER_SECRET",
    "webhook_url": "PUSHBRIDGE_SERVER_WEBHOOK_URL",
}


@dataclass(frozen=True)
class ServerOptions:
    """Knobs of the I/O layer. The protocol's limits live on :class:`AppConfig`."""

    #: Largest WebSocket message a client may send. A bigger one is answered with
    #: ``pusher:error`` 4301 and dropped; the connection stays open. One so big that it is
    #: over :func:`hard_frame_limit` is not even read: the client gets ``pusher:error`` 4100
    #: and the connection is closed (1009). Never below :func:`min_frame_bytes` of an app's
    #: limits: :class:`EmbeddedServer` raises it to that.
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


#: Room in a client frame around its event data: names, JSON punctuation, escapes.
FRAME_ENVELOPE_BYTES = 4096
#: A server closes instead of reading a message this much bigger than ``max_frame_bytes``...
HARD_FRAME_FACTOR = 2
#: ...or this many bytes bigger, whichever is more.
HARD_FRAME_MARGIN = 64 * 1024


def min_frame_bytes(limits: Limits) -> int:
    """The smallest frame limit that lets through every client event ``limits`` accept.

    Event data counts twice (a data string travels JSON-escaped: quotes and backslashes
    double) plus :data:`FRAME_ENVELOPE_BYTES` for the rest of the frame.
    """
    return 2 * limits.max_payload_bytes + FRAME_ENVELOPE_BYTES


def hard_frame_limit(max_frame_bytes: int) -> int:
    """Size above which aiohttp stops reading a message and the connection is closed."""
    return max(HARD_FRAME_FACTOR * max_frame_bytes, max_frame_bytes + HARD_FRAME_MARGIN)


def websocket_text_frame(text: str) -> bytes:
    """Return ``text`` as one complete, unmasked WebSocket text frame (server to client).

    Built once per published event and written as is to every subscriber, so the per-subscriber
    cost is one ``transport.write``.
    """
    payload = text.encode("utf-8")
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def websocket_pong_frame(payload: bytes) -> bytes:
    """Return a complete, unmasked WebSocket pong frame (control frames carry <= 125 bytes)."""
    payload = bytes(payload[:125])
    return bytes((0x8A, len(payload))) + payload


#: WebSocket close codes aiohttp uses on its own when a client breaks the WebSocket protocol.
_PROTOCOL_FAILURES: dict[int, str] = {
    WSCloseCode.MESSAGE_TOO_BIG.value: "Message too large: over {limit} bytes (the limit is {soft} bytes a message).",
    WSCloseCode.INVALID_TEXT.value: "Invalid text frame: it is not UTF-8.",
    WSCloseCode.PROTOCOL_ERROR.value: "WebSocket protocol error.",
    WSCloseCode.UNSUPPORTED_DATA.value: "Unsupported WebSocket data.",
    WSCloseCode.POLICY_VIOLATION.value: "WebSocket policy violation.",
}


class _PusherWebSocketResponse(web.WebSocketResponse):
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


class _Peer:
    """The I/O layer's handle on a connection (``Connection.sink``)."""

    __slots__ = ("closing", "transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws = ws
        self.transport = transport
        self.closing: asyncio.Task[None] | None = None


class EmbeddedServer:
    """A Pusher-compatible server for one or more apps, on one host and port.

    Inside a running event loop: ``await server.start()`` ... ``await server.stop()`` (or
    ``async with server``). From synchronous code: ``server.start_in_thread()`` returns once the
    server listens, ``server.stop()`` stops it and joins the thread (or ``with server:``).
    ``port=0`` picks a free port; :attr:`port` then holds the real one.

    One app from ``app_id``/``key``/``secret`` (and ``webhook_url``, ``max_connections``,
    ``limits``), or several from ``apps``, with ``webhook_urls`` mapping app ids to the URL
    their webhooks go to. An app's ``webhooks`` flag follows from that mapping; a URL for an
    app id that is not hosted is a ``ValueError``.
    """

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        app_id: str = DEFAULT_APP_ID,
        key: str = DEFAULT_KEY,
        secret: str = DEFAULT_SECRET,
        webhook_url: str | None = None,
        apps: Sequence[AppConfig] | None = None,
        webhook_urls: dict[str, str] | None = None,
        options: ServerOptions | None = None,
        max_connections: int | None = None,
        limits: Limits = PUSHER_LIMITS,
    ) -> None:
        urls = dict(webhook_urls or {})
        if apps is None:
            apps = [AppConfig(app_id=app_id, key=key, secret=secret, limits=limits, max_connections=max_connections)]
            if webhook_url:
                urls.setdefault(app_id, webhook_url)
        elif webhook_url:
            raise ValueError(
                "webhook_url configures the single app built from app_id/key/secret; with apps, use webhook_urls."
            )
        hosted = [app.app_id for app in apps]
        unknown = sorted(set(urls) - set(hosted))
        if unknown:
            raise ValueError(
                f"webhook_urls names app id(s) {unknown} that the server does not host (it hosts {hosted})."
            )
        options = options or ServerOptions()
        needed = max((min_frame_bytes(app.limits) for app in apps), default=0)
        if options.max_frame_bytes < needed:
            # Raising the payload limit raises the frame limit with it: a client event the
            # protocol accepts must never be refused for its size as a frame.
            logger.info(
                "Frame limit raised from %d to %d bytes to fit the payload limit.", options.max_frame_bytes, needed
            )
            options = dataclasses.replace(options, max_frame_bytes=needed)
        self.host = host
        self.port = port
        self.options = options
        self.apps = [dataclasses.replace(app, webhooks=app.app_id in urls) for app in apps]
        self.webhook_urls = urls
        self.core = PusherCore(
            self.apps,
            activity_timeout=options.activity_timeout,
            pong_timeout=options.pong_timeout,
            max_message_bytes=options.max_frame_bytes,
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._stopping = False
        self._ticker: asyncio.Task[None] | None = None
        self._senders: dict[str, WebhookSender] = {}
        self._closing_tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._thread_stop: asyncio.Event | None = None

    # -- addresses ----------------------------------------------------------------------------

    @property
    def app(self) -> AppConfig:
        """The first (usually the only) app."""
        return self.apps[0]

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:6001``."""
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket URL of the first app, e.g. ``ws://127.0.0.1:6001/app/app-key``."""
        return f"ws://{_url_host(self.host)}:{self.port}/app/{self.app.key}"

    def settings_text(self) -> str:
        """What to paste into a Django project and a pusher-js page to use this server."""
        app = self.app
        host = _url_host(self.host if self.host not in ("0.0.0.0", "::", "") else DEFAULT_HOST)
        return "\n".join(
            [
                "Django settings:",
                "    PUSHBRIDGE = {",
                '        "default": {',
                '            "BACKEND": "embedded",',
                f'            "APP_ID": "{app.app_id}",',
                f'            "KEY": "{app.key}",',
                f'            "SECRET": "{app.secret}",',
                f'            "HOST": "{host}",',
                f'            "PORT": {self.port},',
                "        }",
                "    }",
                "or in the environment:",
                f"    PUSHBRIDGE_URL=http://{app.key}:{app.secret}@{host}:{self.port}/apps/{app.app_id}",
                "pusher-js options:",
                f'    new Pusher("{app.key}", {{cluster: "local", wsHost: "{host}", wsPort: {self.port}, '
                'forceTLS: false, enabledTransports: ["ws"]})',
            ]
        )

    # -- running inside an event loop ---------------------------------------------------------

    async def start(self) -> None:
        """Start listening (inside the running loop); returns once the port is bound."""
        if self._runner is not None:
            raise RuntimeError("The server is already running.")
        self.loop = asyncio.get_running_loop()
        application = web.Application(client_max_size=self.options.max_http_body_bytes)
        application.router.add_get("/app/{key}", self._websocket)
        application.router.add_route("*", "/{tail:.*}", self._http)
        runner = web.AppRunner(application, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner, self._site, self._stopping = runner, site, False
        addresses = runner.addresses
        if addresses:
            self.port = addresses[0][1]
        for app_id, url in self.webhook_urls.items():
            config = next(app for app in self.apps if app.app_id == app_id)
            sender = WebhookSender(url, config.key, config.secret)
            sender.start()
            self._senders[app_id] = sender
        self._ticker = asyncio.create_task(self._tick_forever(), name="pushbridge-ticker")
        logger.info("pushbridge server listening on %s (WebSocket %s)", self.url, self.ws_url)

    def stop(self) -> Awaitable[None]:
        """Stop the server: clients get ``pusher:error`` 4200 and a close, then the port closes.

        In a thread started by :meth:`start_in_thread` this blocks until the thread is gone and
        returns an already finished awaitable. Inside the server's own loop, ``await`` it.
        """
        if self._thread is not None:
            self._stop_thread()
            return _done()
        return self._stop()

    async def _stop(self) -> None:
        if self._runner is None:
            return
        # Stop accepting before telling clients to reconnect at once (4200): otherwise their
        # reconnects land on a server that is about to abort them without a pusher:error.
        self._stopping = True
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self._apply(self.core.shutdown())
        if self._closing_tasks:
            await asyncio.wait(set(self._closing_tasks), timeout=self.options.close_timeout + 1)
        for sender in self._senders.values():
            await sender.stop()
        self._senders.clear()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        logger.info("pushbridge server on %s stopped", self.url)

    async def serve_forever(self, stop: asyncio.Event | None = None) -> None:
        """Start, run until ``stop`` is set (or the task is cancelled), then stop cleanly."""
        await self.start()
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            await self._stop()

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    # -- running in a background thread -------------------------------------------------------

    def start_in_thread(self, timeout: float = 30.0) -> EmbeddedServer:
        """Run the server on its own event loop in a daemon thread; return once it listens."""
        if self._thread is not None:
            raise RuntimeError("The server is already running in a thread.")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def run() -> None:
            self._thread_stop = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._thread_stop.wait()
            finally:
                await self._stop()

        self._thread = threading.Thread(target=asyncio.run, args=(run(),), name="pushbridge-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"The pushbridge server did not start within {timeout} s.")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def call(self, function: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``function`` on the server's loop (thread-safe) and return its result.

        Lets tests and tools read :attr:`core` state without racing the server thread.
        """
        loop = self.loop
        if loop is None:
            raise RuntimeError("The server is not running.")

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def stats(self) -> dict[str, int]:
        """Connection and channel counts, read safely from any thread."""
        if self._thread is not None:
            return self.call(self.core.stats)
        return self.core.stats()

    def _stop_thread(self) -> None:
        thread, loop, stop = self._thread, self.loop, self._thread_stop
        if thread is None:
            return
        if loop is not None and stop is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        self._thread = None

    def __enter__(self) -> EmbeddedServer:
        return self.start_in_thread()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop_thread()

    # -- WebSocket ----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        options = self.options
        ws = _PusherWebSocketResponse(
            autoping=False,
            compress=False,
            max_msg_size=hard_frame_limit(options.max_frame_bytes),
            timeout=options.close_timeout,
        )
        ws.soft_limit = options.max_frame_bytes
        ws.hard_limit = hard_frame_limit(options.max_frame_bytes)
        if not ws.can_prepare(request).ok:
            return _json_response(400, {"error": "This is a WebSocket endpoint; connect with a Pusher client."})
        if self._stopping:  # a keep-alive connection that outlived the listening socket
            return _json_response(503, {"error": "The server is shutting down; reconnect shortly."})
        await ws.prepare(request)
        if self._stopping:  # shutdown began while the handshake was under way
            await self._refuse_unopened(ws)
            return ws
        transport = request.transport
        if transport is None:  # The client went away during the handshake.
            return ws
        assert isinstance(transport, asyncio.Transport)
        core = self.core
        try:
            conn, outputs = core.open(request.match_info["key"], request.query)
        except Exception:
            logger.exception("Opening a connection failed")
            await self._refuse_unopened(ws, OVER_CAPACITY, "Internal server error; reconnect after a back-off.")
            return ws
        peer = conn.sink = _Peer(ws, transport)
        self._apply(outputs)
        try:
            while not conn.closed:
                message = await ws.receive()
                kind = message.type
                try:
                    if kind is WSMsgType.TEXT:
                        outputs = core.receive(conn, message.data)
                    elif kind is WSMsgType.BINARY:
                        outputs = core.receive_binary(conn)
                    elif kind is WSMsgType.PING:
                        outputs = core.receive_ping(conn, message.data)
                    elif kind is WSMsgType.PONG:
                        core.touch(conn)
                        continue
                    else:  # CLOSE, CLOSING, CLOSED, ERROR: the client is gone or going.
                        break
                except Exception:
                    logger.exception("Handling a message from %r failed", conn)
                    outputs = self._internal_error(conn)
                self._apply(outputs)
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("Connection %s ended: %s", conn.socket_id, exc)
        finally:
            try:
                self._apply(core.closed(conn))
            except Exception:
                logger.exception("Forgetting %r failed", conn)
        if peer.closing is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await peer.closing
        return ws

    async def _refuse_unopened(
        self,
        ws: web.WebSocketResponse,
        code: int = RECONNECT_NOW,
        message: str = "Server is shutting down; reconnect.",
    ) -> None:
        """Refuse a connection the core never saw: ``pusher:error`` first, then the close."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.send_str(error_frame(code, message)), self.options.close_timeout)
            await asyncio.wait_for(ws.close(code=code, message=_close_reason(message)), self.options.close_timeout)

    def _internal_error(self, conn: Connection) -> list[Output]:
        """What to do when handling ``conn``'s input raised: tell it, close it (4100: back off)."""
        message = "Internal server error; reconnect after a back-off."
        try:
            return self.core.kick(conn, OVER_CAPACITY, message)
        except Exception:
            logger.exception("Closing %r after an internal error failed", conn)
            conn.closed = True
            return [SendFrame(conn, error_frame(OVER_CAPACITY, message)), CloseConnection(conn, OVER_CAPACITY, message)]

    def _apply(self, outputs: list[Output]) -> None:
        """Execute the core's outputs, in order.

        An output that fails is logged and costs only its own connection (``pusher:error``
        and a close), never the handler or the outputs after it.
        """
        for output in outputs:
            try:
                kind = type(output)
                if kind is Fanout:
                    assert isinstance(output, Fanout)
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
                    sender = self._senders.get(output.app.app_id)
                    if sender is not None:
                        sender.submit(output.event)
            except Exception:
                logger.exception("Carrying out %r failed", output)
                self._output_failed(output)

    def _output_failed(self, output: Output) -> None:
        if isinstance(output, (SendFrame, Pong)):
            conn = output.conn
            if not conn.closed:
                self._apply(self._internal_error(conn))
            elif conn.sink is not None:
                conn.sink.transport.abort()
        elif isinstance(output, CloseConnection) and output.conn.sink is not None:
            output.conn.sink.transport.abort()

    def _fanout(self, output: Fanout) -> None:
        """Write one pre-built frame to many connections: the hot path, kept minimal."""
        data = websocket_text_frame(output.frame)
        exclude = output.exclude
        limit = self.options.max_buffer_bytes
        laggards: list[Connection] = []
        for conn in output.targets:
            # Closed: dropped earlier in this same batch of outputs (a laggard, a kick); its
            # pusher:error and close are already queued and nothing may follow them.
            if conn is exclude or conn.closed:
                continue
            transport = conn.sink.transport
            if transport.is_closing():
                continue
            transport.write(data)
            if transport.get_write_buffer_size() > limit:
                laggards.append(conn)
        for conn in laggards:
            self._drop_slow(conn)

    def _send(self, conn: Connection, frame: str) -> None:
        peer: _Peer | None = conn.sink
        if peer is None or peer.closing is not None or peer.transport.is_closing():
            return
        peer.transport.write(websocket_text_frame(frame))
        if peer.transport.get_write_buffer_size() > self.options.max_buffer_bytes:
            self._drop_slow(conn)

    def _pong(self, conn: Connection, payload: bytes) -> None:
        peer: _Peer | None = conn.sink
        if peer is None or peer.closing is not None or peer.transport.is_closing():
            return
        peer.transport.write(websocket_pong_frame(payload))

    def _drop_slow(self, conn: Connection) -> None:
        """A client that does not read its messages is dropped (4100: reconnect after a back-off)."""
        if conn.closed:
            return
        logger.warning("Dropping %r: more than %d bytes waiting to be sent.", conn, self.options.max_buffer_bytes)
        self._apply(self.core.kick(conn, OVER_CAPACITY, "Client is too slow: too many messages waiting to be sent."))

    def _close(self, output: CloseConnection) -> None:
        peer: _Peer | None = output.conn.sink
        if peer is None or peer.closing is not None:
            return
        task = asyncio.ensure_future(self._close_peer(peer, output.code, output.reason))
        peer.closing = task
        self._closing_tasks.add(task)
        task.add_done_callback(self._closing_tasks.discard)

    async def _close_peer(self, peer: _Peer, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(peer.ws.close(code=code, message=_close_reason(reason)), self.options.close_timeout)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
            logger.debug("Closing a connection ended with %r", exc)
        finally:
            # A dead or stuck reader never drains its buffer: do not let it hold the socket.
            if not peer.transport.is_closing() or peer.transport.get_write_buffer_size():
                peer.transport.abort()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.tick_interval)
            try:
                self._apply(self.core.tick())
            except Exception:  # pragma: no cover - keep ticking whatever one tick did
                logger.exception("Timeout check failed")

    # -- HTTP ---------------------------------------------------------------------------------

    async def _http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and path in ("/", "/health"):
            return _json_response(200, {"ok": True, **self.core.stats()})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = self.options.max_http_body_bytes
            return _json_response(413, {"error": f"Request body is larger than {limit} bytes."})
        try:
            reply = self.core.http(request.method, request.raw_path, body)
        except Exception:
            logger.exception("HTTP API request %s %s failed", request.method, request.path)
            return _json_response(500, {"error": "Internal server error; the server log has the details."})
        self._apply(reply.outputs)
        return _json_response(reply.status, reply.body)


def _json_response(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _close_reason(reason: str) -> bytes:
    """``reason`` as a WebSocket close reason: at most 123 bytes (RFC 6455), still valid UTF-8."""
    return reason.encode("utf-8", "replace")[:123].decode("utf-8", "ignore").encode("utf-8")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class _Done:
    """An awaitable that is already finished (what a blocking ``stop()`` returns)."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


def _done() -> Awaitable[None]:
    return _Done()


# -- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m pushbridge.server``; defaults come from :data:`ENV_VARS`."""
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m pushbridge.server",
        description="Run pushbridge's embedded Pusher-protocol server (WebSocket + HTTP API on one port).",
        epilog="Environment variables: " + ", ".join(ENV_VARS.values()) + " (flags win).",
    )
    parser.add_argument("--host", default=env.get(ENV_VARS["host"], DEFAULT_HOST))
    parser.add_argument("--port", type=int, default=int(env.get(ENV_VARS["port"], DEFAULT_PORT)))
    parser.add_argument("--app-id", default=env.get(ENV_VARS["app_id"], DEFAULT_APP_ID))
    parser.add_argument("--key", default=env.get(ENV_VARS["key"], DEFAULT_KEY))
    parser.add_argument("--secret", default=env.get(ENV_VARS["secret"], DEFAULT_SECRET))
    parser.add_argument("--webhook-url", default=env.get(ENV_VARS["webhook_url"]) or None)
    parser.add_argument("--max-connections", type=int, default=None, help="per app; refused with 4100 beyond")
    parser.add_argument("--max-payload-bytes", type=int, default=PUSHER_LIMITS.max_payload_bytes)
    parser.add_argument("--max-presence-members", type=int, default=PUSHER_LIMITS.max_presence_members)
    parser.add_argument(
        "--max-channels-per-connection",
        type=int,
        default=PUSHER_LIMITS.max_channels_per_connection,
        help="subscriptions one connection may hold; refused with LimitReached beyond",
    )
    parser.add_argument(
        "--max-messages-per-second",
        type=int,
        default=PUSHER_LIMITS.max_messages_per_second,
        help="frames per second one connection may send on average (pusher:error 4301 beyond)",
    )
    parser.add_argument(
        "--max-messages-burst",
        type=int,
        default=PUSHER_LIMITS.max_messages_burst,
        help="frames one connection may send at once above that rate",
    )
    parser.add_argument(
        "--max-frame-bytes",
        type=int,
        default=ServerOptions.max_frame_bytes,
        help="largest message a client may send; raised to fit --max-payload-bytes if below it",
    )
    parser.add_argument("--max-buffer-bytes", type=int, default=ServerOptions.max_buffer_bytes)
    parser.add_argument("--activity-timeout", type=int, default=DEFAULT_ACTIVITY_TIMEOUT)
    parser.add_argument("--log-level", default="INFO")
    return parser


def server_from_args(args: argparse.Namespace) -> EmbeddedServer:
    """Build the server that parsed command-line arguments describe (not started yet).

    ``--max-frame-bytes`` below what ``--max-payload-bytes`` needs is raised to fit it.
    """
    limits = PUSHER_LIMITS.replace(
        max_payload_bytes=args.max_payload_bytes,
        max_presence_members=args.max_presence_members,
        max_channels_per_connection=args.max_channels_per_connection,
        max_messages_per_second=args.max_messages_per_second,
        max_messages_burst=args.max_messages_burst,
    )
    options = ServerOptions(
        max_frame_bytes=args.max_frame_bytes,
        max_buffer_bytes=args.max_buffer_bytes,
        activity_timeout=args.activity_timeout,
    )
    return EmbeddedServer(
        host=args.host,
        port=args.port,
        app_id=args.app_id,
        key=args.key,
        secret=args.secret,
        webhook_url=args.webhook_url,
        max_connections=args.max_connections,
        limits=limits,
        options=options,
    )


async def run_until_signalled(server: EmbeddedServer, announce: Callable[[EmbeddedServer], None]) -> None:
    """Run ``server`` until SIGINT or SIGTERM, then shut it down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows has no signal handlers.
            loop.add_signal_handler(signum, stop.set)
    await server.start()
    announce(server)
    try:
        await stop.wait()
    finally:
        print("Shutting down: clients are told to reconnect (4200).", flush=True)
        await server.stop()


def announce(server: EmbeddedServer) -> None:
    """Print where the server listens and the settings that point a project and pusher-js at it."""
    print(f"pushbridge server listening on {server.url} (WebSocket {server.ws_url})", flush=True)
    print(server.settings_text(), flush=True)
    if server.webhook_urls:
        print(f"Webhooks go to {', '.join(server.webhook_urls.values())}", flush=True)
    print("Press Ctrl-C to stop.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server from the command line until SIGINT or SIGTERM; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = server_from_args(args)
    with contextlib.suppress(KeyboardInterrupt):  # Only reached where signal handlers are missing.
        asyncio.run(run_until_signalled(server, announce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
