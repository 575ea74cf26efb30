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

from pushbridge.management.embedded import embedded_server_for
from pushbridge.server import announce, run_until_signalled


class Command(BaseCommand):
    help = "Run pushbridge's embedded Pusher-protocol server (WebSocket + HTTP API) with the project's credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--alias", default="default", help="PUSHBRIDGE alias to take credentials from")
        parser.add_argument("--host", default=None, help="address to bind (default: the alias's HOST or 127.0.0.1)")
        parser.add_argument("--port", type=int, default=None, help="port (default: the alias's PORT or 6001)")
        parser.add_argument("--webhook-url", default=None, help="POST webhooks (signed like Pusher's) to this URL")
        parser.add_argument("--max-connections", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        server = embedded_server_for(
            options["alias"],
            host=options["host"],
            port=options["port"],
            webhook_url=options["webhook_url"],
            max_connections=options["max_connections"],
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_until_signalled(server, announce))
