"""The embedded server configured from a ``PUSHBRIDGE`` alias, for the management commands.

``pushbridge_server`` and ``pushbridge_runserver`` both run it, and both must agree with
``trigger()`` on the app id, key, secret and limits: they take them from the alias's settings,
falling back to the local defaults for what the alias leaves out. Flags, where a command has
them, are the server's own (:func:`pushbridge.engine.cli.add_server_arguments`) and win.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from pushbridge.backends import get_backend
from pushbridge.conf import get_config
from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.engine.cli import cli_defaults, limit_defaults, server_from_args
from pushbridge.server import EmbeddedServer


def alias_defaults(alias: str) -> dict[str, Any]:
    """The server flags' values that ``alias``'s settings stand for.

    It enforces what the alias's backend checks before sending (Pusher's limits for "embedded"
    and "pusher", Soketi's for "soketi", ``MAX_PAYLOAD_BYTES`` if set).
    """
    config = get_config(alias)
    return {
        **cli_defaults({}),
        "host": config.host or DEFAULT_HOST,
        "port": config.port or DEFAULT_PORT,
        "app_id": config.app_id or DEFAULT_APP_ID,
        "key": config.key or DEFAULT_KEY,
        "secret": config.secret or DEFAULT_SECRET,
        "max_connections": None,
        "log_level": None,
        **limit_defaults(get_backend(alias).limits),
    }


def embedded_server_for(alias: str, flags: Mapping[str, Any] | None = None) -> EmbeddedServer:
    """The server that ``alias``'s backend sends to (not started); flags given (not None) win."""
    given = {name: value for name, value in (flags or {}).items() if value is not None}
    args = argparse.Namespace(**{**alias_defaults(alias), **given})
    return server_from_args(args, base_limits=get_backend(alias).limits)
