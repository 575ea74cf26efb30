"""pushbridge.js in chromium on a real two-node Soketi cluster (Redis adapter, nginx in front).

Pages connect to each node directly (so both are known to be used) and through nginx; the
test site's auth endpoints sign as a Django project would. pushbridge itself publishes through
the soketi backend. The cluster uses the Redis options of docs/soketi.md's recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

import pushbridge
from tests.browser.conftest import KEY, SECRET, ShimPage
from tests.server.peers import wait_until
from tests.services.nginx import NginxServer
from tests.services.redis import RedisServer
from tests.soketi.launcher import SoketiNode, app, soketi_installed
from tests.soketi.recipe import cluster_options

pytestmark = pytest.mark.browser

OpenPage = Callable[..., ShimPage]
Name = Callable[[str], str]
APP_ID = "123456"


class ShimCluster:
    def __init__(self, redis: RedisServer) -> None:
        options = cluster_options(redis.port)
        # Pages that never sign in must not be closed mid-test (docs/soketi.md: signin timeout).
        options["userAuthenticationTimeout"] = 600_000
        self.nodes = [SoketiNode([app(APP_ID, KEY, SECRET)], options).start() for _ in range(2)]
        self.balancer = NginxServer([f"127.0.0.1:{node.port}" for node in self.nodes]).start()

    def sending(self, **extra: Any) -> override_settings:
        """pushbridge's ``default`` alias publishing through nginx."""
        entry = {"BACKEND": "soketi", "HOST": "127.0.0.1", "PORT": self.balancer.port, "APP_ID": APP_ID}
        return override_settings(PUSHBRIDGE={"default": {**entry, "KEY": KEY, "SECRET": SECRET, **extra}})

    def close(self) -> None:
        self.balancer.stop()
        for node in self.nodes:
            node.close()


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer) -> Iterator[ShimCluster]:
    if not soketi_installed():
        pytest.skip("Soketi is not installed: ./scripts/test installs it (npm ci --prefix tests/soketi)")
    shim_cluster = ShimCluster(redis_server)
    yield shim_cluster
    shim_cluster.close()


def test_shim_pages_on_both_nodes_share_presence_client_events_and_triggers(
    cluster: ShimCluster, open_page: OpenPage, name: Name
) -> None:
    channel = name("presence-room-")
    one, two = cluster.nodes
    alice, bob = open_page("alice", port=one.port), open_page("bob", port=two.port)
    for page in (alice, bob):
        page.connect()
    alice.subscribe(channel, "pusher:member_added", "client-typing", "news")
    bob.subscribe(channel, "client-typing", "news")
    assert bob.js("(n) => window.pb.channel(n).members.count", channel) == 2  # alice is on the other node
    assert alice.wait_received(channel, "pusher:member_added") == [{"id": "bob", "info": {"name": "Bob"}}]

    alice.js("(n) => window.pb.channel(n).trigger('client-typing', {text: 'hi'})", channel)
    assert bob.wait_received(channel, "client-typing") == [{"text": "hi"}]

    with cluster.sending():
        pushbridge.trigger(channel, "news", {"n": 1})
    for page in (alice, bob):
        assert page.wait_received(channel, "news") == [{"n": 1}]


def test_shim_signin_through_the_balancer_gets_send_to_user(cluster: ShimCluster, open_page: OpenPage) -> None:
    page = open_page("carol", port=cluster.balancer.port)
    page.connect()
    page.js(
        """() => {
            window.user_events = [];
            window.pb.user.bind('notify', (data) => window.user_events.push(data));
            window.pb.signin();
        }"""
    )
    page.wait("() => window.pb.user.serverToUserChannel && window.pb.user.serverToUserChannel.subscribed")
    with cluster.sending():
        pushbridge.send_to_user("carol", "notify", {"unread": 3})
    assert page.wait("() => window.user_events.length === 1 && window.user_events") == [{"unread": 3}]


def test_shim_reconnects_through_the_balancer_when_a_node_stops(
    cluster: ShimCluster, open_page: OpenPage, name: Name
) -> None:
    """Runs last: it stops node one. Pages behind nginx come back on node two by themselves."""
    channel = name("private-live-")
    pages = [open_page(f"user{n}", port=cluster.balancer.port) for n in range(2)]  # round-robin: one per node
    for page in pages:
        page.connect()
        page.subscribe(channel, "tick")
        page.js("() => { window.ids = [window.pb.socket_id]; }")
    cluster.nodes[0].stop()

    def moved() -> list[ShimPage]:
        return [
            page for page in pages if page.js("() => window.pb.socket_id") not in (None, page.js("() => window.ids[0]"))
        ]

    wait_until(lambda: bool(moved()), what="a page of the stopped node to reconnect")  # round-robin: one was there
    for page in pages:
        page.wait("(n) => window.pb.connection.state === 'connected' && window.pb.channel(n).subscribed", channel)
    with cluster.sending():
        pushbridge.trigger(channel, "tick", {"n": 1})
    for page in pages:
        assert page.wait_received(channel, "tick") == [{"n": 1}]
