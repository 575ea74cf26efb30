"""Every default value in one place: where the service is, its credentials, and each setting's default.

The settings (``pushbridge.conf``), the backends, the template tag, the embedded server and its
commands all read their defaults from here, so that "a fresh local server" means the same
address and credentials everywhere (they match a fresh ``soketi start``, so the embedded server
and Soketi are interchangeable), and changing a default is a one-line change.

Imports nothing of pushbridge's: every module may import it.
"""

from __future__ import annotations

#: Version of pushbridge (read by pyproject.toml's build and sent as the HTTP ``User-Agent``).
VERSION = "0.1.0.dev0"

# -- a local service: the embedded server, or Soketi -----------------------------------------
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6001
DEFAULT_APP_ID = "app-id"
DEFAULT_KEY = "app-key"
DEFAULT_SECRET = "app-secret"

# -- hosted Pusher Channels ----------------------------------------------------------------------
#: The cluster an app is on unless it says otherwise (Pusher's own default).
DEFAULT_CLUSTER = "mt1"


def pusher_api_host(cluster: str) -> str:
    """The HTTP API host of a hosted Pusher cluster."""
    return f"api-{cluster}.pusher.com"


def pusher_ws_host(cluster: str) -> str:
    """The WebSocket host that browsers of a hosted Pusher cluster connect to."""
    return f"ws-{cluster}.pusher.com"


# -- per-alias settings (PUSHBRIDGE["alias"][KEY]) ------------------------------------------------
#: ``TIMEOUT``: connect and read seconds of each HTTP request.
DEFAULT_TIMEOUT = (2.0, 5.0)
#: ``RETRIES``: further attempts after a connection error, 429 or 5xx, in sync mode.
DEFAULT_RETRIES = 2
#: Per dispatch mode: (retries, first wait, longest wait in seconds); see ``dispatch.retry``.
DEFAULT_RETRY_POLICIES = {
    "sync": (DEFAULT_RETRIES, 0.1, 2.0),
    "background": (5, 0.5, 30.0),
    "durable": (20, 0.5, 60.0),
}
#: ``DISPATCH``: ``"sync"`` sends before ``trigger()`` returns; ``"background"`` queues;
#: ``"durable"`` writes to the database in the caller's transaction.
DEFAULT_DISPATCH = "sync"
#: ``SHUTDOWN_TIMEOUT``: seconds a background queue may take to send when the process stops.
DEFAULT_SHUTDOWN_TIMEOUT = 5.0
#: ``HISTORY["seconds"]``: how long events of history channels (and sent durable rows) are kept.
DEFAULT_HISTORY_SECONDS = 300
#: ``QUEUE_SIZE``: events the background sender may hold before it drops new ones.
DEFAULT_QUEUE_SIZE = 10_000
