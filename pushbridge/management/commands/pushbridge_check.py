"""``manage.py pushbridge_check``: are the settings right, the service reachable, the keys valid?

Settings are checked as the system checks do; then a signed ``GET /channels`` request proves
that the service answers and accepts the app id and secret, and a WebSocket opened with the key,
where browsers will open theirs, proves the key (Soketi's HTTP API does not check it). That
connection also signs in and sends a client event, and a warning says when the server has
switched either off. Exits non-zero with the reason on the first failure.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from pushbridge.backends import BaseBackend, get_backend
from pushbridge.browser_probe import ProbeResult, probe, websocket_url
from pushbridge.conf import raw_settings
from pushbridge.errors import PushbridgeError, UnsupportedOperation
from pushbridge.templatetags.pushbridge import client_config


class Command(BaseCommand):
    help = "Check pushbridge's settings, that each backend is reachable, and that its credentials work."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("aliases", nargs="*", help="Aliases to check (default: all).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            configured, _ = raw_settings()
        except PushbridgeError as exc:
            raise CommandError(str(exc)) from None
        aliases = options["aliases"] or list(configured)
        for alias in aliases:
            try:
                backend = get_backend(alias)
            except PushbridgeError as exc:
                raise CommandError(f"{alias}: settings: {exc}") from None
            where = getattr(backend, "base_url", type(backend).__name__)
            if not backend.has_server:
                self.stdout.write(f"{alias}: {type(backend).__name__} has no server to reach; settings OK.")
                continue
            try:
                self._query_every_host(backend)
            except UnsupportedOperation:
                self.stdout.write(f"{alias}: {where} cannot be queried; settings OK, credentials unproven.")
                continue
            options = client_config(using=alias)
            try:
                found = probe(
                    options, secret=backend.config.require("SECRET"), alias=alias, timeout=backend.config.timeout[1]
                )
            except PushbridgeError as exc:
                raise CommandError(f"{alias}: {websocket_url(options)}: {exc}") from None
            self.stdout.write(
                self.style.SUCCESS(
                    f"{alias}: {where} reachable, credentials accepted (the secret by the HTTP API, "
                    f"the key by a WebSocket at {websocket_url(options)})."
                )
            )
            self._warn_about(alias, found)

    def _query_every_host(self, backend: BaseBackend) -> None:
        """A signed query to each host of the alias (each of ``HOSTS``): one wrong host must not hide."""
        hosts = backend.config.one_per_host()
        for config in hosts:
            single = backend if len(hosts) == 1 else import_string(config.backend)(config)
            where = getattr(single, "base_url", type(single).__name__)
            try:
                single.channels()
            except UnsupportedOperation:
                raise
            except PushbridgeError as exc:
                raise CommandError(f"{backend.alias}: {where}: {exc}") from None
            finally:
                if single is not backend:
                    single.close()
            if len(hosts) > 1:
                self.stdout.write(f"{backend.alias}: {where} reachable, secret accepted.")

    def _warn_about(self, alias: str, found: ProbeResult) -> None:
        """Features the server has switched off: not wrong credentials, but silent losses."""
        if not found.signin:
            self.stderr.write(
                self.style.WARNING(
                    f"{alias}: WARNING: signin is off on the server, so send_to_user() and "
                    "terminate_user_connections() reach nobody (Soketi: enableUserAuthentication on the app)."
                )
            )
        if found.client_events_refused:
            self.stderr.write(
                self.style.WARNING(
                    f"{alias}: WARNING: client events are refused ({found.client_events_refused}) "
                    "(Soketi: enableClientMessages on the app)."
                )
            )
