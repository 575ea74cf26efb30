"""The sign-in timeout against real clients: pusher-js signs in and stays, pysher does not and is closed."""

from __future__ import annotations

import pytest

from pushbridge.server import EmbeddedServer, ServerOptions
from tests.server.peers import NodePeers, PysherPeer, node_available, wait_until

APP_ID, KEY, SECRET = "6060", "signin-key", "signin-secret"


def test_clients_that_do_not_sign_in_in_time_get_4009_and_signed_in_ones_stay() -> None:
    if not node_available():
        pytest.skip("node is not installed; the pusher-js tests need Node 20 (CI has it)")
    options = ServerOptions(signin_timeout=1.0, tick_interval=0.2)
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=options) as server:
        node = NodePeers("127.0.0.1", server.port, KEY, SECRET)
        try:
            node.connect("a")
            node.command("signin", client="a", user={"id": "alice"})
            wait_until(
                lambda: server.call(lambda: [c.user_id for c in server.core.connections()]) == ["alice"],
                what="pusher-js to sign in",
            )
            pysher = PysherPeer("127.0.0.1", server.port, KEY, SECRET).connect()
            try:
                error = pysher.log.wait_for(lambda e: e["event"] == "pusher:error", what="the sign-in timeout")
            finally:
                pysher.close()
            assert error["data"] == {"code": 4009, "message": "Connection not signed in within 1 s."}
            # pusher-js connected first: had signing in not counted, it would be gone by now.
            assert server.call(lambda: [c.user_id for c in server.core.connections()]) == ["alice"]
            lost = ("disconnected", "unavailable", "failed")
            assert not [e for e in node.log.items() if e["type"] == "error" or e.get("current") in lost]
        finally:
            node.close()
