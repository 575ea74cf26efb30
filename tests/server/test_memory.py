"""Memory per idle WebSocket connection: the server's target, held on the Python memory it keeps.

The target (≤ 14 KB per idle connection, BENCHMARKS.md) is measured there as RSS of a server
process. Here tracemalloc counts, in-process, the Python memory the server still holds per
idle connection after the handshake, so that a closure, a cached parse or an outgoing frame
kept per connection fails a test instead of drifting a benchmark. Allocations made on behalf
of the test's own clients are left out (their stacks pass through this file). No clocks:
bytes are counted, not timed.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator

import pytest
import websocket

from pushbridge.server import EmbeddedServer
from tests.server.conftest import APP_ID, KEY, SECRET

#: Bytes of Python memory per idle connection (1 KB = 1,000 bytes, as in BENCHMARKS.md).
#: About 13,400 on CPython 3.11 with aiohttp 3.14 and this test's client, most of it aiohttp's;
#: 14,900 before the server stopped keeping the handshake frame, a parsed query, a closure and
#: an aiohttp Application's handler per connection.
BUDGET = 14_000
CONNECTIONS = 100
#: Deep enough for every client-side allocation's stack to reach this file.
FRAMES = 40


@pytest.fixture
def quiet_server() -> Iterator[EmbeddedServer]:
    """A server of its own: nothing else connects while the snapshots are taken."""
    server = EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET)
    server.start_in_thread()
    yield server
    server.stop()


def _connect(server: EmbeddedServer, count: int) -> list[websocket.WebSocket]:
    clients = []
    for _ in range(count):
        client = websocket.create_connection(f"{server.ws_url}?protocol=7&client=test&version=1", timeout=10)
        assert json.loads(client.recv())["event"] == "pusher:connection_established"
        clients.append(client)
    return clients


def _servers(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes traced, less what was allocated on this file's behalf (the clients)."""
    servers = snapshot.filter_traces([tracemalloc.Filter(False, __file__, all_frames=True)])
    return sum(stat.size for stat in servers.statistics("filename"))


def test_an_idle_connection_holds_under_14_kb_of_python_memory(quiet_server: EmbeddedServer) -> None:
    for client in _connect(quiet_server, 5):  # First-use caches land before the first snapshot.
        client.close()
    tracemalloc.start(FRAMES)
    try:
        before = quiet_server.call(tracemalloc.take_snapshot)
        clients = _connect(quiet_server, CONNECTIONS)
        assert quiet_server.stats()["connections"] == CONNECTIONS
        after = quiet_server.call(tracemalloc.take_snapshot)
    finally:
        tracemalloc.stop()
    for client in clients:
        client.close()
    per_connection = (_servers(after) - _servers(before)) / CONNECTIONS
    assert per_connection <= BUDGET, f"{per_connection:,.0f} bytes of Python memory per idle connection"
