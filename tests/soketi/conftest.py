"""Fixtures for the Soketi tests: one real Soketi per test session, real peers, pushbridge pointed at it.

The shared node serves two apps: ``app-id`` with every limit off, and ``limited`` with
Soketi's backend rate limit at 5 events per second. Tests use unique channel names, so they
never see each other's traffic.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from tests.server.peers import NodePeers, PysherPeer, node_available
from tests.soketi.launcher import SoketiNode, app, soketi_installed

KEY, SECRET, APP_ID = "app-key", "app-secret", "app-id"
LIMITED = {"APP_ID": "limited", "KEY": "limited-key", "SECRET": "limited-secret"}
MASTER_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
FAST = {"retry_backoff": 0.05, "retry_backoff_max": 0.5}


def settings_for(node: SoketiNode, **extra: Any) -> dict[str, Any]:
    """A ``PUSHBRIDGE["default"]`` entry for ``node``'s default app (``extra`` overrides)."""
    return {
        "BACKEND": "soketi",
        "HOST": "127.0.0.1",
        "PORT": node.port,
        "ENCRYPTION_MASTER_KEY": MASTER_KEY,
        "OPTIONS": FAST,
        **extra,
    }


@pytest.fixture(scope="session")
def soketi() -> Iterator[SoketiNode]:
    if not soketi_installed():
        pytest.skip("Soketi is not installed: ./scripts/test installs it (npm ci --prefix tests/soketi)")
    limited = app(LIMITED["APP_ID"], LIMITED["KEY"], LIMITED["SECRET"], maxBackendEventsPerSecond=5)
    node = SoketiNode([app(), limited]).start()
    yield node
    node.close()


@pytest.fixture
def on_soketi(soketi: SoketiNode) -> Iterator[SoketiNode]:
    """Point the ``default`` alias at the shared Soketi."""
    with override_settings(PUSHBRIDGE={"default": settings_for(soketi)}):
        yield soketi


@pytest.fixture
def pysher_peer(soketi: SoketiNode) -> Iterator[Callable[..., PysherPeer]]:
    """Factory of connected pysher clients of the shared Soketi, disconnected after the test."""
    peers: list[PysherPeer] = []

    def make(user_data: dict[str, object] | None = None, node: SoketiNode | None = None) -> PysherPeer:
        peer = PysherPeer("127.0.0.1", (node or soketi).port, KEY, SECRET, user_data=user_data)
        peers.append(peer)
        return peer.connect()

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def js_peers(soketi: SoketiNode) -> Iterator[NodePeers]:
    """A Node process driving real pusher-js clients of the shared Soketi."""
    if not node_available():
        pytest.skip("node is not installed; the pusher-js tests need Node 20")
    peers = NodePeers("127.0.0.1", soketi.port, KEY, SECRET, MASTER_KEY)
    yield peers
    peers.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"
