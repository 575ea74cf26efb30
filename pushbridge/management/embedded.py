"""The embedded server configured from a ``PUSHBRIDGE`` alias, for the management commands.

``pushbridge_server`` and ``pushbridge_runserver`` both run it, and both must agree with
``trigger()`` on the app id, key, secret and limits: they take them from the alias's settings,
falling back to the local defaults for what the alias leaves out.
"""

from __future__ import annotations

from typing import Any

from pushbridge.backends import get_backend
from pushbridge.conf import get_config
from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.server import EmbeddedServer


def embedded_server_for(
    alias: str, *, host: str | None = None, port: int | None = None, **options: Any
) -> EmbeddedServer:
    """The server that ``alias``'s backend sends to (not started); ``host``/``port`` override it.

    It enforces what the alias's backend checks before sending (Pusher's limits for
    "embedded" and "pusher", Soketi's for "soketi", ``MAX_PAYLOAD_BYTES`` if set).
    """
    config = get_config(alias)
    return EmbeddedServer(
        host=host or config.host or DEFAULT_HOST,
        port=port if port is not None else (config.port or DEFAULT_PORT),
        app_id=config.app_id or DEFAULT_APP_ID,
        key=config.key or DEFAULT_KEY,
        secret=config.secret or DEFAULT_SECRET,
        limits=get_backend(alias).limits,
        **options,
    )
