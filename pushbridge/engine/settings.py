"""The environment the command line reads, and the settings banner.

The defaults themselves live in :mod:`pushbridge.defaults` (Soketi's, so that a project
configured for a local Soketi works unchanged).
"""

from __future__ import annotations

from pushbridge.defaults import DEFAULT_HOST
from pushbridge.engine.config import AppConfig

#: Environment variables read by the command line (flags win over them).
ENV_VARS = {
    "host": "PUSHBRIDGE_SERVER_HOST",
    "port": "PUSHBRIDGE_SERVER_PORT",
    "app_id": "PUSHBRIDGE_SERVER_APP_ID",
    "key": "PUSHBRIDGE_SERVER_KEY",
    "secret": "PUSHBRIDGE_SERVER_SECRET",
    "webhook_url": "PUSHBRIDGE_SERVER_WEBHOOK_URL",
    "redis_url": "PUSHBRIDGE_SERVER_REDIS_URL",
}


def url_host(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def settings_text(app: AppConfig, host: str, port: int) -> str:
    """What to paste into a Django project and a pusher-js page to use a server for ``app``."""
    host = url_host(host if host not in ("0.0.0.0", "::", "") else DEFAULT_HOST)
    return "\n".join(
        [
            "Django settings:",
            "    PUSHBRIDGE = {",
            '        "default": {',
            '            "BACKEND": "embedded",',
            f'            "APP_ID": "{app.app_id}",',
            f'            "KEY": "{app.key}",',
            f'            "SECRET": "{app.secret}",',
            f'            "HOST": "{host}",',
            f'            "PORT": {port},',
            "        }",
            "    }",
            "or in the environment:",
            f"    PUSHBRIDGE_URL=http://{app.key}:{app.secret}@{host}:{port}/apps/{app.app_id}",
            "pusher-js options:",
            f'    new Pusher("{app.key}", {{cluster: "local", wsHost: "{host}", wsPort: {port}, '
            'forceTLS: false, enabledTransports: ["ws"]})',
        ]
    )
