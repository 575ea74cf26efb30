"""The cluster recipe of docs/soketi.md, read from the page itself, for the tests that start clusters.

What the docs give is what the tests run: the JSON block after the ``cluster-node-config``
marker is a cluster node's Soketi configuration. The tests keep every option of it but the
port, the Redis port and the prefixes (this machine's, and unique per cluster).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[2] / "docs" / "soketi.md"
MARK = "<!-- cluster-node-config"


def documented_node_config() -> dict[str, Any]:
    """The Soketi config of a cluster node, exactly as docs/soketi.md gives it."""
    text = DOCS.read_text()
    block = text[text.index(MARK) :]
    start = block.index("```json\n") + len("```json\n")
    return dict(json.loads(block[start : block.index("```", start)]))


def cluster_options(redis_port: int) -> dict[str, Any]:
    """The documented node options (apps aside) on this machine's Redis, with a prefix of their own.

    Every node of one cluster must get the same options (call this once per cluster).
    """
    prefix = f"pushbridge-{uuid.uuid4().hex[:8]}"
    recipe = documented_node_config()
    options = {k: v for k, v in recipe.items() if k not in ("port", "appManager.array.apps")}
    options.update(
        {"database.redis.port": redis_port, "adapter.redis.prefix": prefix, "database.redis.keyPrefix": prefix}
    )
    return options


def documented_apps() -> list[dict[str, Any]]:
    """The documented apps, without their webhook to www.example.com."""
    return [{**app, "webhooks": []} for app in documented_node_config()["appManager.array.apps"]]
