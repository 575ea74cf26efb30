"""A cluster node's settings: defaults, its id, and its Redis URL as it may be shown."""

from __future__ import annotations

import os
import secrets
import socket
from urllib.parse import urlsplit, urlunsplit

#: Seconds without a heartbeat after which the other nodes forget a node.
DEFAULT_NODE_TIMEOUT = 10.0
#: What the cluster's Redis names start with (several clusters can share one Redis).
DEFAULT_PREFIX = "pushbridge"


class ClusterUnavailable(RuntimeError):
    """The node cannot join its cluster (Redis does not answer)."""


def redacted_url(url: str) -> str:
    """``url`` without its password, for logs, errors and banners."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def new_node_id() -> str:
    """A node id that says where the node runs: ``host-pid-random``."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
