"""``manage.py rundemo``: the embedded pushbridge server and Django's development server, together.

The push server runs in a thread of the outer process. With the autoreloader on, that is the
process that stays up while Django's code reloads in a child, so open pages keep their
WebSocket across reloads. Ctrl-C stops Django, then the push server (its clients are told to
reconnect). With ``PUSHBRIDGE_URL`` set, pages use hosted Pusher or Soketi and no server starts.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pushbridge.conf import get_config
from pushbridge.server import EmbeddedServer


class Command(BaseCommand):
    help = "Run the demo: pushbridge's embedded server in a thread, then Django's development server."

    def add_arguments(self, parser: CommandParser) -> None:
        default = f"127.0.0.1:{os.environ.get('DEMO_PORT', '8000')}"
        parser.add_argument("addrport", nargs="?", default=default, help=f"Django's address (default {default})")
        parser.add_argument("--noreload", action="store_true", help="do not restart Django when code changes")

    def handle(self, *args: Any, **options: Any) -> None:
        # The autoreloader runs this command again in a child process (RUN_MAIN=true); the push
        # server and the banner belong to the outer process only.
        outer = os.environ.get("RUN_MAIN") != "true"
        server = self.start_push_server() if outer and settings.DEMO_EMBEDDED_SERVER else None
        if outer:
            self.banner(options["addrport"], server)
        try:
            call_command("runserver", options["addrport"], use_reloader=not options["noreload"])
        except KeyboardInterrupt:
            pass
        finally:
            if server is not None:
                server.stop()
                self.stdout.write("pushbridge server stopped.")

    def start_push_server(self) -> EmbeddedServer:
        config = get_config()
        port = settings.DEMO_WS_PORT
        server = EmbeddedServer(
            host="127.0.0.1",
            port=port,
            app_id=config.require("APP_ID"),
            key=config.require("KEY"),
            secret=config.require("SECRET"),
        )
        try:
            server.start_in_thread()
        except OSError as exc:
            raise CommandError(
                f"The pushbridge server cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}). "
                "Is another demo running? Pick another port with DEMO_WS_PORT=..."
            ) from None
        return server

    def banner(self, addrport: str, server: EmbeddedServer | None) -> None:
        host_port = addrport if ":" in addrport else f"127.0.0.1:{addrport}"
        if server is not None:
            realtime = f"pushbridge's embedded server, {server.ws_url}"
        else:
            config = get_config()
            realtime = f"{config.host} (from PUSHBRIDGE_URL)"
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
