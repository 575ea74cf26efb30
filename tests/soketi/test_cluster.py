"""Two real Soketi nodes on a real Redis behind a real nginx, with clients on both nodes.

The nodes run the recipe docs/soketi.md gives, read from the page itself: the Redis adapter
(events, presence, signin and client events cross nodes), the Redis cache (cache channels), the
Redis rate limiter. pusher-js clients connect to each node directly (so both are known to be
used) and through the balancer; pushbridge sends through the balancer, or straight to the
nodes with ``HOSTS``. The last two tests stop a node, then kill the other, mid-test. Tests run
in file order; the module's cluster is shared.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

import pushbridge
from tests.server.peers import NodePeers, node_available, wait_until
from tests.services.nginx import NginxServer
from tests.services.redis import RedisServer
from tests.soketi.conftest import KEY, MASTER_KEY, SECRET, settings_for
from tests.soketi.launcher import SoketiNode, soketi_installed
from tests.soketi.recipe import cluster_options, documented_apps
from tests.testapp.models import Message, Room

pytestmark = pytest.mark.peers


class Cluster:
    """Two nodes configured by the documented recipe, with this machine's ports and Redis."""

    def __init__(self, redis: RedisServer) -> None:
        apps = documented_apps()
        assert [(a["key"], a["secret"]) for a in apps] == [(KEY, SECRET)]
        options = cluster_options(redis.port)  # one prefix for both nodes: they are one cluster
        self.nodes = [SoketiNode(apps, options) for _ in range(2)]
        self.balancer: NginxServer | None = None

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@pytest.fixture(scope="module")
def cluster(redis_server: RedisServer) -> Iterator[Cluster]:
    if not soketi_installed():
        pytest.skip("Soketi is not installed: ./scripts/test installs it (npm ci --prefix tests/soketi)")
    if not node_available():
        pytest.skip("node is not installed; the pusher-js tests need Node 20")
    cluster = Cluster(redis_server)
    for node in cluster.nodes:
        node.start()
    balancer = NginxServer([f"127.0.0.1:{node.port}" for node in cluster.nodes]).start()
    cluster.balancer = balancer
    yield cluster
    balancer.stop()
    cluster.close()


@pytest.fixture
def through_balancer(cluster: Cluster) -> Iterator[None]:
    """pushbridge's ``default`` alias sends through nginx."""
    assert cluster.balancer is not None
    entry = settings_for(cluster.nodes[0], PORT=cluster.balancer.port)
    with override_settings(PUSHBRIDGE={"default": entry}):
        yield


class Drivers(dict):  # type: ignore[type-arg]
    """pusher-js drivers by where they connect, each started on first use (a Node process each)."""

    def __init__(self, ports: dict[str, int]) -> None:
        super().__init__()
        self.ports = ports

    def __missing__(self, name: str) -> NodePeers:
        driver = self[name] = NodePeers("127.0.0.1", self.ports[name], KEY, SECRET, MASTER_KEY)
        return driver


@pytest.fixture
def clients(cluster: Cluster) -> Iterator[Drivers]:
    """pusher-js drivers on node ``one``, on node ``two``, and through the balancer (``lb``)."""
    assert cluster.balancer is not None
    drivers = Drivers({"one": cluster.nodes[0].port, "two": cluster.nodes[1].port, "lb": cluster.balancer.port})
    yield drivers
    for driver in drivers.values():
        driver.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("through_balancer")
def test_model_auto_push_reaches_both_nodes(clients):
    room = Room.objects.create(name="cluster")
    channel = f"room-{room.pk}"
    for name in ("one", "two"):
        clients[name].connect(name)
        clients[name].subscribe(name, channel)
    author = User.objects.create(username="ann")
    message = Message.objects.create(room=room, author=author, text="hi both")
    for name in ("one", "two"):
        data = clients[name].wait_event(name, channel, "show-message")["data"]
        assert data == {"id": message.pk, "text": "hi both", "author.username": "ann"}


@pytest.mark.usefixtures("through_balancer")
def test_presence_across_nodes_and_soketis_user_count(clients):
    channel = unique("presence-room")
    clients["one"].connect("a")
    clients["two"].connect("b")
    clients["one"].subscribe("a", channel, user={"user_id": "alice", "user_info": {"name": "Alice"}})
    joined = clients["two"].subscribe("b", channel, user={"user_id": "bob", "user_info": {"name": "Bob"}})
    assert set(joined["members"]["ids"]) == {"alice", "bob"}  # node two knows node one's member
    assert clients["one"].wait_event("a", channel, "pusher:member_added")["data"]["id"] == "bob"
    wait_until(lambda: sorted(pushbridge.channel_users(channel)) == ["alice", "bob"], what="both members")
    # The same user on both nodes: members are by user, but Soketi's user_count counts per node.
    clients["two"].connect("a2")
    clients["two"].subscribe("a2", channel, user={"user_id": "alice", "user_info": {"name": "Alice"}})
    wait_until(lambda: pushbridge.channel_info(channel, info="user_count")["user_count"] == 3, what="over-count")
    assert sorted(set(pushbridge.channel_users(channel))) == ["alice", "bob"]


@pytest.mark.usefixtures("through_balancer")
def test_send_to_user_and_client_events_cross_nodes(clients):
    user_id, channel = unique("user"), unique("private-chat")
    for name in ("one", "two"):
        clients[name].connect(name)
        clients[name].command("signin", client=name, user={"id": user_id})
        clients[name].subscribe(name, channel)

    def reached_both() -> bool:
        pushbridge.send_to_user(user_id, "notice", {"n": 1})
        return all(
            clients[name].log.matching(lambda e: e["type"] == "user_event" and e["event"] == "notice")
            for name in ("one", "two")
        )

    wait_until(reached_both, what="send_to_user to reach the user on both nodes")
    clients["one"].command("trigger", client="one", channel=channel, event="client-typing", data={"from": "one"})
    assert clients["two"].wait_event("two", channel, "client-typing")["data"] == {"from": "one"}


@pytest.mark.usefixtures("through_balancer")
def test_cache_channel_is_shared_through_redis(clients):
    channel = unique("cache-state")
    clients["one"].connect("first")
    clients["one"].subscribe("first", channel)
    pushbridge.trigger(channel, "state", {"v": 7})
    clients["one"].wait_event("first", channel, "state")
    clients["two"].connect("late")  # the other node never saw the event itself
    clients["two"].subscribe("late", channel)
    assert clients["two"].wait_event("late", channel, "state")["data"] == {"v": 7}


def test_a_node_stopped_mid_test_costs_nothing_after_reconnecting(cluster, clients):
    """Graceful stop (SIGTERM: Soketi tells its clients to reconnect). Leaves node one stopped."""
    victim, survivor = cluster.nodes
    lose_a_node(clients["lb"], victim, survivor, victim.stop)


def test_a_node_killed_mid_test_costs_nothing_after_reconnecting(cluster, clients):
    """A crash (SIGKILL: no goodbye), after node one is back. Leaves node two dead."""
    survivor, victim = cluster.nodes
    survivor.start()
    lose_a_node(clients["lb"], victim, survivor, victim.kill)


def lose_a_node(lb: NodePeers, victim: SoketiNode, survivor: SoketiNode, end: Callable[[], None]) -> None:
    """Clients reconnect through nginx and resubscribe; pushbridge's HOSTS fail over to the survivor."""
    channel = unique("room")
    names = [f"c{n}" for n in range(4)]  # round-robin puts them on both nodes, when both are up
    for name in names:
        lb.connect(name)
        lb.subscribe(name, channel)
    hosts = [f"127.0.0.1:{victim.port}", f"127.0.0.1:{survivor.port}"]  # the victim first
    entry = settings_for(victim, HOST=None, HOSTS=hosts, RETRIES=0)
    with override_settings(PUSHBRIDGE={"default": entry}):
        pushbridge.trigger(channel, "tick", {"n": 1})
        for name in names:
            lb.wait_event(name, channel, "tick", data={"n": 1})
        end()
        dropped = wait_dropped(lb, names)
        assert dropped, "round-robin must have put a client on the lost node"
        for name in dropped:
            lb.log.wait_count(
                lambda e, n=name: (
                    e["type"] == "event"
                    and e["client"] == n
                    and e["channel"] == channel
                    and e["event"] == "pusher:subscription_succeeded"
                ),
                2,
            )  # pusher-js resubscribed on its new connection, through the balancer
        pushbridge.trigger(channel, "tick", {"n": 2})  # the victim refuses: sent to the survivor
        for name in names:
            lb.wait_event(name, channel, "tick", data={"n": 2})


#: How long the set of dropped clients must stay the same before it is taken as complete. nginx
#: closes every client of a dead upstream at once, but each client notices in its own time.
SETTLE_SECONDS = 1.0


def wait_dropped(lb: NodePeers, names: list[str]) -> list[str]:
    """The clients that lost their connection when the node stopped (they reconnect by themselves).

    Waits for the first to notice, then until no other has noticed for :data:`SETTLE_SECONDS`:
    a client counted late would resubscribe after the next event and miss it.
    """

    def dropped() -> list[str]:
        return sorted({e["client"] for e in lb.log.items() if e["type"] == "state" and e["previous"] == "connected"})

    wait_until(lambda: bool(dropped()), what="a client of the stopped node to notice")
    seen, since = dropped(), time.monotonic()
    while time.monotonic() - since < SETTLE_SECONDS and len(seen) < len(names):
        time.sleep(0.05)
        if dropped() != seen:
            seen, since = dropped(), time.monotonic()
    return seen
