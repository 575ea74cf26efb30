""":class:`EmbeddedServer`: the core, the aiohttp endpoints and the webhook senders, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.engine.admission import admission_for
from pushbridge.engine.cluster_settings import DEFAULT_NODE_TIMEOUT, DEFAULT_PREFIX, new_node_id, redacted_url
from pushbridge.engine.cluster_wire import Keys
from pushbridge.engine.config import AppConfig
from pushbridge.engine.core import PusherCore
from pushbridge.engine.executor import OutputExecutor
from pushbridge.engine.http_endpoint import HttpEndpoint
from pushbridge.engine.log_limit import limit_server_logs
from pushbridge.engine.metrics import Metrics, ServerCollector
from pushbridge.engine.options import ServerOptions, fit_frame_limit
from pushbridge.engine.routes import Routes
from pushbridge.engine.settings import settings_text, url_host
from pushbridge.engine.site import AdmittingSite
from pushbridge.engine.thread_runner import ThreadRunner
from pushbridge.engine.traffic import Traffic
from pushbridge.engine.webhook_endpoints import WebhookEndpoint, endpoints_by_app
from pushbridge.engine.webhook_router import WebhookRouter
from pushbridge.engine.websocket import WebSocketEndpoint
from pushbridge.limits import PUSHER_LIMITS, Limits

if TYPE_CHECKING:
    from pushbridge.engine.redis_link import RedisLink

logger = logging.getLogger("pushbridge.server")

T = TypeVar("T")


class EmbeddedServer:
    """A Pusher-compatible server for one or more apps, on one host and port.

    Inside a running event loop: ``await server.start()`` ... ``await server.stop()`` (or
    ``async with server``). From synchronous code: ``server.start_in_thread()`` returns once the
    server listens, ``server.stop()`` stops it and joins the thread (or ``with server:``).
    ``port=0`` picks a free port; :attr:`port` then holds the real one.

    One app from ``app_id``/``key``/``secret`` (and ``webhook_url``, ``webhooks``,
    ``max_connections``, ``limits``), or several from ``apps``, with ``webhook_urls`` (app id
    -> URL for every event type) and ``app_webhooks`` (app id -> endpoints with their event
    types). An app's ``webhooks`` flag follows from its endpoints; naming an app id that is not
    hosted is a ``ValueError``.

    ``redis_url`` (``redis://host:port/db``) makes this server one node of a cluster: every
    node started with the same URL, prefix and apps serves the same apps (see
    :mod:`~pushbridge.engine.redis_bus`); a node silent for ``node_timeout`` seconds is
    forgotten by the others. ``reuse_port`` lets several processes listen on one port
    (``SO_REUSEPORT``: the kernel spreads connections over them).
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
        webhooks: Sequence[WebhookEndpoint] = (),
        apps: Sequence[AppConfig] | None = None,
        webhook_urls: Mapping[str, str] | None = None,
        app_webhooks: Mapping[str, Sequence[WebhookEndpoint]] | None = None,
        options: ServerOptions | None = None,
        max_connections: int | None = None,
        limits: Limits = PUSHER_LIMITS,
        redis_url: str | None = None,
        redis_prefix: str = DEFAULT_PREFIX,
        node_timeout: float = DEFAULT_NODE_TIMEOUT,
        reuse_port: bool = False,
    ) -> None:
        single_app = apps is None
        if apps is None:
            apps = [AppConfig(app_id=app_id, key=key, secret=secret, limits=limits, max_connections=max_connections)]
        hosted = [app.app_id for app in apps]
        #: App id -> the webhook endpoints of that app.
        self.webhooks = endpoints_by_app(
            hosted, single_app, webhook_url, webhooks, webhook_urls or {}, app_webhooks or {}
        )
        options = fit_frame_limit(options or ServerOptions(), [app.limits for app in apps])
        self.host = host
        self.port = port
        self.options = options
        self.apps = [dataclasses.replace(app, webhooks=app.app_id in self.webhooks) for app in apps]
        self.reuse_port = reuse_port
        self.cluster = _cluster_link(redis_url, redis_prefix, node_timeout) if redis_url else None
        self.core = PusherCore(
            self.apps,
            activity_timeout=options.activity_timeout,
            pong_timeout=options.pong_timeout,
            max_message_bytes=options.max_frame_bytes,
            bus=self.cluster.bus if self.cluster is not None else None,
            max_subscriptions_per_address=options.max_subscriptions_per_address or None,
            signin_timeout=options.signin_timeout,
        )
        #: Open TCP connections, overall and per address (see ServerOptions).
        self.admission = admission_for(
            options.max_open_connections, options.max_connections_per_address, options.trusted_proxies
        )
        self._webhook_router = WebhookRouter(self.apps, self.webhooks)
        self.executor = OutputExecutor(self.core, options, self._webhook_router.submit, Traffic())
        # What other nodes publish arrives one Redis message per run of events (per event
        # next to nodes of an earlier release): carried out at the end of the loop iteration,
        # the messages read together are written together.
        self.core.bus.attach(self.executor.apply_soon)
        #: Set from the moment a shutdown begins: ``/ready`` answers 503, new WebSockets are refused.
        self.stopping = False
        #: The Prometheus registry behind ``GET /metrics``.
        self.metrics = Metrics(
            ServerCollector(self.core, self.executor.traffic, self.admission, self._webhook_router.senders)
        )
        if self.cluster is not None:
            self.cluster.on_round_trip = self.metrics.bus_round_trips.observe
        self._websocket = WebSocketEndpoint(self.core, self.executor, options, lambda: self.stopping)
        self._http = HttpEndpoint(self.core, self.executor, options, self.metrics, lambda: not self.stopping)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.ServerRunner | None = None
        self._site: AdmittingSite | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._thread = ThreadRunner(self.start, self._stop, name="pushbridge-server")

    # -- addresses ----------------------------------------------------------------------------

    @property
    def app(self) -> AppConfig:
        """The first (usually the only) app."""
        return self.apps[0]

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:6001``."""
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket URL of the first app, e.g. ``ws://127.0.0.1:6001/app/app-key``."""
        return f"ws://{url_host(self.host)}:{self.port}/app/{self.app.key}"

    def settings_text(self) -> str:
        """What to paste into a Django project and a pusher-js page to use this server."""
        return settings_text(self.app, self.host, self.port)

    # -- running inside an event loop ---------------------------------------------------------

    async def start(self) -> None:
        """Start listening (inside the running loop); returns once the port is bound."""
        if self._runner is not None:
            raise RuntimeError("The server is already running.")
        self.loop = asyncio.get_running_loop()
        routes = Routes(self._websocket, self._http, self.options.max_http_body_bytes)
        # The admitting site bounds the first request's headers; aiohttp's keep-alive timeout
        # bounds the wait for each later request on the same connection.
        handler = web.Server(
            routes, request_factory=routes.request, access_log=None, keepalive_timeout=self.options.header_timeout
        )
        runner = web.ServerRunner(handler, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        if self.cluster is not None:
            try:
                await self.cluster.start()  # Know the other nodes before the first client.
            except BaseException:
                await runner.cleanup()
                raise
        limit_server_logs()
        site = AdmittingSite(
            runner, self.host, self.port, self.admission, self.options.header_timeout, reuse_port=self.reuse_port
        )
        await site.start()
        self._runner, self._site, self.stopping = runner, site, False
        self.port = site.port
        self._webhook_router.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="pushbridge-ticker")
        logger.info("pushbridge server listening on %s (WebSocket %s)", self.url, self.ws_url)

    def stop(self) -> Awaitable[None]:
        """Stop the server: clients get ``pusher:error`` 4200 and a close, then the port closes.

        In a thread started by :meth:`start_in_thread` this blocks until the thread is gone and
        returns an already finished awaitable. Inside the server's own loop, ``await`` it.
        """
        if self._thread.running:
            self._thread.stop()
            return _Done()
        return self._stop()

    async def _stop(self) -> None:
        """Shut down in the order a load balancer needs, then free everything.

        1. Stop accepting: ``/ready`` answers 503 and new WebSockets are refused (HTTP 503),
           so that clients told to reconnect are not taken back in here; the HTTP API still
           answers. 2. After ``drain_grace`` seconds, tell every client to reconnect at once
           (``pusher:error`` 4200 and the close). 3. Drain: wait for the closes to complete
           (``close_timeout`` at most). 4. Close the port.
        """
        if self._runner is None or self.stopping:
            return
        self.stopping = True
        if self.options.drain_grace > 0:
            await asyncio.sleep(self.options.drain_grace)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self.executor.apply(self.core.shutdown())
        if self.cluster is not None:
            await self.cluster.stop()
        closing = self.executor.closing_tasks
        if closing:
            await asyncio.wait(set(closing), timeout=self.options.close_timeout + 1)
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await self._webhook_router.stop()
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
        self._thread.start(timeout)
        return self

    def call(self, function: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``function`` on the server's loop (thread-safe) and return its result.

        Lets tests and tools read :attr:`core` state without racing the server thread.
        """
        if self._thread.running:
            return self._thread.call(function, timeout)
        loop = self.loop
        if loop is None:
            raise RuntimeError("The server is not running.")
        return asyncio.run_coroutine_threadsafe(_call(function), loop).result(timeout)

    def stats(self) -> dict[str, int]:
        """Connection and channel counts, read safely from any thread."""
        if self._thread.running:
            return self._thread.call(self.core.stats)
        return self.core.stats()

    def __enter__(self) -> EmbeddedServer:
        return self.start_in_thread()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._thread.stop()

    # -- inner workings -----------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.tick_interval)
            try:
                self.executor.apply(self.core.tick())
            except Exception:  # pragma: no cover - keep ticking whatever one tick did
                logger.exception("Timeout check failed")


def _cluster_link(url: str, prefix: str, node_timeout: float) -> RedisLink:
    """The Redis bus of a new node and its link (imported here: redis-py is an optional extra)."""
    try:
        from pushbridge.engine.redis_bus import RedisBus
        from pushbridge.engine.redis_link import RedisLink
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        raise RuntimeError(
            f"redis_url={redacted_url(url)!r} needs redis-py: pip install 'pushbridge[cluster]'."
        ) from exc
    return RedisLink(RedisBus(new_node_id(), Keys(prefix)), url, node_timeout=node_timeout)


async def _call(function: Callable[[], T]) -> T:
    return function()


class _Done:
    """An awaitable that is already finished (what a blocking ``stop()`` returns)."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield
