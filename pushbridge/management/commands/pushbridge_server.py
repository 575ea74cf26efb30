"""``manage.py pushbridge_server``: run the embedded Pusher-protocol server with this project's credentials.

The credentials and limits come from the ``PUSHBRIDGE`` setting (or ``PUSHBRIDGE_URL``) of the
chosen alias, so the server and ``pushbridge.trigger()`` always agree on app id, key and secret.
The flags are those of ``python -m pushbridge.server`` (one definition serves both) and win over
the settings; what neither gives falls back to the local defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pushbridge.engine.cli import add_server_arguments, announce, run_until_signalled
from pushbridge.management.embedded import embedded_server_for


class Command(BaseCommand):
    help = "Run pushbridge's embedded Pusher-protocol server (WebSocket + HTTP API) with the project's credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--alias", default="default", help="PUSHBRIDGE alias to take credentials from")
        add_server_arguments(parser, {})  # unset flags: from the alias's settings

    def handle(self, *args: Any, **options: Any) -> None:
        if options["log_level"]:
            logging.getLogger("pushbridge").setLevel(options["log_level"].upper())
        server = embedded_server_for(options["alias"], options)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_until_signalled(server, announce))
