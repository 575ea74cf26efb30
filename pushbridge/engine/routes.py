"""Which endpoint answers a request: ``/app/{key}`` the WebSocket one, every other path the HTTP one.

The server runs on aiohttp's low-level server, which calls :class:`Routes` for each request,
with no ``web.Application`` in between. An application's routing would cost every open
WebSocket about 0.6 KB for as long as it stays open (measured with tracemalloc over 1,000
idle connections): its handler coroutine, the match info and the larger request class all
stay referenced while the WebSocket handler runs, and two fixed routes need none of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from pushbridge.engine.http_endpoint import HttpEndpoint
from pushbridge.engine.websocket import WebSocketEndpoint

#: The WebSocket endpoint's path, before the app key.
WEBSOCKET_PREFIX = "/app/"


def websocket_key(request: web.BaseRequest) -> str | None:
    """The app key of a request for ``/app/{key}`` (``GET``, or ``HEAD``); ``None`` for any other request."""
    if request.method not in ("GET", "HEAD"):
        return None
    path = request.path
    if not path.startswith(WEBSOCKET_PREFIX):
        return None
    key = path[len(WEBSOCKET_PREFIX) :]
    return key if key and "/" not in key else None


class Routes:
    """The request handler and request factory of the server's ``aiohttp.web.Server``."""

    def __init__(self, websocket: WebSocketEndpoint, http: HttpEndpoint, max_body_bytes: int) -> None:
        self._websocket = websocket
        self._http = http
        self._max_body_bytes = max_body_bytes

    def __call__(self, request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        """The endpoint's own coroutine, returned, not awaited: no frame of ours in between."""
        key = websocket_key(request)
        if key is not None:
            return self._websocket.handle(request, key)
        return self._http.handle(request)

    def request(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        """A request whose body may be at most ``max_body_bytes`` (a larger one: 413)."""
        loop = asyncio.get_running_loop()
        return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=self._max_body_bytes)
