"""``manage.py pushbridge_relay``: the durable-dispatch relay as a long-running worker.

For deployments that prefer a separate process to the relay thread every writing process runs
(``PUSHBRIDGE_RELAY_IN_PROCESS = False`` turns that one off), and to pick up what a crashed
process left. Several may run at once: they take turns (see :mod:`pushbridge.relay`).
SIGTERM and SIGINT end it after the current turn.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS

from pushbridge.relay import BUSY_RETRY_SECONDS, Relay


class Command(BaseCommand):
    help = "Send committed durable events (and purge old ones) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between looks for new rows.")
        parser.add_argument("--once", action="store_true", help="Send what is due, purge, and exit.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database holding pushbridge's tables.")

    def handle(self, *args: Any, **options: Any) -> None:
        relay = Relay(options["database"])
        if options["once"]:
            while (wait := relay.drain()) == BUSY_RETRY_SECONDS:  # another relay's turn: wait for it
                time.sleep(wait)
            relay.purge()
            return
        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()
            relay.wake()

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, request_stop)
        self.stdout.write(f"pushbridge relay {relay.owner} running", ending="\n")
        self.stdout.flush()
        relay.run(stop, options["interval"])
