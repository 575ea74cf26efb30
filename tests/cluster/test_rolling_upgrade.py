"""Batches of events on a real Redis, next to nodes of the release before batches.

A node of that release reads four kinds of messages (``pub``, ``state``, ``term``, ``gone``)
and drops any other as unknown. :class:`OldNode` stands in for one: it registers on Redis
exactly as that release does (a place in the live set, nothing else), then listens to the
bus and reads each message by that release's rules. Real nodes are server processes
(tests/cluster/conftest.py) with pysher clients.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pushbridge.engine import redis_scripts
from pushbridge.engine.cluster_wire import READS, event_message, events_message
from tests.cluster.conftest import APP_ID, KEY, NODE_TIMEOUT, SECRET, Cluster, ClusterNode
from tests.server.peers import PysherPeer, wait_until
from tests.services.redis import RedisServer

#: The kinds the release before batches reads.
OLD_KINDS = ("pub", "state", "term", "gone")


def old_release_reads(message: str) -> tuple[str, list[Any], str]:
    """A message as the release before batches reads it: kind, header, body; raises as it did."""
    head, _, body = message.partition("\n")
    header = json.loads(head)
    if header[0] not in OLD_KINDS:
        raise ValueError(f"Unknown cluster message kind {header[0]!r}")
    if header[0] == "pub":
        _, _, _, _channel, _exclude, _cache_ttl = header  # what that release unpacks
    return header[0], header, body


class OldNode:
    """A node of the previous release: registered in ``nodes`` only, then listening to the bus."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.prefix = prefix
        self.node_id = f"old-{uuid.uuid4().hex[:8]}"
        self.messages: list[str] = []
        seconds, micros = self.client.time()
        deadline = seconds * 1000 + micros // 1000 + 120_000  # the heartbeat it would renew
        self.client.zadd(f"{prefix}:nodes", {self.node_id: deadline})  # that release's JOIN
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(f"{prefix}:bus")  # after registering, as that release does
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.05)
            if message is not None and message["type"] == "message":
                self.messages.append(message["data"])

    def read(self) -> list[tuple[str, list[Any], str]]:
        """Every message it got, read by its rules (an unreadable one fails the test)."""
        return [old_release_reads(message) for message in list(self.messages)]

    def events(self) -> list[Any]:
        return [json.loads(json.loads(body)["data"]) for kind, _, body in self.read() if kind == "pub"]

    def leave(self) -> None:
        """What that release's LEAVE does for a node that holds nothing."""
        self.client.zrem(f"{self.prefix}:nodes", self.node_id)
        self.client.publish(f"{self.prefix}:bus", json.dumps(["gone", self.node_id]) + "\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.pubsub.close()
        self.client.close()


class BusListener:
    """Records the bus's messages by kind (a plain subscriber: not a node, not in ``nodes``)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(f"{prefix}:bus")
        self.messages: list[str] = []

    def kinds(self) -> list[str]:
        quiet_until = time.monotonic() + 0.1
        while time.monotonic() < quiet_until:
            message = self.pubsub.get_message(timeout=0.02)
            if message is not None:
                self.messages.append(message["data"])
                quiet_until = time.monotonic() + 0.1
        return [json.loads(message.partition("\n")[0])[0] for message in self.messages]

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def listener() -> Iterator[list[BusListener]]:
    made: list[BusListener] = []
    yield made
    for item in made:
        item.close()


def pysher_on(port: int) -> PysherPeer:
    return PysherPeer("127.0.0.1", port, KEY, SECRET).connect()


def counted_on(cluster: Cluster, node: ClusterNode, channel: str, subscribers: int) -> None:
    """Wait until ``node`` counts ``subscribers`` on ``channel`` (the other node's included)."""
    sdk = cluster.sdk(node.port)
    wait_until(
        lambda: sdk.channel_info(channel, ["subscription_count"]).get("subscription_count") == subscribers,
        what=f"{subscribers} subscribers of {channel} counted on {node.address}",
    )


def numbered(channel: str, start: int, count: int = 10, **extra: Any) -> list[dict[str, Any]]:
    return [{"channel": channel, "name": "n", "data": {"n": n}, **extra} for n in range(start, start + count)]


def received(peer: PysherPeer, channel: str) -> list[int]:
    return [json.loads(event["data"])["n"] for event in peer.events(channel, "n")]


# -- the script, on its own -------------------------------------------------------------------


class Scripts:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.prefix = f"up-{uuid.uuid4().hex[:8]}"
        self._join = client.register_script(redis_scripts.JOIN)
        self._publish = client.register_script(redis_scripts.PUBLISH_EVENTS)
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(f"{self.prefix}:bus")

    def join(self, node: str, reads: str = READS) -> None:
        self._join(args=[self.prefix, node, 60_000, reads])

    def publish(self, message: str, linger_ms: int = 60_000) -> int:
        return int(self._publish(args=[self.prefix, linger_ms, message]))

    def bus(self) -> list[str]:
        """What the bus carried since last asked (a quiet 0.3 s ends the wait)."""
        got = []
        quiet_until = time.monotonic() + 0.3
        while time.monotonic() < quiet_until:
            message = self.pubsub.get_message(timeout=0.05)
            if message is not None:
                got.append(message["data"])
                quiet_until = time.monotonic() + 0.3
        return got


@pytest.fixture
def scripts(redis_server: RedisServer) -> Iterator[Scripts]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield Scripts(client)
    client.close()


EVENTS = [
    ("room", None, None, '{"event":"e","channel":"room","data":"1"}'),
    ("cache-ü/x", "12.34", 30, '{"event":"e","channel":"cache-ü/x","data":"{\\"v\\":\\"é\\\\n/\\u2028\\"}"}'),
    ("room", "5.6", None, '{"event":"e","channel":"room","data":"3"}'),
]


def test_the_batch_goes_as_one_message_while_every_live_node_reads_batches(scripts: Scripts) -> None:
    scripts.join("a")
    scripts.join("b")
    message = events_message("a", "app", EVENTS)
    assert scripts.publish(message) == 1
    assert scripts.bus() == [message]


def test_next_to_an_old_node_each_event_goes_as_the_old_release_sends_it(scripts: Scripts) -> None:
    scripts.join("a")
    old = OldNode(_url(scripts.client), scripts.prefix)
    try:
        assert scripts.publish(events_message("a", "app", EVENTS), linger_ms=60_000) == 0
        expected = [event_message("a", "app", *event) for event in EVENTS]
        got = scripts.bus()
        assert [json.loads(m.partition("\n")[0]) for m in got] == [json.loads(m.partition("\n")[0]) for m in expected]
        assert [m.partition("\n")[2] for m in got] == [e[3] for e in EVENTS]  # frames byte for byte
        wait_until(lambda: len(old.messages) == 3, what="the old node to get the three events")
        assert [kind for kind, _, _ in old.read()] == ["pub", "pub", "pub"]
        # Gone from the live set, it may still be listening (reaped while hung): batches
        # stay off for the linger, then resume.
        old.leave()
        assert scripts.publish(events_message("a", "app", EVENTS)) == 0
        legacy = f"{scripts.prefix}:legacy"
        assert 0 < scripts.client.pttl(legacy) <= 60_000  # set, with the linger, when the old node was seen
        scripts.client.delete(legacy)  # what its expiry does
        assert scripts.publish(events_message("a", "app", EVENTS)) == 1
    finally:
        old.close()


def _url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def test_a_node_that_does_not_advertise_pubs_is_old_and_what_reads_says_follows_the_live_set(
    scripts: Scripts,
) -> None:
    scripts.join("a")
    scripts.join("b", reads="pub state term gone")
    assert scripts.publish(events_message("a", "app", EVENTS), linger_ms=1) == 0
    leave = scripts.client.register_script(redis_scripts.LEAVE)
    leave(args=[scripts.prefix, "b"])
    assert scripts.client.hkeys(f"{scripts.prefix}:reads") == ["a"]
    # A field left behind (an old node's script reaped a new node) is dropped at the next JOIN.
    scripts.client.hset(f"{scripts.prefix}:reads", "reaped", READS)
    scripts.join("c")
    assert sorted(scripts.client.hkeys(f"{scripts.prefix}:reads")) == ["a", "c"]
    wait_until(lambda: not scripts.client.exists(f"{scripts.prefix}:legacy"), what="the 1 ms linger to pass")
    assert scripts.publish(events_message("a", "app", EVENTS)) == 1


# -- real nodes -------------------------------------------------------------------------------


@pytest.mark.peers
def test_a_batch_crosses_nodes_in_order_with_exclusions_and_cache(make_cluster, listener) -> None:
    cluster: Cluster = make_cluster()
    node_a, node_b = cluster.nodes
    bus = BusListener(cluster.redis_server.url, cluster.prefix)
    listener.append(bus)
    room, cache = f"room-{uuid.uuid4().hex[:6]}", f"cache-{uuid.uuid4().hex[:6]}"
    watcher, excluded = pysher_on(node_b.port), pysher_on(node_b.port)
    late = None
    try:
        for peer in (watcher, excluded):
            peer.subscribe(room, "n")
        counted_on(cluster, node_a, room, 2)
        bus.kinds()
        bus.messages.clear()
        batch = numbered(room, 0, 9)
        for event in batch[1::2]:
            event["socket_id"] = excluded.socket_id
        batch.insert(4, {"channel": cache, "name": "n", "data": {"n": "cached"}})
        cluster.sdk(node_a.port).trigger_batch(batch)
        wait_until(lambda: len(received(watcher, room)) == 9, what="the watcher on node B to get 9 events")
        assert received(watcher, room) == list(range(9))
        wait_until(lambda: len(received(excluded, room)) == 5, what="the excluded one to get the other 5")
        assert received(excluded, room) == [0, 2, 4, 6, 8]
        wait_until(lambda: "pubs" in bus.kinds(), what="the batch on the bus")
        [message] = [m for m in bus.messages if m.startswith('["pubs"')]
        assert len(json.loads(message.partition("\n")[0])[3]) == 10
        assert "pub" not in bus.kinds()
        late = pysher_on(node_b.port)
        late.subscribe(cache, "n")
        got = late.log.wait_for(lambda e: e.get("channel") == cache and e["event"] == "n")
        assert json.loads(got["data"]) == {"n": "cached"}
    finally:
        for peer in (watcher, excluded, late):
            if peer is not None:
                peer.close()


@pytest.mark.peers
def test_with_an_old_node_live_events_go_one_message_each_then_batches_resume(make_cluster, listener) -> None:
    cluster: Cluster = make_cluster()
    node_a, node_b = cluster.nodes
    old = OldNode(cluster.redis_server.url, cluster.prefix)
    bus = BusListener(cluster.redis_server.url, cluster.prefix)
    listener.append(bus)
    room = f"room-{uuid.uuid4().hex[:6]}"
    watcher = pysher_on(node_b.port)
    try:
        watcher.subscribe(room, "n")
        counted_on(cluster, node_a, room, 1)
        cluster.sdk(node_a.port).trigger_batch(numbered(room, 0))
        wait_until(lambda: len(received(watcher, room)) == 10, what="node B's subscriber to get 10 events")
        assert received(watcher, room) == list(range(10))
        wait_until(lambda: len(old.events()) == 10, what="the old node to read the 10 events")
        assert [event["n"] for event in old.events()] == list(range(10))
        assert "pubs" not in bus.kinds()
        # Seen live: batches stay off for 3 node timeouts after (docs/scaling.md).
        assert 0 < cluster.redis.pttl(f"{cluster.prefix}:legacy") <= 3 * NODE_TIMEOUT * 1000

        # The old node leaves (the last of its release): batches come back after the linger.
        old.leave()
        sent = [10]

        def batches_again() -> bool:
            cluster.sdk(node_a.port).trigger_batch(numbered(room, sent[0]))
            sent[0] += 10
            time.sleep(0.2)
            return "pubs" in bus.kinds()

        wait_until(batches_again, timeout=30, what="batches once no old node is live")
        wait_until(lambda: len(received(watcher, room)) == sent[0], what="every event on node B")
        assert received(watcher, room) == list(range(sent[0]))
    finally:
        watcher.close()
        old.close()


@pytest.mark.peers
def test_an_old_node_joining_mid_stream_misses_nothing(make_cluster) -> None:
    cluster: Cluster = make_cluster()
    node_a, _ = cluster.nodes
    room = f"room-{uuid.uuid4().hex[:6]}"
    sdk = cluster.sdk(node_a.port)
    stop = threading.Event()
    published = [0]

    def publish_forever() -> None:
        while not stop.is_set():
            sdk.trigger_batch(numbered(room, published[0]))
            published[0] += 10

    publisher = threading.Thread(target=publish_forever, daemon=True)
    publisher.start()
    old = None
    try:
        wait_until(lambda: published[0] >= 100, what="the stream to run")
        old = OldNode(cluster.redis_server.url, cluster.prefix)
        wait_until(lambda: len(old.events()) >= 100, timeout=30, what="the old node to get events")
        stop.set()
        publisher.join(30)
        last = published[0] - 1
        wait_until(lambda: old.events() and old.events()[-1]["n"] == last, what="the old node to get the last event")
        numbers = [event["n"] for event in old.events()]
        assert numbers == list(range(numbers[0], last + 1)), "no gap after it started listening"
    finally:
        stop.set()
        if old is not None:
            old.close()


@pytest.mark.peers
def test_malformed_batches_are_dropped_logged_rate_limited_and_the_node_serves_on(make_cluster) -> None:
    cluster: Cluster = make_cluster()
    node_a, node_b = cluster.nodes
    room = f"room-{uuid.uuid4().hex[:6]}"
    watcher = pysher_on(node_b.port)
    try:
        watcher.subscribe(room, "n")
        bad = [
            json.dumps(["pubs", "intruder", APP_ID, [[room, None, None]]]) + "\n{}\n{}",
            json.dumps(["pubs", "intruder", APP_ID, "nope"]) + "\n{}",
            json.dumps(["pubs", "intruder", APP_ID, [[room, None, "1"]]]) + "\n{}",
            '["pubs", "intruder", ' + "\n",
            '["pubs", "intruder"]\n{}',
            '["pubs", "intruder", ["not", "an", "app"], []]\n{}',
        ]
        for number in range(60):
            cluster.redis.publish(f"{cluster.prefix}:bus", bad[number % len(bad)])
        counted_on(cluster, node_a, room, 1)
        cluster.sdk(node_a.port).trigger_batch(numbered(room, 0))
        wait_until(lambda: len(received(watcher, room)) == 10, what="node B to deliver after the junk")
        assert received(watcher, room) == list(range(10))
        for node in cluster.nodes:
            assert node.health()["ok"] is True
            logged = [line for line in node.output if "Dropped a malformed cluster message" in line]
            assert 1 <= len(logged) <= 10, "rate-limited: at most 10 of one kind per 10 s"
            assert not [line for line in node.output if "Traceback" in line]
    finally:
        watcher.close()


@pytest.mark.peers
def test_batches_survive_redis_losing_the_script(make_cluster, redis_factory) -> None:
    redis_server = redis_factory()
    cluster: Cluster = make_cluster(redis=redis_server)
    node_a, node_b = cluster.nodes
    room = f"room-{uuid.uuid4().hex[:6]}"
    watcher = pysher_on(node_b.port)
    try:
        watcher.subscribe(room, "n")
        counted_on(cluster, node_a, room, 1)
        cluster.redis.script_flush()
        cluster.sdk(node_a.port).trigger_batch(numbered(room, 0))
        wait_until(lambda: len(received(watcher, room)) == 10, what="the batch after SCRIPT FLUSH")
        assert received(watcher, room) == list(range(10))
    finally:
        watcher.close()
