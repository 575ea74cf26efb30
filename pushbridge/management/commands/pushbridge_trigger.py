"""``manage.py pushbridge_trigger CHANNEL EVENT JSON``: push one event from the shell."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pushbridge import dispatch
from pushbridge.api import trigger
from pushbridge.conf import DEFAULT_ALIAS
from pushbridge.errors import PushbridgeError


class Command(BaseCommand):
    help = "Trigger EVENT on CHANNEL (comma-separated for several) with JSON data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel", help="Channel name, or several separated by commas.")
        parser.add_argument("event", help="Event name, e.g. show-message.")
        parser.add_argument("data", nargs="?", default="{}", help="JSON data (default: {}).")
        parser.add_argument("--using", default=DEFAULT_ALIAS, help="PUSHBRIDGE alias to send through.")
        parser.add_argument("--socket-id", default=None, help="Exclude this connection.")
        parser.add_argument("--raw", action="store_true", help="Send DATA as a plain string, not JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["raw"]:
            data: Any = options["data"]
        else:
            try:
                data = json.loads(options["data"])
            except ValueError as exc:
                raise CommandError(f"DATA is not valid JSON ({exc}); pass --raw to send it as a string.") from None
        channels = [name for name in options["channel"].split(",") if name]
        try:
            reply = trigger(channels, options["event"], data, socket_id=options["socket_id"], using=options["using"])
            if not dispatch.flush(timeout=30):
                raise CommandError("The background sender did not finish within 30 s.")
        except PushbridgeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Triggered {options['event']!r} on {', '.join(channels)}: {reply}"))
