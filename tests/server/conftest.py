"""Fixtures for the embedded server tests: a real server on a free port and real peers.

The server runs in a background thread (``EmbeddedServer.start_in_thread``), once per test
module; tests use unique channel names so they never see each other's traffic. The app id is
numeric because the official ``pusher`` SDK refuses any other.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator

import pusher
import pytest

from pushbridge.server import EmbeddedServer
from tests.server.peers import NodePeers, PysherPeer, WebhookReceiver, node_available

APP_ID = "123456"
KEY = "test-key"
SECRET = "test-secret"
MASTER_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture(scope="module")
def webhooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def server(webhooks: WebhookReceiver) -> Iterator[EmbeddedServer]:
    embedded = EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, webhook_url=webhooks.url)
    embedded.start_in_thread()
    yield embedded
    embedded.stop()


@pytest.fixture
def sdk(server: EmbeddedServer) -> pusher.Pusher:
    """The official pusher-http-python SDK, pointed at the embedded server."""
    return pusher.Pusher(
        app_id=APP_ID,
        key=KEY,
        secret=SECRET,
        host="127.0.0.1",
        port=server.port,
        ssl=False,
        encryption_master_key_base64=MASTER_KEY,
    )


@pytest.fixture
def pysher_peer(server: EmbeddedServer) -> Iterator[Callable[..., PysherPeer]]:
    """Factory of connected pysher clients, all disconnected at the end of the test."""
    peers: list[PysherPeer] = []

    def make(user_data: dict[str, object] | None = None, connect: bool = True) -> PysherPeer:
        peer = PysherPeer("127.0.0.1", server.port, KEY, SECRET, user_data=user_data)
        peers.append(peer)
        return peer.connect() if connect else peer

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def node(server: EmbeddedServer) -> Iterator[NodePeers]:
    """A Node process driving real pusher-js clients."""
    if not node_available():
        pytest.skip("node is not installed; the pusher-js tests need Node 20 (CI has it)")
    peers = NodePeers("127.0.0.1", server.port, KEY, SECRET, MASTER_KEY)
    yield peers
    peers.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Channel names no other test uses: ``unique("private-room")`` -> ``private-room-1a2b3c4d``."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"
