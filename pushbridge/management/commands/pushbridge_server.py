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
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pushbridge.defaults import DEFAULT_PORT
from pushbridge.engine.cli import (
    add_server_arguments,
    add_worker_arguments,
    announce,
    cluster_args_problem,
    run_until_signalled,
)
from pushbridge.engine.cluster_settings import DEFAULT_NODE_TIMEOUT, ClusterUnavailable
from pushbridge.engine.workers import run_workers
from pushbridge.management.embedded import embedded_server_for


class Command(BaseCommand):
    help = "Run pushbridge's embedded Pusher-protocol server (WebSocket + HTTP API) with the project's credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--alias", default="default", help="PUSHBRIDGE alias to take credentials from")
        add_server_arguments(parser, {})  # unset flags: from the alias's settings
        add_worker_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["log_level"]:
            logging.getLogger("pushbridge").setLevel(options["log_level"].upper())
        given = {name: options[name] for name in ("port", "node_timeout")}
        problem = cluster_args_problem(
            options["workers"],
            options["redis"],
            given["port"] if given["port"] is not None else DEFAULT_PORT,  # else the alias's, never 0
            given["node_timeout"] if given["node_timeout"] is not None else DEFAULT_NODE_TIMEOUT,
        )
        if problem:
            raise CommandError(problem)
        server = embedded_server_for(options["alias"], options)
        if options["workers"] > 1:
            # Each worker is this same command, started again the way this one was.
            if len(sys.argv) < 2 or sys.argv[1] != "pushbridge_server":
                raise CommandError("--workers runs from the command line (manage.py pushbridge_server --workers N).")
            run_workers([*relaunch(), "pushbridge_server"], sys.argv[2:], options["workers"])
            return
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_until_signalled(server, announce))
        except ClusterUnavailable as exc:  # Redis unreachable: a clear error, not a traceback
            raise CommandError(str(exc)) from None


def relaunch() -> list[str]:
    """How this process was started (``python manage.py``, ``python -m django``...), to start workers alike."""
    script = sys.argv[0]
    if os.path.basename(script) == "__main__.py":  # python -m PACKAGE: run the package, not its file
        return [sys.executable, "-m", os.path.basename(os.path.dirname(script))]
    return [sys.executable, script]
