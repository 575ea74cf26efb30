"""``manage.py pushbridge_runserver``: Django's development server and the push server, one command.

The general form of what ``django-socketio``'s ``runserver_socketio`` or Laravel's
``reverb:start`` do for theirs: one command for development, one Ctrl-C to stop. When the
alias's backend is ``embedded``, pushbridge's embedded server runs in a thread of the *outer*
process, at the alias's address with its credentials; Django's autoreloader restarts only its
child process when code changes, so open pages keep their WebSocket across reloads. With any
other backend (hosted Pusher, Soketi) no server starts and events go where the settings say.
"""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pushbridge.conf import DEFAULT_ALIAS, get_config, resolve_backend_path

if TYPE_CHECKING:
    from pushbridge.server import EmbeddedServer

EMBEDDED_BACKEND = resolve_backend_path("embedded")


class Command(BaseCommand):
    help = "Run Django's development server and pushbridge's embedded push server together (Ctrl-C stops both)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="", help="Django's address, as for runserver")
        parser.add_argument("--alias", default=DEFAULT_ALIAS, help="PUSHBRIDGE alias whose server to run")
        parser.add_argument("--noreload", action="store_true", help="do not restart Django when code changes")
        parser.add_argument("--no-push-server", action="store_true", help="run Django only")

    def handle(self, *args: Any, **options: Any) -> None:
        # The autoreloader runs this command again in a child process (RUN_MAIN=true) and again
        # after each change: the push server belongs to the outer process, which stays up.
        outer = os.environ.get("RUN_MAIN") != "true"
        server = None
        if outer and not options["no_push_server"]:
            server = self._start_push_server(options["alias"])
            # SIGTERM stops both, as Ctrl-C does (with the reloader on, Django's own handler does).
            signal.signal(signal.SIGTERM, _interrupt)
        if outer:
            self.announce(options["addrport"], server)
        runserver_args = [options["addrport"]] if options["addrport"] else []
        try:
            # skip_checks=False: the system checks run, as with manage.py runserver.
            call_command("runserver", *runserver_args, use_reloader=not options["noreload"], skip_checks=False)
        except KeyboardInterrupt:
            pass
        finally:
            if server is not None:
                server.stop()
                self.stdout.write("pushbridge server stopped.")

    def _start_push_server(self, alias: str) -> EmbeddedServer | None:
        from pushbridge.management.embedded import embedded_server_for

        config = get_config(alias)
        if config.backend != EMBEDDED_BACKEND:
            self.stdout.write(
                f"PUSHBRIDGE[{alias!r}] uses {config.backend.rsplit('.', 1)[-1]}, not the embedded server: "
                "no push server started; events go where the settings say."
            )
            return None
        server = embedded_server_for(alias)
        try:
            server.start_in_thread()
        except OSError as exc:
            raise CommandError(
                f"The pushbridge server cannot listen on {server.host}:{server.port} ({exc.strerror or exc}). "
                "Is it running already? Set another PORT in PUSHBRIDGE, or pass --no-push-server."
            ) from None
        return server

    def announce(self, addrport: str, server: EmbeddedServer | None) -> None:
        """Say where the push server listens (once, in the outer process); Django says the rest."""
        if server is not None:
            listening = f"pushbridge server listening on {server.url} (WebSocket {server.ws_url})"
            self.stdout.write(self.style.SUCCESS(listening))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
