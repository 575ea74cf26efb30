"""Every path but the WebSocket's: health, readiness and metrics for operators, the rest is the HTTP API.

* ``GET /`` and ``/health``: 200 and the server's counts while the process runs (liveness).
* ``GET /ready``: 200 while the server accepts clients, 503 from the moment it starts to
  shut down, so a load balancer sends new clients elsewhere (readiness).
* ``GET /metrics``: Prometheus metrics.

Every answer carries CORS headers for the allowed origins, and preflights are answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from pushbridge.engine.core import PusherCore
from pushbridge.engine.cors import cors_headers, preflight_headers
from pushbridge.engine.executor import OutputExecutor
from pushbridge.engine.metrics import CONTENT_TYPE, Metrics
from pushbridge.engine.options import ServerOptions

logger = logging.getLogger("pushbridge.server")


def json_response(status: int, body: dict[str, Any]) -> web.Response:
    """A JSON reply with ``status``."""
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class HttpEndpoint:
    """The aiohttp handler of HTTP requests; ``ready`` says whether the server accepts clients."""

    def __init__(
        self,
        core: PusherCore,
        executor: OutputExecutor,
        options: ServerOptions,
        metrics: Metrics,
        ready: Callable[[], bool],
    ) -> None:
        self.core = core
        self.executor = executor
        self.options = options
        self.metrics = metrics
        self._ready = ready

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        allowed = self.options.cors_origins
        if request.method == "OPTIONS":
            return web.Response(status=204, headers=preflight_headers(request.headers, allowed))
        response = await self._respond(request)
        response.headers.update(cors_headers(request.headers.get("Origin"), allowed))
        return response

    async def _respond(self, request: web.BaseRequest) -> web.Response:
        path = request.path
        if request.method == "GET":
            if path in ("/", "/health"):
                return json_response(200, {"ok": True, **self.core.stats()})
            if path == "/ready":
                if self._ready():
                    return json_response(200, {"ready": True})
                return json_response(503, {"ready": False, "error": "The server is shutting down."})
            if path == "/metrics":
                return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
        reply = await self._api(request)
        http_requests = self.executor.traffic.http_requests
        http_requests[reply.status] = http_requests.get(reply.status, 0) + 1
        return reply

    async def _api(self, request: web.BaseRequest) -> web.Response:
        try:
            # A body that trickles in must not hold a connection forever (nor headers: see
            # ServerOptions.header_timeout, which aiohttp enforces before this handler runs).
            body = await asyncio.wait_for(request.read(), self.options.header_timeout)
        except asyncio.TimeoutError:
            limit = self.options.header_timeout
            return json_response(408, {"error": f"The request body did not arrive within {limit} s."})
        except web.HTTPRequestEntityTooLarge:
            limit = self.options.max_http_body_bytes
            return json_response(413, {"error": f"Request body is larger than {limit} bytes."})
        try:
            reply = self.core.http(request.method, request.raw_path, body)
        except Exception:
            logger.exception("HTTP API request %s %s failed", request.method, request.path)
            return json_response(500, {"error": "Internal server error; the server log has the details."})
        self.executor.apply_soon(reply.outputs)
        return json_response(reply.status, reply.body)
