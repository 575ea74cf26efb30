"""The Redis bus without Redis: two cores whose buses hand each other their messages directly.

What the Lua scripts decide (webhooks) needs a real Redis and is tested in test_two_nodes;
here the rules each node applies on its own are pinned down: which frames its subscribers
get when members come and go elsewhere, how a message from another node is delivered, and
what goes out (one message per event or per run of events, the frames untouched).
"""

from __future__ import annotations

import json

from pushbridge.engine.cluster_outbox import Publish, PublishEvents, StoreCached, Sync
from pushbridge.engine.cluster_view import ClusterView
from pushbridge.engine.cluster_wire import Keys, parse
from pushbridge.engine.core import PusherCore
from pushbridge.engine.outputs import Output
from pushbridge.engine.redis_bus import RedisBus
from pushbridge.protocol import AppConfig
from tests.server.test_protocol import KEY, SECRET, closes, connect, frames_to, subscribe


class Node:
    """A core on a RedisBus; what the bus delivers later is kept in ``delivered``."""

    def __init__(self, name: str) -> None:
        self.bus = RedisBus(name, Keys("t"), clock=lambda: 1000.0)
        self.core = PusherCore([AppConfig("app-1", KEY, SECRET, webhooks=True)], bus=self.bus, clock=lambda: 1000.0)
        self.delivered: list[Output] = []
        self.bus.attach(self.delivered.extend)

    def send_to(self, other: Node) -> list[str]:
        """Hand what this node queued for Redis to ``other``, as Redis would; return the messages."""
        messages = []
        for entry in self.bus.take_outbox():
            if isinstance(entry, Publish | PublishEvents | Sync):
                message = entry.message
                messages.append(message)
                other.bus.receive(message)
        return messages


def test_an_event_is_one_message_carrying_the_frame_as_encoded() -> None:
    a, b = Node("a"), Node("b")
    here, there = connect(a.core), connect(b.core)
    subscribe(a.core, here, "room")
    subscribe(b.core, there, "room")
    a.send_to(b)
    b.send_to(a)
    outputs = a.bus.publish(a.bus.states["app-1"], "room", '{"event":"e","channel":"room"}', None)
    assert [f["event"] for f in frames_to(outputs, here)] == ["e"]
    [message] = a.send_to(b)
    header, body = parse(message)
    assert header == ["pub", "a", "app-1", "room", None, None]
    assert body == '{"event":"e","channel":"room"}'
    assert [f["event"] for f in frames_to(b.delivered, there)] == ["e"]


def test_a_member_on_two_nodes_is_announced_once_and_leaves_with_its_last_node() -> None:
    a, b = Node("a"), Node("b")
    watcher, one_on_a, one_on_b = connect(a.core), connect(a.core), connect(b.core)
    subscribe(a.core, watcher, "presence-room", {"user_id": "w"})
    subscribe(b.core, one_on_b, "presence-room", {"user_id": "u1", "user_info": {"n": 1}})
    b.send_to(a)
    assert [(f["event"], json.loads(f["data"])["user_id"]) for f in frames_to(a.delivered, watcher)] == [
        ("pusher_internal:member_added", "u1")
    ]
    # u1 again, on node A: the watcher knows u1 already.
    outputs = subscribe(a.core, one_on_a, "presence-room", {"user_id": "u1", "user_info": {"n": 1}})
    assert not [f for f in frames_to(outputs, watcher) if f["event"].startswith("pusher_internal:member")]
    [succeeded] = frames_to(outputs, one_on_a)
    assert json.loads(succeeded["data"])["presence"]["count"] == 2
    # u1 leaves node B: still here through node A.
    a.delivered.clear()
    b.core.closed(one_on_b)
    b.send_to(a)
    assert frames_to(a.delivered, watcher) == []
    # u1 leaves node A too: gone.
    outputs = a.core.closed(one_on_a)
    assert [f["event"] for f in frames_to(outputs, watcher)] == ["pusher_internal:member_removed"]


def test_queries_add_up_both_nodes() -> None:
    a, b = Node("a"), Node("b")
    for _ in range(2):
        subscribe(b.core, connect(b.core), "room")
    subscribe(a.core, connect(a.core), "room")
    subscribe(b.core, connect(b.core), "presence-x", {"user_id": "u9"})
    b.send_to(a)
    state = a.bus.states["app-1"]
    assert a.bus.channel_info(state, "room").subscription_count == 3
    assert sorted(a.bus.channels(state, "")) == ["presence-x", "room"]
    assert a.bus.users(state, "presence-x") == ["u9"]
    assert a.bus.connections(state) == 1 + 3


def test_terminate_and_cache_reach_the_other_node() -> None:
    a, b = Node("a"), Node("b")
    there = connect(b.core)
    there.user_id = "7"
    b.bus.states["app-1"].users["7"] = {there: None}
    a.bus.terminate(a.bus.states["app-1"], "7")
    a.send_to(b)
    assert [c.conn for c in closes(b.delivered)] == [there]

    state = a.bus.states["app-1"]
    a.core.publisher.publish(state, ["cache-news"], "headline", '{"v":1}', None)
    entries = a.bus.take_outbox()
    assert [type(e) for e in entries] == [StoreCached, Publish]
    for entry in entries:
        if isinstance(entry, Publish):
            b.bus.receive(entry.message)
    cached = b.bus.states["app-1"].cache["cache-news"]
    assert cached.data == '{"v":1}'
    assert cached.frame == state.cache["cache-news"].frame


def test_a_node_that_goes_takes_its_members_with_it() -> None:
    view = ClusterView("me")
    view.apply("n1", "app", [("c", "presence-r", 1), ("+", "presence-r", "u1", "{}")], 3)
    view.apply("n2", "app", [("c", "presence-r", 1), ("+", "presence-r", "u1", "{}")], 4)
    assert view.connections("app") == 7
    assert view.forget("n1") == {"app": []}  # still on n2
    [change] = view.forget("n2")["app"]
    assert (change.user_id, change.joined) == ("u1", False)
    assert view.subscriptions("app", "presence-r") == 0
    assert view.connections("app") == 0


def test_a_node_ignores_its_own_messages_and_resyncs_when_declared_gone() -> None:
    a = Node("a")
    conn = connect(a.core)
    subscribe(a.core, conn, "presence-r", {"user_id": "u1"})
    a.bus.take_outbox()
    a.bus.receive('["gone","a"]\n')
    [entry] = a.bus.take_outbox()
    assert isinstance(entry, Sync)
    assert entry.reset
    assert ("+", "presence-r", "u1", "null") in entry.ops
    header, _ = parse(entry.message)
    assert header[:2] == ["state", "a"]
