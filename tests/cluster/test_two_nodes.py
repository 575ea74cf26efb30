"""Two server processes on one Redis behind a real nginx, driven by real clients.

pusher-js (Node), pysher and the official ``pusher`` SDK talk to the cluster through nginx
(round-robin) unless a test needs to know where a client is: then it connects straight to
one node. Answers that travel between nodes arrive a moment later, so the tests wait for
them (never for a fixed time) and then check that nothing came twice.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from tests.cluster.conftest import KEY, SECRET, Cluster
from tests.server.peers import PysherPeer, wait_until

pytestmark = pytest.mark.peers

#: Seconds to wait for what follows a node's death: the node timeout, then pusher-js's
#: reconnection back-off, on a machine that may be busy.
AFTER_DEATH = 30.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def users(cluster: Cluster, channel: str) -> list[str]:
    return sorted(user["id"] for user in cluster.sdk().users_info(channel)["users"])


def subscription_count(cluster: Cluster, channel: str) -> int:
    info = cluster.sdk().channel_info(channel, ["subscription_count"])
    return int(info.get("subscription_count", 0))


def pysher_on(port: int, **kwargs: Any) -> PysherPeer:
    return PysherPeer("127.0.0.1", port, KEY, SECRET, **kwargs).connect()


def test_events_reach_every_node_and_webhooks_go_out_once(make_cluster, pusher_js):
    cluster = make_cluster()
    js = pusher_js(cluster.nginx.port)
    clients = ["a", "b", "c", "d"]
    for client in clients:
        js.connect(client)
    assert [node.health()["connections"] for node in cluster.nodes] == [2, 2], "nginx spreads the clients"
    room = unique("room")
    for client in clients:
        js.subscribe(client, room)
    peer = pysher_on(cluster.nginx.port)
    try:
        peer.subscribe(room, "news")
        wait_until(lambda: subscription_count(cluster, room) == 5, what="both nodes' subscribers counted")
        sdk = cluster.sdk()
        for number in range(4):  # through nginx: published on both nodes in turn
            sdk.trigger(room, "news", {"n": number})
        for client in clients:
            js.log.wait_count(lambda e, c=client: e["type"] == "event" and e["client"] == c and e["event"] == "news", 4)
        wait_until(lambda: len(peer.events(room, "news")) == 4, what="pysher to get the 4 events")
        for client in clients:
            assert sorted(e["data"]["n"] for e in js.events(client, room, "news")) == [0, 1, 2, 3]
        assert room in sdk.channels_info()["channels"]
        for node in cluster.nodes:  # Each node's round trips to Redis show in its metrics.
            metrics = requests.get(f"http://{node.address}/metrics", timeout=10).text
            [count] = [
                line for line in metrics.splitlines() if line.startswith("pushbridge_bus_round_trip_seconds_count")
            ]
            assert float(count.split()[-1]) > 0
        cluster.webhooks.wait_event(lambda e: e["name"] == "channel_occupied" and e["channel"] == room)
        assert len(cluster.hooks("channel_occupied", channel=room)) == 1
        for client in clients:
            js.command("unsubscribe", client=client, channel=room)
    finally:
        peer.close()
    cluster.webhooks.wait_event(lambda e: e["name"] == "channel_vacated" and e["channel"] == room)
    assert len(cluster.hooks("channel_vacated", channel=room)) == 1
    assert room not in cluster.sdk().channels_info()["channels"]


def test_presence_members_are_shared_and_a_user_on_two_nodes_is_one_member(make_cluster, pusher_js):
    cluster = make_cluster()
    node_a, node_b = cluster.nodes
    on_a, on_b = pusher_js(node_a.port), pusher_js(node_b.port)
    on_a.connect("one-a")
    on_b.connect("two")
    on_b.connect("one-b")
    channel = unique("presence-room")
    one = {"user_id": "u1", "user_info": {"name": "One"}}
    on_a.subscribe("one-a", channel, user=one)
    wait_until(lambda: users(cluster, channel) == ["u1"], what="u1 known to the cluster")
    # u2 joins on the other node: its member list names u1, who is on node A only.
    joined = on_b.subscribe("two", channel, user={"user_id": "u2", "user_info": {"name": "Two"}})
    assert joined is not None
    assert sorted(joined["members"]["ids"]) == ["u1", "u2"]
    added = on_a.wait_event("one-a", channel, "pusher:member_added")
    assert added["data"] == {"id": "u2", "info": {"name": "Two"}}
    # u1 again, on node B: still one member, announced to nobody.
    on_b.subscribe("one-b", channel, user=one)
    wait_until(lambda: subscription_count(cluster, channel) == 3, what="three subscriptions")
    assert users(cluster, channel) == ["u1", "u2"]
    assert cluster.sdk().channel_info(channel, ["user_count"])["user_count"] == 2
    for user in ("u1", "u2"):
        cluster.webhooks.wait_event(lambda e, u=user: e["name"] == "member_added" and e.get("user_id") == u)
        assert len(cluster.hooks("member_added", channel=channel, user_id=user)) == 1
    assert not on_b.events("two", channel, "pusher:member_added")

    # u1 leaves node A: still a member through node B.
    on_a.command("unsubscribe", client="one-a", channel=channel)
    wait_until(lambda: subscription_count(cluster, channel) == 2, what="node A's subscription gone")
    assert users(cluster, channel) == ["u1", "u2"]
    # u1 leaves node B too: now u1 is gone, for u2 and for the app (once).
    on_b.command("unsubscribe", client="one-b", channel=channel)
    removed = on_b.wait_event("two", channel, "pusher:member_removed")
    assert removed["data"]["id"] == "u1"
    cluster.webhooks.wait_event(lambda e: e["name"] == "member_removed" and e.get("user_id") == "u1")
    assert len(cluster.hooks("member_removed", channel=channel, user_id="u1")) == 1
    assert users(cluster, channel) == ["u2"]

    # Client events cross nodes too.
    private = unique("private-chat")
    on_a.subscribe("one-a", private)
    on_b.subscribe("two", private)
    wait_until(lambda: subscription_count(cluster, private) == 2, what="both private subscriptions")
    on_a.command("trigger", client="one-a", channel=private, event="client-hi", data={"from": "a"})
    assert on_b.wait_event("two", private, "client-hi")["data"] == {"from": "a"}
    cluster.webhooks.wait_event(lambda e: e["name"] == "client_event" and e["channel"] == private)
    assert len(cluster.hooks("client_event", channel=private)) == 1


def test_users_terminate_and_cache_channels_across_nodes(make_cluster, pusher_js):
    cluster = make_cluster()
    node_a, node_b = cluster.nodes
    on_a, on_b = pusher_js(node_a.port), pusher_js(node_b.port)
    on_a.connect("x")
    on_b.connect("y")
    user_id = unique("user")
    for peers, client in ((on_a, "x"), (on_b, "y")):
        peers.command("signin", client=client, user={"id": user_id})
    sdk = cluster.sdk()

    def both_got_a_notice() -> bool:
        sdk.send_to_user(user_id, "notice", {"to": user_id})
        return all(
            peers.log.matching(lambda e, c=client: e["type"] == "user_event" and e["client"] == c)
            for peers, client in ((on_a, "x"), (on_b, "y"))
        )

    wait_until(both_got_a_notice, what="send_to_user to reach the user on both nodes")
    assert sdk.terminate_user_connections(user_id) == {}
    for peers, client in ((on_a, "x"), (on_b, "y")):
        error = peers.log.wait_for(lambda e, c=client: e["type"] == "error" and e["client"] == c)
        assert error["data"]["data"]["code"] == 4009

    # A cache channel's last event, published on node A, reaches a newcomer on node B...
    cache = unique("cache-headline")
    cluster.sdk(node_a.port).trigger(cache, "headline", {"v": 1})
    on_b_sdk = cluster.sdk(node_b.port)
    wait_until(lambda: "cache" in on_b_sdk.channel_info(cache, ["cache"]), what="node B to hold the cached event")
    late = pysher_on(node_b.port)
    try:
        late.subscribe(cache, "headline")
        got = late.log.wait_for(lambda e: e.get("channel") == cache and e["event"] == "headline")
        assert json.loads(got["data"]) == {"v": 1}
        assert not late.events(cache, "pusher:cache_miss")
    finally:
        late.close()
    # ...and a newcomer on a node started after it was published.
    node_c = cluster.start_node()
    cluster.nodes.append(node_c)
    later = pysher_on(node_c.port)
    try:
        later.subscribe(cache, "headline")
        got = later.log.wait_for(lambda e: e.get("channel") == cache and e["event"] == "headline")
        assert json.loads(got["data"]) == {"v": 1}
    finally:
        later.close()


def test_a_node_killed_is_forgotten_by_the_others(make_cluster, pusher_js):
    cluster = make_cluster()
    node_a, node_b = cluster.nodes
    presence, solo, room = unique("presence-crew"), unique("solo"), unique("room")
    survivor = pysher_on(node_a.port, user_data={"user_id": "u1"})
    doomed = pysher_on(node_b.port, user_data={"user_id": "u2"})
    js = pusher_js(cluster.nginx.port)
    try:
        survivor.subscribe(presence)
        doomed.subscribe(presence)
        doomed.subscribe(solo)
        for client in ("r1", "r2"):  # one on each node
            js.connect(client)
            js.subscribe(client, room)
        wait_until(lambda: users(cluster, presence) == ["u1", "u2"], what="both members known")
        wait_until(lambda: subscription_count(cluster, room) == 2, what="both roamers counted")

        node_b.kill()

        removed = survivor.log.wait_for(
            lambda e: e.get("channel") == presence and e["event"] == "pusher_internal:member_removed",
            timeout=AFTER_DEATH,
        )
        assert json.loads(removed["data"]) == {"user_id": "u2"}
        cluster.webhooks.wait_event(lambda e: e["name"] == "channel_vacated" and e["channel"] == solo, AFTER_DEATH)
        cluster.webhooks.wait_event(lambda e: e["name"] == "member_removed" and e.get("user_id") == "u2")
        assert len(cluster.hooks("member_removed", channel=presence, user_id="u2")) == 1
        assert len(cluster.hooks("channel_vacated", channel=solo)) == 1
        assert cluster.live_nodes() == [node_a.node_id]
        assert users(cluster, presence) == ["u1"]  # nginx now answers from node A
        assert solo not in cluster.sdk().channels_info()["channels"]
        # pusher-js on the dead node reconnects through nginx to node A and subscribes again.
        wait_until(
            lambda: subscription_count(cluster, room) == 2, timeout=AFTER_DEATH, what="the roamer back, on node A"
        )
        cluster.sdk().trigger(room, "after", {"ok": True})
        for client in ("r1", "r2"):
            js.wait_event(client, room, "after")
    finally:
        survivor.close()
        doomed.close()


def test_per_app_limits_count_every_node(make_cluster):
    import websocket

    cluster = make_cluster(2, "--max-connections", "2", "--max-presence-members", "1")
    node_a, node_b = cluster.nodes
    first = pysher_on(node_a.port, user_data={"user_id": "u1"})
    second = pysher_on(node_b.port, user_data={"user_id": "u2"})
    try:
        # One member per presence channel: u1 on node A fills it for node B's u2 too.
        channel = unique("presence-small")
        first.subscribe(channel)
        wait_until(lambda: users(cluster, channel) == ["u1"], what="u1 known to the cluster")
        second.subscribe(channel)
        [refused] = second.events(channel, "pusher:subscription_error")
        assert "LimitReached" in str(refused["data"])
        assert "already has 1 members" in str(refused["data"])

        # Two connections per app: node A holds one, under the cap, but node B's counts too.
        refusals: list[dict[str, Any]] = []

        def third_is_refused() -> bool:
            client = websocket.create_connection(f"ws://127.0.0.1:{node_a.port}/app/{KEY}?protocol=7", timeout=10)
            reply = json.loads(client.recv())
            client.close()
            if reply["event"] == "pusher:error":
                refusals.append(reply)
                return True
            return False

        wait_until(third_is_refused, what="node A to count node B's connection")
        assert refusals[-1]["data"]["code"] == 4100
        assert "allows 2 connections" in refusals[-1]["data"]["message"]
        second.close()
        wait_until(lambda: not third_is_refused(), what="room again once node B's connection closed")
    finally:
        first.close()
        second.close()


def test_the_cluster_is_whole_again_after_redis_comes_back(make_cluster, redis_factory):
    redis_server = redis_factory()
    cluster = make_cluster(redis=redis_server)
    node_a, node_b = cluster.nodes
    room = unique("room")
    here, there = pysher_on(node_a.port), pysher_on(node_b.port)
    try:
        here.subscribe(room, "news")
        there.subscribe(room, "news")
        wait_until(lambda: subscription_count(cluster, room) == 2, what="both subscribers counted")

        redis_server.kill()
        # Without Redis each node still serves its own clients.
        cluster.sdk(node_a.port).trigger(room, "news", {"n": 1})
        here.log.wait_for(lambda e: e.get("channel") == room and e["event"] == "news")

        redis_server.start()  # empty: every node must announce itself again
        on_a = cluster.sdk(node_a.port)
        wait_until(
            lambda: on_a.channel_info(room, ["subscription_count"]).get("subscription_count") == 2,
            timeout=30,
            what="node A to know node B's subscriber again",
        )
        wait_until(lambda: len(cluster.live_nodes()) == 2, what="both nodes back in Redis")
        # A node listens again within --node-timeout / 4 of Redis answering; what is published
        # before it does is lost to its subscribers, as during the outage.
        wait_until(lambda: cluster.listening_nodes() == 2, what="both nodes listening again")
        on_a.trigger(room, "news", {"n": 2})
        got = there.log.wait_for(
            lambda e: e.get("channel") == room and e["event"] == "news" and json.loads(e["data"]) == {"n": 2}
        )
        assert got
    finally:
        here.close()
        there.close()
