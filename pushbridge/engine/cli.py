"""The command line of ``python -m pushbridge.server``: flags, environment, banner, signals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence

from pushbridge.engine.codes import DEFAULT_ACTIVITY_TIMEOUT
from pushbridge.engine.embedded import EmbeddedServer
from pushbridge.engine.options import ServerOptions
from pushbridge.engine.settings import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET, ENV_VARS
from pushbridge.engine.webhook_endpoints import WEBHOOK_EVENT_TYPES, WebhookEndpoint, parse_webhook
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
    parser.add_argument(
        "--webhook-url", default=env.get(ENV_VARS["webhook_url"]) or None, help="POST every webhook event here"
    )
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        type=_webhook,
        metavar="[TYPE,...=]URL",
        help=f"a webhook endpoint, for some event types only if given (repeatable); types: "
        f"{', '.join(sorted(WEBHOOK_EVENT_TYPES))}",
    )
    parser.add_argument(
        "--signin-timeout",
        type=float,
        default=None,
        help="close connections that have not signed in within this many seconds (4009); default: never",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an origin whose pages may call the HTTP API and /health (repeatable; default: any, *)",
    )
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
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=ServerOptions.header_timeout,
        help="seconds a client has to send a complete request (headers; and body for the HTTP API)",
    )
    parser.add_argument(
        "--max-open-connections",
        type=int,
        default=None,
        help="open TCP connections accepted (default: the descriptor limit less a reserve; 0: no cap)",
    )
    parser.add_argument(
        "--max-connections-per-address",
        type=int,
        default=None,
        help="open TCP connections one client address may hold (default: 256 or half the cap; 0: no limit)",
    )
    parser.add_argument(
        "--max-subscriptions-per-address",
        type=int,
        default=ServerOptions.max_subscriptions_per_address,
        help="subscriptions all connections of one client address may hold (0: no limit)",
    )
    parser.add_argument(
        "--drain-grace",
        type=float,
        default=ServerOptions.drain_grace,
        help="on SIGTERM, seconds /ready answers 503 before clients are told to reconnect (4200)",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a reverse proxy's address, exempt from the limits per address (repeatable; "
        "default: 127.0.0.1 and ::1, the local host)",
    )
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
    print("Press Ctrl-C to stop.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server from the command line until SIGINT or SIGTERM; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = server_from_args(args)
    with contextlib.suppress(KeyboardInterrupt):  # Only reached where signal handlers are missing.
        asyncio.run(run_until_signalled(server, announce))
    return 0


def _webhook(value: str) -> WebhookEndpoint:
    """``--webhook``'s type: a bad value is an argparse error that says why."""
    try:
        return parse_webhook(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
