"""``manage.py pushbridge_check``: are the settings right, the service reachable, the keys valid?

Settings are checked as the system checks do; then a signed ``GET /channels`` request proves
both that the service answers and that it accepts the app id, key and secret. Exits non-zero
with the reason on the first failure.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pushbridge.backends import get_backend
from pushbridge.conf import raw_settings
from pushbridge.errors import PushbridgeError, UnsupportedOperation


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
                backend.channels()
            except UnsupportedOperation:
                self.stdout.write(f"{alias}: {where} cannot be queried; settings OK, credentials unproven.")
                continue
            except PushbridgeError as exc:
                raise CommandError(f"{alias}: {where}: {exc}") from None
            self.stdout.write(self.style.SUCCESS(f"{alias}: {where} reachable, credentials accepted."))
