"""Every other path: ``/`` and ``/health`` for checks, the rest is the HTTP API."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from pushbridge.engine.core import PusherCore
from pushbridge.engine.executor import OutputExecutor
from pushbridge.engine.options import ServerOptions

logger = logging.getLogger("pushbridge.server")


def json_response(status: int, body: dict[str, Any]) -> web.Response:
    """A JSON reply with ``status``."""
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class HttpEndpoint:
    """The aiohttp handler of HTTP requests: health, then the core's HTTP API."""

    def __init__(self, core: PusherCore, executor: OutputExecutor, options: ServerOptions) -> None:
        self.core = core
        self.executor = executor
        self.options = options

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and path in ("/", "/health"):
            return json_response(200, {"ok": True, **self.core.stats()})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = self.options.max_http_body_bytes
            return json_response(413, {"error": f"Request body is larger than {limit} bytes."})
        try:
            reply = self.core.http(request.method, request.raw_path, body)
        except Exception:
            logger.exception("HTTP API request %s %s failed", request.method, request.path)
            return json_response(500, {"error": "Internal server error; the server log has the details."})
        self.executor.apply(reply.outputs)
        return json_response(reply.status, reply.body)
