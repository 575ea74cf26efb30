"""A batch of events fanned out to the same subscribers leaves as one write per connection.

What a client receives must not change: the same frames, in the same order, with the same
exclusions and the same slow-client guard as when every event is written on its own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pushbridge.engine.executor import Peer
from pushbridge.engine.state import Connection
from pushbridge.server import EmbeddedServer, ServerOptions
from pushbridge.signing import sign_request
from tests.server.fakes import QuietWs, RecordingTransport

KEY, SECRET, APP_ID = "fan-key", "fan-secret", "7"


def messages(transport: RecordingTransport) -> list[dict[str, Any]]:
    """Every text frame the transport carried, decoded, across however many writes."""
    stream = b"".join(transport.writes)
    found = []
    while stream:
        assert stream[0] == 0x81, "an unfragmented text frame"
        length, start = stream[1], 2
        if length == 126:
            length, start = int.from_bytes(stream[2:4], "big"), 4
        elif length == 127:
            length, start = int.from_bytes(stream[2:10], "big"), 10
        found.append(json.loads(stream[start : start + length]))
        stream = stream[start + length :]
    return found


def connect(server: EmbeddedServer, channels: list[str], high: int = 0) -> tuple[Connection, RecordingTransport]:
    conn, _ = server.core.open(KEY, {})
    transport = RecordingTransport(high, lambda: server.executor.overflowed(conn))
    conn.sink = Peer(QuietWs(), transport)  # type: ignore[arg-type]
    for channel in channels:
        server.core.receive(conn, json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))
    transport.writes.clear()
    return conn, transport


def publish_batch(server: EmbeddedServer, batch: list[dict[str, Any]]) -> None:
    path = f"/apps/{APP_ID}/batch_events"
    body = json.dumps({"batch": batch}).encode()
    query = "&".join(f"{k}={v}" for k, v in sign_request(KEY, SECRET, "POST", path, {}, body).items())
    reply = server.core.http("POST", f"{path}?{query}", body)
    assert reply.status == 200, reply.body
    server.executor.apply(reply.outputs)


def new_server(**options: Any) -> EmbeddedServer:
    return EmbeddedServer(app_id=APP_ID, key=KEY, secret=SECRET, options=ServerOptions(**options))


def test_a_batch_on_one_channel_is_one_write_per_subscriber_with_every_frame_in_order() -> None:
    server = new_server()
    peers = [connect(server, ["room"]) for _ in range(3)]
    before = server.executor.traffic.deliveries

    publish_batch(server, [{"channel": "room", "name": "e", "data": str(n)} for n in range(10)])

    for _, transport in peers:
        assert len(transport.writes) == 1
        assert [(m["event"], m["channel"], m["data"]) for m in messages(transport)] == [
            ("e", "room", str(n)) for n in range(10)
        ]
    assert server.executor.traffic.deliveries - before == 30


def test_events_for_different_channels_keep_their_order_on_every_connection() -> None:
    server = new_server()
    _, both = connect(server, ["a", "b"])
    _, only_a = connect(server, ["a"])
    batch = [
        {"channel": channel, "name": "e", "data": f"{channel}{n}"} for n in range(3) for channel in ("a", "a", "b")
    ]

    publish_batch(server, batch)

    assert [m["data"] for m in messages(both)] == [event["data"] for event in batch]
    assert [m["data"] for m in messages(only_a)] == [event["data"] for event in batch if event["channel"] == "a"]


def test_an_excluded_socket_misses_only_the_events_that_exclude_it() -> None:
    server = new_server()
    sender, sender_transport = connect(server, ["room"])
    _, other = connect(server, ["room"])
    batch = [
        {"channel": "room", "name": "e", "data": "1"},
        {"channel": "room", "name": "e", "data": "2", "socket_id": sender.socket_id},
        {"channel": "room", "name": "e", "data": "3", "socket_id": sender.socket_id},
        {"channel": "room", "name": "e", "data": "4"},
    ]

    publish_batch(server, batch)

    assert [m["data"] for m in messages(sender_transport)] == ["1", "4"]
    assert [m["data"] for m in messages(other)] == ["1", "2", "3", "4"]


def test_a_subscriber_too_slow_for_a_batch_gets_its_pusher_error_last_and_the_others_everything() -> None:
    limit = 4096
    server = new_server(max_buffer_bytes=limit)
    slow, slow_transport = connect(server, ["room"], high=limit)
    _, fast = connect(server, ["room"])
    batch = [{"channel": "room", "name": "e", "data": "x" * 1000} for _ in range(10)]

    async def scenario() -> None:
        publish_batch(server, batch)
        publish_batch(server, batch)
        await asyncio.gather(*server.executor.closing_tasks)

    asyncio.run(scenario())

    assert slow.closed
    received = messages(slow_transport)
    assert received[-1]["event"] == "pusher:error"
    assert received[-1]["data"]["code"] == 4100
    assert all(m["event"] == "e" for m in received[:-1])
    assert len(received) - 1 < 20
    assert len(messages(fast)) == 20


def http_outputs(server: EmbeddedServer, event: dict[str, Any]) -> list[Any]:
    path = f"/apps/{APP_ID}/events"
    body = json.dumps(event).encode()
    query = "&".join(f"{k}={v}" for k, v in sign_request(KEY, SECRET, "POST", path, {}, body).items())
    reply = server.core.http("POST", f"{path}?{query}", body)
    assert reply.status == 200, reply.body
    return list(reply.outputs)


def test_publishes_read_in_one_loop_iteration_leave_in_one_write_per_subscriber() -> None:
    server = new_server()
    peers = [connect(server, ["room"]) for _ in range(3)]

    async def scenario() -> None:
        for n in range(3):
            server.executor.apply_soon(http_outputs(server, {"channels": ["room"], "name": "e", "data": str(n)}))
        assert all(not transport.writes for _, transport in peers), "nothing leaves before the iteration ends"
        await asyncio.sleep(0)

    asyncio.run(scenario())

    for _, transport in peers:
        assert len(transport.writes) == 1
        assert [m["data"] for m in messages(transport)] == ["0", "1", "2"]


def test_outputs_carried_out_at_once_come_after_those_still_waiting() -> None:
    server = new_server()
    conn, transport = connect(server, ["room"])

    async def scenario() -> None:
        server.executor.apply_soon(http_outputs(server, {"channels": ["room"], "name": "first", "data": "1"}))
        server.executor.apply(server.core.receive(conn, json.dumps({"event": "pusher:ping", "data": {}})))
        await asyncio.sleep(0)

    asyncio.run(scenario())

    assert [m["event"] for m in messages(transport)] == ["first", "pusher:pong"]
