"""Batches of events between nodes, without Redis: how runs of events are packed and read.

Two cores on Redis buses hand each other their messages directly, as Redis would when every
node reads batches (what the script decides when one does not is tested on a real Redis in
test_rolling_upgrade).
"""

from __future__ import annotations

import json

import pytest

from pushbridge.engine.cluster_outbox import BATCH_CHARS, BATCH_EVENTS, Publish, PublishEvents, StoreCached, Sync
from pushbridge.engine.cluster_wire import events_message, events_of, parse
from tests.cluster.test_redis_bus import Node
from tests.server.test_protocol import connect, frames_to, subscribe


def publish(node: Node, channel: str, event: str, data: object, socket_id: str | None = None) -> None:
    state = node.bus.states["app-1"]
    node.core.publisher.publish(state, [channel], event, json.dumps(data), socket_id)


def test_a_run_of_events_is_one_message_delivered_in_order_with_exclusions_and_cache() -> None:
    a, b = Node("a"), Node("b")
    watcher, excluded, other = connect(b.core), connect(b.core), connect(b.core)
    for conn in (watcher, excluded):
        subscribe(b.core, conn, "room")
    subscribe(b.core, other, "cache-news")
    b.bus.take_outbox()
    for number in range(10):
        channel = "cache-news" if number == 4 else "room"
        publish(a, channel, "e", {"n": number}, excluded.socket_id if number % 2 else None)
    entries = a.bus.take_outbox()
    assert [type(entry) for entry in entries] == [StoreCached, PublishEvents]
    batch = entries[1]
    assert isinstance(batch, PublishEvents)
    assert batch.count == 10
    header, body = parse(batch.message)
    assert header[:3] == ["pubs", "a", "app-1"]
    assert header[3][1] == ["room", excluded.socket_id, None]
    assert header[3][4][:2] == ["cache-news", None]
    assert header[3][4][2] > 0
    # The frames travel as the origin encoded them, one a line.
    assert body.split("\n")[0] == '{"event":"e","channel":"room","data":"{\\"n\\": 0}"}'

    b.bus.receive(batch.message)
    assert [json.loads(f["data"])["n"] for f in frames_to(b.delivered, watcher)] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert [json.loads(f["data"])["n"] for f in frames_to(b.delivered, excluded)] == [0, 2, 6, 8]
    assert [json.loads(f["data"])["n"] for f in frames_to(b.delivered, other)] == [4]
    cached = b.bus.states["app-1"].cache["cache-news"]
    assert cached.frame == a.bus.states["app-1"].cache["cache-news"].frame
    assert json.loads(cached.data) == {"n": 4}


def test_a_run_ends_once_its_frames_reach_the_character_limit() -> None:
    a = Node("a")
    text = "x" * (BATCH_CHARS // 3)  # three frames reach the limit, a fourth starts a new message
    for number in range(5):
        publish(a, "room", "e", {"n": number, "text": text})
    entries = a.bus.take_outbox()
    assert [type(entry) for entry in entries] == [PublishEvents, PublishEvents]
    assert [entry.count for entry in entries if isinstance(entry, PublishEvents)] == [3, 2]
    _, body = parse(entries[0].message)
    assert sum(len(frame) for frame in body.split("\n")) >= BATCH_CHARS


def test_runs_end_at_other_messages_and_at_the_event_limit() -> None:
    a = Node("a")
    state = a.bus.states["app-1"]
    publish(a, "room", "e", 1)
    publish(a, "room", "e", 2)
    a.bus.terminate(state, "u1")
    publish(a, "room", "e", 3)
    subscribe(a.core, connect(a.core), "room")  # a state change: ends the run
    for number in range(BATCH_EVENTS + 1):
        publish(a, "room", "e", number)
    entries = a.bus.take_outbox()
    assert [type(entry) for entry in entries] == [PublishEvents, Publish, Publish, Sync, PublishEvents, Publish]
    first, term, lone = entries[0], entries[1], entries[2]
    assert isinstance(first, PublishEvents)
    assert first.count == 2
    assert isinstance(term, Publish)
    assert parse(term.message)[0][0] == "term"
    assert isinstance(lone, Publish)
    assert parse(lone.message)[0][:4] == ["pub", "a", "app-1", "room"]
    full = entries[4]
    assert isinstance(full, PublishEvents)
    assert full.count == BATCH_EVENTS


def test_a_frame_holding_a_newline_goes_alone_and_order_holds() -> None:
    a, b = Node("a"), Node("b")
    watcher = connect(b.core)
    subscribe(b.core, watcher, "room")
    state = a.bus.states["app-1"]
    frames = ['{"event":"e","channel":"room","data":"1"}', '{"event":"e",\n"channel":"room","data":"2"}']
    frames.append('{"event":"e","channel":"room","data":"3"}')
    for frame in frames:
        a.bus.publish(state, "room", frame, None)
    entries = a.bus.take_outbox()
    assert [type(entry) for entry in entries] == [Publish, Publish, Publish]
    for entry in entries:
        assert isinstance(entry, Publish)
        b.bus.receive(entry.message)
    assert [f["data"] for f in frames_to(b.delivered, watcher)] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("entries", "body", "complaint"),
    [
        ([], "", "non-empty list of entries"),
        ("room", "{}", "non-empty list of entries"),
        ([["room", None, None]], "{}\n{}", "1 entries but 2 frames"),
        ([["room", None, None], ["room", None]], "{}\n{}", "Not a [channel, exclude, cache_ttl] entry"),
        ([["room", None, None], [7, None, None]], "{}\n{}", "Not a [channel, exclude, cache_ttl] entry"),
        ([["room", None, None], ["room", 5, None]], "{}\n{}", "Not a [channel, exclude, cache_ttl] entry"),
        ([["room", None, None], ["room", None, "60"]], "{}\n{}", "Not a [channel, exclude, cache_ttl] entry"),
        ([["room", None, None], ["room", None, 0]], "{}\n{}", "Not a [channel, exclude, cache_ttl] entry"),
    ],
)
def test_a_malformed_batch_is_refused_whole(entries: object, body: str, complaint: str) -> None:
    b = Node("b")
    watcher = connect(b.core)
    subscribe(b.core, watcher, "room")
    message = json.dumps(["pubs", "a", "app-1", entries]) + "\n" + body
    with pytest.raises(ValueError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        b.bus.receive(message)
    assert b.delivered == []


def test_a_batch_reads_back_as_its_events() -> None:
    events = [("room", None, None, '{"a":1}'), ("cache-x", "1.2", 30, '{"b":"é/\\u2028"}')]
    header, body = parse(events_message("n", "app", events))
    assert events_of(header, body) == events
