"""``manage.py pushbridge_server``: run the embedded Pusher-protocol server with this project's credentials.

The credentials and limits come from the ``PUSHBRIDGE`` setting (or ``PUSHBRIDGE_URL``) of the
chosen alias, so the server and ``pushbridge.trigger()`` always agree on app id, key and secret.
The flags are those of ``python -m pushbridge.server`` (one definition serves both) and win over
the settings; what neither gives falls back to the local defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pushbridge.engine.cli import (
    add_server_arguments,
    add_worker_arguments,
    announce,
    cluster_args_problem,
    run_until_signalled,
)
from pushbridge.engine.cluster_settings import ClusterUnavailable
from pushbridge.engine.workers import run_workers
from pushbridge.management.embedded import alias_defaults, embedded_server_for


class Command(BaseCommand):
    help = "Run pushbridge's embedded Pusher-protocol server (WebSocket + HTTP API) with the project's credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--alias", default="default", help="PUSHBRIDGE alias to take credentials from")
        add_server_arguments(parser, {})  # unset flags: from the alias's settings
        add_worker_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        given = {name: value for name, value in options.items() if value is not None}
        problem = cluster_args_problem(argparse.Namespace(**{**alias_defaults(options["alias"]), **given}))
        if problem:
            raise CommandError(problem)
        if options["log_level"]:
            logging.getLogger("pushbridge").setLevel(options["log_level"].upper())
        if options["workers"] > 1:
            raise SystemExit(run_workers(self._own_command_line(), options["workers"]))
        server = embedded_server_for(options["alias"], options)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_until_signalled(server, announce))
        except ClusterUnavailable as exc:
            raise CommandError(str(exc)) from None

    @staticmethod
    def _own_command_line() -> list[str]:
        """``python manage.py pushbridge_server ...`` as it was run: what each worker runs again."""
        if sys.argv[1:2] != ["pushbridge_server"]:
            raise CommandError("--workers runs from the command line (manage.py pushbridge_server --workers N).")
        return [sys.executable, *sys.argv]
