"""``manage.py pushbridge_server``: run the embedded Pusher-protocol server with this project's credentials.

The credentials come from the ``PUSHBRIDGE`` setting (or ``PUSHBRIDGE_URL``) of the chosen alias,
so the server and ``pushbridge.trigger()`` always agree on app id, key and secret. Flags win over
settings; anything neither gives falls back to Soketi's defaults, like ``python -m pushbridge.server``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pushbridge.backends import get_backend
from pushbridge.conf import get_config
from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.server import EmbeddedServer, announce, run_until_signalled


class Command(BaseCommand):
    help = "Run pushbridge's embedded Pusher-protocol server (WebSocket + HTTP API) with the project's credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--alias", default="default", help="PUSHBRIDGE alias to take credentials from")
        parser.add_argument("--host", default=None, help="address to bind (default: the alias's HOST or 127.0.0.1)")
        parser.add_argument("--port", type=int, default=None, help="port (default: the alias's PORT or 6001)")
        parser.add_argument("--webhook-url", default=None, help="POST webhooks (signed like Pusher's) to this URL")
        parser.add_argument("--max-connections", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        config = get_config(options["alias"])
        # The server enforces what the alias's backend checks before sending (Pusher's limits
        # for "embedded" and "pusher", Soketi's for "soketi", MAX_PAYLOAD_BYTES if set).
        limits = get_backend(options["alias"]).limits
        server = EmbeddedServer(
            host=options["host"] or config.host or DEFAULT_HOST,
            port=options["port"] if options["port"] is not None else (config.port or DEFAULT_PORT),
            app_id=config.app_id or DEFAULT_APP_ID,
            key=config.key or DEFAULT_KEY,
            secret=config.secret or DEFAULT_SECRET,
            webhook_url=options["webhook_url"],
            max_connections=options["max_connections"],
            limits=limits,
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_until_signalled(server, announce))
