"""The command line of ``python -m pushbridge.server``: flags, environment, banner, signals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.engine.cluster_settings import DEFAULT_NODE_TIMEOUT, DEFAULT_PREFIX, ClusterUnavailable, redacted_url
from pushbridge.engine.codes import DEFAULT_ACTIVITY_TIMEOUT
from pushbridge.engine.embedded import EmbeddedServer
from pushbridge.engine.options import ServerOptions
from pushbridge.engine.settings import ENV_VARS
from pushbridge.engine.workers import run_workers
from pushbridge.limits import PUSHER_LIMITS


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
    cluster = parser.add_argument_group("cluster", "several processes or machines serving the same apps")
    cluster.add_argument(
        "--redis",
        metavar="URL",
        default=env.get(ENV_VARS["redis_url"]) or None,
        help="redis://HOST:PORT/DB shared by every node (needs pushbridge[cluster])",
    )
    cluster.add_argument("--redis-prefix", default=DEFAULT_PREFIX, help="start of the cluster's Redis names")
    cluster.add_argument(
        "--node-timeout",
        type=float,
        default=DEFAULT_NODE_TIMEOUT,
        help="seconds without a heartbeat after which the other nodes forget a node",
    )
    cluster.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port, each a node (needs --redis)"
    )
    cluster.add_argument("--reuse-port", action="store_true", help="listen with SO_REUSEPORT (what --workers uses)")
    return parser


def check_cluster_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse cluster flags that cannot work together, naming the value at fault."""
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, not {args.workers}.")
    if args.workers > 1 and not args.redis:
        parser.error(f"--workers {args.workers} needs --redis URL: without it each worker would be a separate server.")
    if args.workers > 1 and args.port == 0:
        parser.error(f"--workers {args.workers} needs a fixed --port: with port 0 each worker would get its own.")
    if args.node_timeout <= 0:
        parser.error(f"--node-timeout must be positive seconds, not {args.node_timeout}.")


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
    if server.webhook_urls:
        print(f"Webhooks go to {', '.join(server.webhook_urls.values())}", flush=True)
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
        return run_workers(list(sys.argv[1:] if argv is None else argv), args.workers)
    server = server_from_args(args)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Only reached where signal handlers are missing.
            asyncio.run(run_until_signalled(server, announce))
    except ClusterUnavailable as exc:
        print(f"pushbridge server: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
