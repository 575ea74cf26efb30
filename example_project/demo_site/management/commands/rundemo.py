"""``manage.py rundemo``: ``pushbridge_runserver`` with the demo's address and banner.

The push server runs in a thread of the outer process. With the autoreloader on, that is the
process that stays up while Django's code reloads in a child, so open pages keep their
WebSocket across reloads. Ctrl-C stops Django, then the push server (its clients are told to
reconnect). With ``PUSHBRIDGE_URL`` set, pages use hosted Pusher or Soketi and no server starts.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import CommandParser

from pushbridge.conf import get_config
from pushbridge.management.commands.pushbridge_runserver import Command as RunServer
from pushbridge.server import EmbeddedServer


class Command(RunServer):
    help = "Run the demo: pushbridge's embedded server in a thread, then Django's development server."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(addrport=f"127.0.0.1:{os.environ.get('DEMO_PORT', '8000')}")

    def announce(self, addrport: str, server: EmbeddedServer | None) -> None:
        host_port = addrport if ":" in addrport else f"127.0.0.1:{addrport}"
        if server is not None:
            realtime = f"pushbridge's embedded server, {server.ws_url}"
        else:
            realtime = f"{get_config().host} (from PUSHBRIDGE_URL)"
        client = "pusher-js" if settings.PUSHBRIDGE_JS_CLIENT == "pusher-js" else "pushbridge.js (the shim)"
        lines = [
            "",
            "pushbridge demo",
            f"  Open      http://{host_port}/",
            "  Log in    ann / demo (staff: approves, admin), bob / demo, cid / demo",
            f"  Realtime  {realtime}",
            f"  Browser   {client}",
            "  Ctrl-C stops everything.",
            "",
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
