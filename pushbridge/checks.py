"""System checks: pushbridge's settings are validated at ``manage.py check`` time, not first use.

* ``pushbridge.E001``: neither the ``PUSHBRIDGE`` setting nor ``PUSHBRIDGE_URL`` is set.
* ``pushbridge.E002``: an alias is invalid (unknown backend, missing or malformed credentials).
* ``pushbridge.W002``: ``pushbridge.urls`` is not included in the URLconf, so browsers have no
  auth endpoint (private and presence channels would fail with a 404 at subscribe time, and the
  template tag would configure no endpoint).
* ``pushbridge.W001`` (``check --deploy``): the memory backend with ``DEBUG`` off, which would
  silently keep every event in memory in production.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from pushbridge.auth import rules
from pushbridge.conf import raw_settings, resolve_backend_path
from pushbridge.errors import ConfigurationError, PushbridgeError

MEMORY_BACKEND = resolve_backend_path("memory")


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from pushbridge.conf import get_config

    try:
        aliases, _ = raw_settings()
    except ConfigurationError as exc:
        return [Error(str(exc), id="pushbridge.E001", hint="See the README's Quick start.")]
    problems: list[CheckMessage] = []
    for alias in aliases:
        try:
            get_config(alias)
        except PushbridgeError as exc:
            problems.append(Error(str(exc), obj=f"PUSHBRIDGE[{alias!r}]", id="pushbridge.E002"))
    return problems


@register(Tags.urls)
def check_urls_included(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from django.urls import NoReverseMatch, reverse

    if not getattr(settings, "ROOT_URLCONF", None):
        return []
    try:
        reverse("pushbridge:auth")
    except NoReverseMatch:
        callbacks = f" ({len(rules)} authorization callback(s) are registered)" if rules else ""
        return [
            Warning(
                f"pushbridge.urls is not included in {settings.ROOT_URLCONF}: browsers cannot authorise "
                f"private or presence channels, nor sign in{callbacks}.",
                hint='Add path("pushbridge/", include("pushbridge.urls")) to urlpatterns.',
                id="pushbridge.W002",
            )
        ]
    return []


@register(Tags.compatibility, deploy=True)
def check_memory_in_production(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from pushbridge.conf import get_config

    if settings.DEBUG:
        return []
    try:
        aliases, _ = raw_settings()
        memory = [alias for alias in aliases if get_config(alias).backend == MEMORY_BACKEND]
    except PushbridgeError:
        return []  # reported by check_settings
    return [
        Warning(
            f"PUSHBRIDGE[{alias!r}] uses the memory backend with DEBUG off: events never leave the process.",
            hint="Use the memory backend in test settings only.",
            obj=f"PUSHBRIDGE[{alias!r}]",
            id="pushbridge.W001",
        )
        for alias in memory
    ]
