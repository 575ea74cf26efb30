"""The command line of ``python -m pushbridge.server``: flags, environment, banner, signals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.engine.cluster_settings import DEFAULT_NODE_TIMEOUT, DEFAULT_PREFIX, ClusterUnavailable, redacted_url
from pushbridge.engine.codes import DEFAULT_ACTIVITY_TIMEOUT
from pushbridge.engine.embedded import EmbeddedServer
from pushbridge.engine.options import ServerOptions
from pushbridge.engine.settings import ENV_VARS
from pushbridge.engine.webhook_endpoints import WEBHOOK_EVENT_TYPES, WebhookEndpoint, parse_webhook
from pushbridge.engine.workers import run_workers
from pushbridge.limits import PUSHER_LIMITS, Limits

#: The limits that flags set; the rest of a server's limits come from its base limits.
LIMIT_FLAGS = (
    "max_payload_bytes",
    "max_presence_members",
    "max_channels_per_connection",
    "max_messages_per_second",
    "max_messages_burst",
)


def cli_defaults(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The defaults of ``python -m pushbridge.server``: the environment, then the local defaults."""
    return {
        "host": env.get(ENV_VARS["host"], DEFAULT_HOST),
        "port": int(env.get(ENV_VARS["port"], DEFAULT_PORT)),
        "app_id": env.get(ENV_VARS["app_id"], DEFAULT_APP_ID),
        "key": env.get(ENV_VARS["key"], DEFAULT_KEY),
        "secret": env.get(ENV_VARS["secret"], DEFAULT_SECRET),
        "webhook_url": env.get(ENV_VARS["webhook_url"]) or None,
        **limit_defaults(PUSHER_LIMITS),
        "max_frame_bytes": ServerOptions.max_frame_bytes,
        "max_buffer_bytes": ServerOptions.max_buffer_bytes,
        "activity_timeout": DEFAULT_ACTIVITY_TIMEOUT,
        "webhook": [],
        "signin_timeout": None,
        "cors_origin": [],
        "header_timeout": ServerOptions.header_timeout,
        "max_open_connections": None,
        "max_connections_per_address": None,
        "trusted_proxy": [],
        "max_subscriptions_per_address": ServerOptions.max_subscriptions_per_address,
        "drain_grace": ServerOptions.drain_grace,
        "log_level": "INFO",
        "redis": env.get(ENV_VARS["redis_url"]) or None,
        "redis_prefix": DEFAULT_PREFIX,
        "node_timeout": DEFAULT_NODE_TIMEOUT,
        "workers": 1,
        "reuse_port": False,
    }


def limit_defaults(limits: Limits) -> dict[str, Any]:
    """The values of the limit flags that ``limits`` stands for."""
    return {name: getattr(limits, name) for name in LIMIT_FLAGS}


def add_server_arguments(parser: argparse.ArgumentParser, defaults: Mapping[str, Any]) -> None:
    """The server's flags, one set for ``python -m pushbridge.server`` and ``manage.py pushbridge_server``.

    A flag missing from ``defaults`` defaults to None: the management command fills those from
    the alias's settings once it knows which alias was asked for.
    """
    add = parser.add_argument
    d = defaults.get
    add(
        "--host",
        default=d("host"),
        help=f"address to bind (default {d('host') or 'the alias HOST or ' + DEFAULT_HOST})",
    )
    add("--port", type=int, default=d("port"), help="port to listen on (0: a free one)")
    add("--app-id", default=d("app_id"))
    add("--key", default=d("key"))
    add("--secret", default=d("secret"))
    add("--webhook-url", default=d("webhook_url"), help="POST every webhook event (signed like Pusher's) here")
    add(
        "--webhook",
        action="append",
        default=d("webhook"),
        type=_webhook,
        metavar="[TYPE,...=]URL",
        help=f"a webhook endpoint, for some event types only if given (repeatable); types: "
        f"{', '.join(sorted(WEBHOOK_EVENT_TYPES))}",
    )
    add(
        "--signin-timeout",
        type=float,
        default=d("signin_timeout"),
        help="close connections that have not signed in within this many seconds (4009); default: never",
    )
    add(
        "--cors-origin",
        action="append",
        default=d("cors_origin"),
        metavar="ORIGIN",
        help="an origin whose pages may call the HTTP API and /health (repeatable; default: any, *)",
    )
    add("--max-connections", type=int, default=d("max_connections"), help="per app; refused with 4100 beyond")
    add("--max-payload-bytes", type=int, default=d("max_payload_bytes"))
    add("--max-presence-members", type=int, default=d("max_presence_members"))
    add(
        "--max-channels-per-connection",
        type=int,
        default=d("max_channels_per_connection"),
        help="subscriptions one connection may hold; refused with LimitReached beyond",
    )
    add(
        "--max-messages-per-second",
        type=int,
        default=d("max_messages_per_second"),
        help="frames per second one connection may send on average (pusher:error 4301 beyond)",
    )
    add(
        "--max-messages-burst",
        type=int,
        default=d("max_messages_burst"),
        help="frames one connection may send at once above that rate",
    )
    add(
        "--max-frame-bytes",
        type=int,
        default=d("max_frame_bytes"),
        help="largest message a client may send; raised to fit --max-payload-bytes if below it",
    )
    add("--max-buffer-bytes", type=int, default=d("max_buffer_bytes"))
    add("--activity-timeout", type=int, default=d("activity_timeout"))
    add(
        "--header-timeout",
        type=float,
        default=d("header_timeout"),
        help="seconds a client has to send a complete request (headers; and body for the HTTP API)",
    )
    add(
        "--max-open-connections",
        type=int,
        default=d("max_open_connections"),
        help="open TCP connections accepted (default: the descriptor limit less a reserve; 0: no cap)",
    )
    add(
        "--max-connections-per-address",
        type=int,
        default=d("max_connections_per_address"),
        help="open TCP connections one client address may hold (default: 256 or half the cap; 0: no limit)",
    )
    add(
        "--max-subscriptions-per-address",
        type=int,
        default=d("max_subscriptions_per_address"),
        help="subscriptions all connections of one client address may hold (0: no limit)",
    )
    add(
        "--drain-grace",
        type=float,
        default=d("drain_grace"),
        help="on SIGTERM, seconds /ready answers 503 before clients are told to reconnect (4200)",
    )
    add(
        "--trusted-proxy",
        action="append",
        default=d("trusted_proxy"),
        metavar="ADDRESS",
        help="a reverse proxy's address, exempt from the limits per address (repeatable; "
        "default: 127.0.0.1 and ::1, the local host)",
    )
    add("--log-level", default=d("log_level"), help="of the pushbridge loggers (INFO, DEBUG...)")
    cluster = parser.add_argument_group("cluster", "several processes or machines serving the same apps")
    cluster.add_argument(
        "--redis",
        metavar="URL",
        default=d("redis"),
        help="redis://HOST:PORT/DB shared by every node (needs pushbridge[cluster])",
    )
    cluster.add_argument("--redis-prefix", default=d("redis_prefix"), help="start of the cluster's Redis names")
    cluster.add_argument(
        "--node-timeout",
        type=float,
        default=d("node_timeout"),
        help="seconds without a heartbeat after which the other nodes forget a node",
    )


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--reuse-port``: several processes of ``python -m pushbridge.server`` on one port."""
    parser.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port, each a cluster node (needs --redis)"
    )
    parser.add_argument("--reuse-port", action="store_true", help="listen with SO_REUSEPORT (what --workers uses)")


def check_cluster_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse cluster flags that cannot work together, naming the value at fault."""
    problem = cluster_args_problem(args.workers, args.redis, args.port, args.node_timeout)
    if problem:
        parser.error(problem)


def cluster_args_problem(workers: int, redis: str | None, port: int, node_timeout: float) -> str | None:
    """What is wrong with these cluster settings together, or ``None``."""
    if workers < 1:
        return f"--workers must be at least 1, not {workers}."
    if workers > 1 and not redis:
        return f"--workers {workers} needs --redis URL: without it each worker would be a separate server."
    if workers > 1 and port == 0:
        return f"--workers {workers} needs a fixed --port: with port 0 each worker would get its own."
    if node_timeout <= 0:
        return f"--node-timeout must be positive seconds, not {node_timeout}."
    return None


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m pushbridge.server``; defaults come from :data:`ENV_VARS`."""
    parser = argparse.ArgumentParser(
        prog="python -m pushbridge.server",
        description="Run pushbridge's embedded Pusher-protocol server (WebSocket + HTTP API on one port).",
        epilog="Environment variables: " + ", ".join(ENV_VARS.values()) + " (flags win).",
    )
    add_server_arguments(parser, cli_defaults())
    add_worker_arguments(parser)
    return parser


def server_from_args(args: argparse.Namespace, base_limits: Limits = PUSHER_LIMITS) -> EmbeddedServer:
    """Build the server that parsed command-line arguments describe (not started yet).

    The limit flags replace those of ``base_limits``. ``--max-frame-bytes`` below what
    ``--max-payload-bytes`` needs is raised to fit it.
    """
    limits = base_limits.replace(**{name: getattr(args, name) for name in LIMIT_FLAGS})
    options = ServerOptions(
        max_frame_bytes=args.max_frame_bytes,
        max_buffer_bytes=args.max_buffer_bytes,
        activity_timeout=args.activity_timeout,
        header_timeout=args.header_timeout,
        max_open_connections=args.max_open_connections,
        max_connections_per_address=args.max_connections_per_address,
        max_subscriptions_per_address=args.max_subscriptions_per_address,
        trusted_proxies=frozenset(args.trusted_proxy) if args.trusted_proxy else ServerOptions.trusted_proxies,
        drain_grace=args.drain_grace,
        signin_timeout=args.signin_timeout,
        cors_origins=frozenset(args.cors_origin or ["*"]),
    )
    return EmbeddedServer(
        host=args.host,
        port=args.port,
        app_id=args.app_id,
        key=args.key,
        secret=args.secret,
        webhook_url=args.webhook_url,
        webhooks=args.webhook,
        max_connections=args.max_connections,
        limits=limits,
        options=options,
        redis_url=args.redis,
        redis_prefix=args.redis_prefix,
        node_timeout=args.node_timeout,
        reuse_port=args.reuse_port,
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
    for endpoints in server.webhooks.values():
        for endpoint in endpoints:
            types = ", ".join(sorted(endpoint.event_types)) if endpoint.event_types else "every event type"
            print(f"Webhooks go to {endpoint.url} ({types})", flush=True)
    if server.cluster is not None:
        link = server.cluster
        print(
            f"Cluster node {link.bus.node_id} on Redis {redacted_url(link.url)}; "
            f"nodes silent for {link.node_timeout:g} s are forgotten.",
            flush=True,
        )
    print("Press Ctrl-C to stop.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server from the command line until SIGINT or SIGTERM; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_cluster_args(parser, args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.workers > 1:
        program = [sys.executable, "-m", "pushbridge.server"]
        return run_workers(program, list(sys.argv[1:] if argv is None else argv), args.workers)
    server = server_from_args(args)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Only reached where signal handlers are missing.
            asyncio.run(run_until_signalled(server, announce))
    except ClusterUnavailable as exc:
        print(f"pushbridge server: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _webhook(value: str) -> WebhookEndpoint:
    """``--webhook``'s type: a bad value is an argparse error that says why."""
    try:
        return parse_webhook(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
