"""Unit tests of the sans-I/O core: every protocol rule, no sockets, a fake clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pushbridge.limits import PUSHER_LIMITS
from pushbridge.protocol import (
    AppConfig,
    CloseConnection,
    Connection,
    Fanout,
    Output,
    Pong,
    PusherCore,
    SendFrame,
    WebhookEvent,
    encode,
)
from pushbridge.signing import sign_channel, sign_request, sign_user

KEY, SECRET = "key", "secret"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core(clock: Clock) -> PusherCore:
    app = AppConfig(app_id="app-1", key=KEY, secret=SECRET, webhooks=True)
    return PusherCore([app], clock=clock, wall_clock=lambda: 1_700_000_000.0)


#: What ``core.stats()`` says of a core with one app once every connection is gone.
NOTHING_LEFT = {"apps": 1, "connections": 0, "channels": 0, "subscriptions": 0, "users": 0, "members": 0, "cached": 0}


def frames_to(outputs: list[Output], conn: Connection) -> list[dict[str, Any]]:
    """Decoded frames that ``outputs`` would deliver to ``conn``, in order."""
    result = []
    for out in outputs:
        if (isinstance(out, SendFrame) and out.conn is conn) or (
            isinstance(out, Fanout) and conn in out.targets and out.exclude is not conn
        ):
            result.append(json.loads(out.frame))
    return result


def closes(outputs: list[Output]) -> list[CloseConnection]:
    return [out for out in outputs if isinstance(out, CloseConnection)]


def hooks(outputs: list[Output]) -> list[dict[str, Any]]:
    return [out.event for out in outputs if isinstance(out, WebhookEvent)]


def connect(core: PusherCore, protocol: str | None = "7") -> Connection:
    conn, outputs = core.open(KEY, {} if protocol is None else {"protocol": protocol})
    assert not conn.closed
    [handshake] = frames_to(outputs, conn)
    assert handshake["event"] == "pusher:connection_established"
    return conn


def send(core: PusherCore, conn: Connection, event: str, data: Any = None, **extra: Any) -> list[Output]:
    message = {"event": event, **extra}
    if data is not None:
        message["data"] = data
    return core.receive(conn, json.dumps(message))


def subscribe(core: PusherCore, conn: Connection, channel: str, user: dict[str, Any] | None = None) -> list[Output]:
    data: dict[str, Any] = {"channel": channel}
    if user is not None:
        data["channel_data"] = json.dumps(user)
        data["auth"] = sign_channel(KEY, SECRET, conn.socket_id, channel, data["channel_data"])
    elif channel.startswith("private-"):
        data["auth"] = sign_channel(KEY, SECRET, conn.socket_id, channel)
    return send(core, conn, "pusher:subscribe", data)


# -- handshake and connection lifecycle -------------------------------------------------------


def test_handshake_data_is_a_json_string_with_socket_id_and_activity_timeout(core: PusherCore) -> None:
    conn, outputs = core.open(KEY, {"protocol": "7", "client": "js", "version": "8.6.0", "flash": "false"})
    [frame] = frames_to(outputs, conn)
    assert isinstance(frame["data"], str)
    data = json.loads(frame["data"])
    assert data == {"socket_id": conn.socket_id, "activity_timeout": 120}
    assert conn.socket_id.count(".") == 1
    assert all(part.isdigit() for part in conn.socket_id.split("."))


@pytest.mark.parametrize("protocol", ["4", "5", "6", "7", None])
def test_protocols_4_to_7_and_missing_are_accepted(core: PusherCore, protocol: str | None) -> None:
    connect(core, protocol)


@pytest.mark.parametrize("protocol", ["3", "8", "x"])
def test_other_protocols_get_error_4007_then_close_4007(core: PusherCore, protocol: str) -> None:
    conn, outputs = core.open(KEY, {"protocol": protocol})
    assert conn.closed
    [error] = frames_to(outputs, conn)
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] == 4007
    assert [c.code for c in closes(outputs)] == [4007]
    assert core.stats()["connections"] == 0


def test_unknown_key_gets_4001(core: PusherCore) -> None:
    conn, outputs = core.open("nope", {"protocol": "7"})
    [error] = frames_to(outputs, conn)
    assert error["data"] == {"code": 4001, "message": "App key 'nope' does not exist."}
    assert [c.code for c in closes(outputs)] == [4001]


def test_max_connections_refuses_with_4100(clock: Clock) -> None:
    core = PusherCore([AppConfig("1", KEY, SECRET, max_connections=1)], clock=clock)
    connect(core)
    conn, outputs = core.open(KEY, {})
    assert frames_to(outputs, conn)[0]["data"]["code"] == 4100
    assert [c.code for c in closes(outputs)] == [4100]


def test_ping_is_answered_with_pong_object(core: PusherCore) -> None:
    conn = connect(core)
    for data in ("", {}):  # pysher sends "", pusher-js {}
        outputs = send(core, conn, "pusher:ping", data)
        assert outputs == [SendFrame(conn, '{"event":"pusher:pong","data":{}}')]


def test_idle_connection_is_pinged_then_closed_with_4201(core: PusherCore, clock: Clock) -> None:
    conn = connect(core)
    clock.now += 119
    assert core.tick() == []
    clock.now += 1
    assert frames_to(core.tick(), conn) == [{"event": "pusher:ping", "data": {}}]
    clock.now += 29
    assert core.tick() == []  # pinged once, still within the grace period
    clock.now += 1
    outputs = core.tick()
    assert frames_to(outputs, conn)[0]["data"]["code"] == 4201
    assert [c.code for c in closes(outputs)] == [4201]


def test_any_message_resets_the_idle_timer(core: PusherCore, clock: Clock) -> None:
    conn = connect(core)
    clock.now += 140
    core.tick()
    send(core, conn, "pusher:pong", {})
    clock.now += 100
    assert core.tick() == []
    clock.now += 40
    core.tick()
    send(core, conn, "pusher:ping")
    clock.now += 100
    assert closes(core.tick()) == []


def test_websocket_pings_and_pongs_are_no_sign_of_life(core: PusherCore, clock: Clock) -> None:
    """A client that never reads can still send pings: they must not keep it connected."""
    conn = connect(core)
    clock.now += 120
    assert frames_to(core.tick(), conn) == [{"event": "pusher:ping", "data": {}}]
    for _ in range(30):
        clock.now += 1
        assert core.receive_ping(conn, b"x") == [Pong(conn, b"x")]
        assert core.receive_pong(conn) == []
    outputs = core.tick()
    assert [c.code for c in closes(outputs)] == [4201]


def test_websocket_pongs_are_charged_to_the_rate_limit(clock: Clock) -> None:
    limits = PUSHER_LIMITS.replace(max_messages_burst=2, max_messages_per_second=1, max_messages_refused=1)
    core = PusherCore([AppConfig("1", KEY, SECRET, limits=limits)], clock=clock)
    conn = connect(core)
    assert core.receive_pong(conn) == core.receive_pong(conn) == []
    [refused] = frames_to(core.receive_pong(conn), conn)
    assert refused["data"]["code"] == 4301
    assert [c.code for c in closes(core.receive_pong(conn))] == [4100]


def test_shutdown_sends_4200_to_everyone(core: PusherCore) -> None:
    a, b = connect(core), connect(core)
    outputs = core.shutdown()
    for conn in (a, b):
        assert frames_to(outputs, conn)[0]["data"]["code"] == 4200
    assert sorted(c.code for c in closes(outputs)) == [4200, 4200]
    assert core.stats()["connections"] == 0


# -- malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["not json", "[1,2]", '"text"', "{}", '{"event": 5}', '{"event":"pusher:subscribe"}', "[" * 100_000]
)
def test_malformed_frames_get_an_error_frame_and_the_connection_survives(core: PusherCore, text: str) -> None:
    conn = connect(core)
    outputs = core.receive(conn, text)
    [error] = frames_to(outputs, conn)
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] is None
    assert closes(outputs) == []
    assert not conn.closed
    assert frames_to(send(core, conn, "pusher:ping"), conn)[0]["event"] == "pusher:pong"


def test_unknown_event_and_binary_frames_are_answered_not_fatal(core: PusherCore) -> None:
    conn = connect(core)
    assert frames_to(send(core, conn, "pusher:what"), conn)[0]["event"] == "pusher:error"
    assert frames_to(core.receive_binary(conn), conn)[0]["event"] == "pusher:error"
    assert not conn.closed


def test_unsubscribing_what_was_never_subscribed_is_quiet(core: PusherCore) -> None:
    conn = connect(core)
    assert send(core, conn, "pusher:unsubscribe", {"channel": "never"}) == []


# -- public, private, presence ------------------------------------------------------------------


def test_public_subscription_succeeded_carries_empty_object_string(core: PusherCore) -> None:
    conn = connect(core)
    outputs = send(core, conn, "pusher:subscribe", {"channel": "room", "auth": ""})
    assert frames_to(outputs, conn) == [
        {"event": "pusher_internal:subscription_succeeded", "channel": "room", "data": "{}"}
    ]
    assert hooks(outputs) == [{"name": "channel_occupied", "channel": "room"}]


def test_subscribing_twice_confirms_again_without_changing_anything(core: PusherCore) -> None:
    conn = connect(core)
    subscribe(core, conn, "room")
    outputs = subscribe(core, conn, "room")
    assert [f["event"] for f in frames_to(outputs, conn)] == ["pusher_internal:subscription_succeeded"]
    assert hooks(outputs) == []
    assert core.subscription_count("room") == 1


def test_private_channel_needs_a_valid_signature(core: PusherCore) -> None:
    conn = connect(core)
    bad = send(core, conn, "pusher:subscribe", {"channel": "private-x", "auth": f"{KEY}:{'0' * 64}"})
    [error] = frames_to(bad, conn)
    assert error["event"] == "pusher:subscription_error"
    assert error["channel"] == "private-x"
    assert error["data"]["type"] == "AuthError"
    assert error["data"]["status"] == 401
    assert "private-x" in error["data"]["error"]
    assert closes(bad) == []
    assert not conn.closed
    good = subscribe(core, conn, "private-x")
    assert frames_to(good, conn)[0]["event"] == "pusher_internal:subscription_succeeded"


def test_signature_of_other_socket_is_refused(core: PusherCore) -> None:
    conn = connect(core)
    token = sign_channel(KEY, SECRET, "1.1", "private-x")
    outputs = send(core, conn, "pusher:subscribe", {"channel": "private-x", "auth": token})
    assert frames_to(outputs, conn)[0]["event"] == "pusher:subscription_error"


def test_invalid_channel_name_is_a_subscription_error(core: PusherCore) -> None:
    conn = connect(core)
    outputs = send(core, conn, "pusher:subscribe", {"channel": "bad channel!"})
    assert frames_to(outputs, conn)[0]["event"] == "pusher:subscription_error"


def test_presence_members_per_user_id_across_sockets(core: PusherCore) -> None:
    alice1, alice2, bob = connect(core), connect(core), connect(core)
    alice = {"user_id": "alice", "user_info": {"name": "Alice"}}
    subscribe(core, bob, "presence-room", {"user_id": "bob"})

    first = subscribe(core, alice1, "presence-room", alice)
    succeeded = frames_to(first, alice1)[0]
    presence = json.loads(succeeded["data"])["presence"]
    assert presence == {
        "ids": ["bob", "alice"],
        "hash": {"bob": None, "alice": {"name": "Alice"}},
        "count": 2,
    }
    added = frames_to(first, bob)
    assert added == [
        {
            "event": "pusher_internal:member_added",
            "channel": "presence-room",
            "data": json.dumps({"user_id": "alice", "user_info": {"name": "Alice"}}, separators=(",", ":")),
        }
    ]
    assert {"name": "member_added", "channel": "presence-room", "user_id": "alice"} in hooks(first)

    second = subscribe(core, alice2, "presence-room", alice)
    assert frames_to(second, bob) == []  # not the user's first socket: no member_added
    assert hooks(second) == []

    assert frames_to(core.closed(alice1), bob) == []  # alice still has a socket
    last = send(core, alice2, "pusher:unsubscribe", {"channel": "presence-room"})
    assert frames_to(last, bob) == [
        {"event": "pusher_internal:member_removed", "channel": "presence-room", "data": '{"user_id":"alice"}'}
    ]
    assert hooks(last) == [{"name": "member_removed", "channel": "presence-room", "user_id": "alice"}]
    vacate = core.closed(bob)
    assert {"name": "channel_vacated", "channel": "presence-room"} in hooks(vacate)


def test_presence_numeric_user_id_becomes_text(core: PusherCore) -> None:
    conn = connect(core)
    outputs = subscribe(core, conn, "presence-n", {"user_id": 10})
    assert json.loads(frames_to(outputs, conn)[0]["data"])["presence"]["ids"] == ["10"]


def test_presence_member_limit(clock: Clock) -> None:
    core = PusherCore([AppConfig("1", KEY, SECRET, limits=PUSHER_LIMITS.replace(max_presence_members=1))], clock=clock)
    a, b = connect(core), connect(core)
    subscribe(core, a, "presence-x", {"user_id": "a"})
    [error] = frames_to(subscribe(core, b, "presence-x", {"user_id": "b"}), b)
    assert error["event"] == "pusher:subscription_error"
    assert error["data"]["status"] == 4100
    # Another socket of an existing member is not a new member.
    c = connect(core)
    assert frames_to(subscribe(core, c, "presence-x", {"user_id": "a"}), c)[0]["event"].endswith("succeeded")


def test_presence_without_channel_data_is_refused(core: PusherCore) -> None:
    conn = connect(core)
    token = sign_channel(KEY, SECRET, conn.socket_id, "presence-x")
    outputs = send(core, conn, "pusher:subscribe", {"channel": "presence-x", "auth": token})
    assert frames_to(outputs, conn)[0]["event"] == "pusher:subscription_error"


def test_encrypted_channel_events_are_relayed_as_is(core: PusherCore) -> None:
    conn = connect(core)
    subscribe(core, conn, "private-encrypted-x")
    payload = json.dumps({"nonce": "bm9uY2U=", "ciphertext": "Y2lwaGVy"})
    reply = core.http(
        "POST", *signed("POST", "/apps/app-1/events", {"name": "e", "channel": "private-encrypted-x", "data": payload})
    )
    assert reply.status == 200
    assert frames_to(reply.outputs, conn)[0]["data"] == payload


# -- client events ------------------------------------------------------------------------------


def test_client_events_reach_other_subscribers_only(core: PusherCore) -> None:
    a, b, outsider = connect(core), connect(core), connect(core)
    subscribe(core, a, "private-chat")
    subscribe(core, b, "private-chat")
    outputs = send(core, a, "client-typing", {"who": "a"}, channel="private-chat")
    assert frames_to(outputs, b) == [{"event": "client-typing", "channel": "private-chat", "data": {"who": "a"}}]
    assert frames_to(outputs, a) == []
    assert frames_to(outputs, outsider) == []
    [hook] = hooks(outputs)
    assert hook == {
        "name": "client_event",
        "channel": "private-chat",
        "event": "client-typing",
        "data": '{"who":"a"}',
        "socket_id": a.socket_id,
    }


def test_client_events_on_presence_carry_user_id(core: PusherCore) -> None:
    a, b = connect(core), connect(core)
    subscribe(core, a, "presence-chat", {"user_id": "u-a"})
    subscribe(core, b, "presence-chat", {"user_id": "u-b"})
    outputs = send(core, a, "client-hi", "text", channel="presence-chat")
    assert frames_to(outputs, b)[0]["user_id"] == "u-a"
    assert hooks(outputs)[0]["user_id"] == "u-a"


@pytest.mark.parametrize("channel", ["public-room", "private-encrypted-x", "private-not-joined"])
def test_client_events_refused_on_public_encrypted_or_unsubscribed_channels(core: PusherCore, channel: str) -> None:
    a, b = connect(core), connect(core)
    for conn in (a, b):
        if channel != "private-not-joined":
            subscribe(core, conn, channel)
    outputs = send(core, a, "client-x", {}, channel=channel)
    [error] = frames_to(outputs, a)
    assert error["event"] == "pusher:error"
    assert frames_to(outputs, b) == []
    assert closes(outputs) == []


def test_client_event_rate_limit_answers_4301_without_closing(core: PusherCore, clock: Clock) -> None:
    a, b = connect(core), connect(core)
    subscribe(core, a, "private-r")
    subscribe(core, b, "private-r")
    delivered = 0
    for _ in range(10):
        delivered += len(frames_to(send(core, a, "client-x", {}, channel="private-r"), b))
    assert delivered == 10
    outputs = send(core, a, "client-x", {}, channel="private-r")
    [error] = frames_to(outputs, a)
    assert error["data"]["code"] == 4301
    assert frames_to(outputs, b) == []
    assert closes(outputs) == []
    assert not a.closed
    clock.now += 1
    assert len(frames_to(send(core, a, "client-x", {}, channel="private-r"), b)) == 1


def test_oversized_client_event_is_refused(core: PusherCore) -> None:
    a, b = connect(core), connect(core)
    subscribe(core, a, "private-big")
    subscribe(core, b, "private-big")
    outputs = send(core, a, "client-x", "x" * (10 * 1024 + 1), channel="private-big")
    assert frames_to(outputs, a)[0]["data"]["code"] == 4301
    assert frames_to(outputs, b) == []


# -- signin and user channels --------------------------------------------------------------------


def signin(core: PusherCore, conn: Connection, user: dict[str, Any]) -> list[Output]:
    user_data = json.dumps(user)
    return send(
        core, conn, "pusher:signin", {"auth": sign_user(KEY, SECRET, conn.socket_id, user_data), "user_data": user_data}
    )


def test_signin_then_only_that_user_may_subscribe_to_its_channel(core: PusherCore) -> None:
    conn, other = connect(core), connect(core)
    outputs = signin(core, conn, {"id": "7", "user_info": {"n": 1}})
    [frame] = frames_to(outputs, conn)
    assert frame == {
        "event": "pusher:signin_success",
        "data": {"user_data": json.dumps({"id": "7", "user_info": {"n": 1}})},
    }
    ok = send(core, conn, "pusher:subscribe", {"channel": "#server-to-user-7", "auth": ""})
    assert frames_to(ok, conn)[0]["event"] == "pusher_internal:subscription_succeeded"
    refused = send(core, other, "pusher:subscribe", {"channel": "#server-to-user-7", "auth": ""})
    assert frames_to(refused, other)[0]["event"] == "pusher:subscription_error"


def test_events_to_a_user_reach_every_signed_in_socket(core: PusherCore) -> None:
    a, b, stranger = connect(core), connect(core), connect(core)
    signin(core, a, {"id": "7"})
    signin(core, b, {"id": "7"})
    reply = core.http(
        "POST", *signed("POST", "/apps/app-1/events", {"name": "n", "channel": "#server-to-user-7", "data": "{}"})
    )
    assert reply.status == 200
    for conn in (a, b):
        assert frames_to(reply.outputs, conn) == [{"event": "n", "channel": "#server-to-user-7", "data": "{}"}]
    assert frames_to(reply.outputs, stranger) == []


def test_bad_signin_closes_with_4009(core: PusherCore) -> None:
    conn = connect(core)
    outputs = send(core, conn, "pusher:signin", {"auth": f"{KEY}:{'0' * 64}", "user_data": '{"id":"1"}'})
    assert frames_to(outputs, conn)[0]["data"]["code"] == 4009
    assert [c.code for c in closes(outputs)] == [4009]


def test_terminate_connections_closes_the_users_sockets(core: PusherCore) -> None:
    a, b = connect(core), connect(core)
    signin(core, a, {"id": "7"})
    for path in ("/apps/app-1/users/7/terminate_connections", "/users/7/terminate_connections"):
        reply = core.http("POST", *signed("POST", path, {}))
        assert reply.status == 200
        assert reply.body == {}
    assert not b.closed
    assert a.closed


# -- cache channels ------------------------------------------------------------------------------


def test_cache_channel_miss_then_last_event(core: PusherCore, clock: Clock) -> None:
    a = connect(core)
    miss = subscribe(core, a, "cache-prices")
    assert [f["event"] for f in frames_to(miss, a)] == ["pusher_internal:subscription_succeeded", "pusher:cache_miss"]
    assert {"name": "cache_miss", "channel": "cache-prices"} in hooks(miss)
    for value in ("1", "2"):
        core.http(
            "POST", *signed("POST", "/apps/app-1/events", {"name": "price", "channel": "cache-prices", "data": value})
        )
    b = connect(core)
    hit = subscribe(core, b, "cache-prices")
    assert frames_to(hit, b)[1] == {"event": "price", "channel": "cache-prices", "data": "2"}
    reply = core.http("GET", *signed("GET", "/apps/app-1/channels/cache-prices", None, {"info": "cache"}))
    assert reply.body["cache"]["data"] == "2"
    clock.now += 31 * 60
    c = connect(core)
    assert frames_to(subscribe(core, c, "cache-prices"), c)[1]["event"] == "pusher:cache_miss"


# -- HTTP API ------------------------------------------------------------------------------------

NOW = 1_700_000_000


def signed(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
    timestamp: int = NOW,
) -> tuple[str, bytes]:
    raw = json.dumps(body).encode() if body is not None else b""
    params = sign_request(KEY, SECRET, method, path, query or {}, raw, timestamp=timestamp)
    return path + "?" + "&".join(f"{k}={v}" for k, v in params.items()), raw


def test_publish_encodes_one_frame_for_all_subscribers(core: PusherCore) -> None:
    conns = [connect(core) for _ in range(3)]
    for conn in conns:
        subscribe(core, conn, "news")
    reply = core.http("POST", *signed("POST", "/apps/app-1/events", {"name": "e", "channels": ["news"], "data": "{}"}))
    [fanout] = reply.outputs
    assert isinstance(fanout, Fanout)
    assert set(fanout.targets) == set(conns)
    assert reply.body == {}


def test_publish_excludes_socket_id(core: PusherCore) -> None:
    a, b = connect(core), connect(core)
    subscribe(core, a, "news")
    subscribe(core, b, "news")
    body = {"name": "e", "channels": ["news"], "data": "{}", "socket_id": a.socket_id}
    reply = core.http("POST", *signed("POST", "/apps/app-1/events", body))
    assert frames_to(reply.outputs, a) == []
    assert len(frames_to(reply.outputs, b)) == 1


def test_publish_info_counts(core: PusherCore) -> None:
    a = connect(core)
    subscribe(core, a, "presence-p", {"user_id": "1"})
    subscribe(core, a, "news")
    body = {"name": "e", "channels": ["presence-p", "news"], "data": "{}", "info": "user_count,subscription_count"}
    reply = core.http("POST", *signed("POST", "/apps/app-1/events", body))
    assert reply.body == {
        "channels": {
            "presence-p": {"user_count": 1, "subscription_count": 1},
            "news": {"subscription_count": 1},
        }
    }


@pytest.mark.parametrize(
    ("tamper", "status", "message"),
    [
        (lambda t: t.replace("auth_signature=", "auth_signature=0"), 401, "Invalid auth_signature"),
        (lambda t: t.replace("auth_key=key", "auth_key=other"), 401, "Unknown auth_key"),
        (lambda t: t.replace(f"auth_timestamp={NOW}", f"auth_timestamp={NOW - 601}"), 401, "auth_timestamp"),
        (lambda t: t.replace("body_md5=", "body_md5=0"), 401, "body_md5"),
        (lambda t: t.replace("/apps/app-1/", "/apps/app-2/"), 404, "Unknown app id"),
        (lambda t: t.split("?")[0], 401, "Missing query parameter"),
    ],
)
def test_bad_requests_are_refused_with_a_message(core: PusherCore, tamper: Any, status: int, message: str) -> None:
    target, body = signed("POST", "/apps/app-1/events", {"name": "e", "channel": "c", "data": "{}"})
    reply = core.http("POST", tamper(target), body)
    assert reply.status == status
    assert message in reply.body["error"]
    assert reply.outputs == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "e", "channel": "c", "data": "x" * (10 * 1024 + 1)}, 413, "10240 bytes"),
        ({"name": "e", "channel": "c", "data": {"not": "a string"}}, 400, "'data' must be a string"),
        ({"name": "e", "data": "{}"}, 400, "Missing 'channels'"),
        ({"name": "pusher:e", "channel": "c", "data": "{}"}, 400, "reserved"),
        ({"name": "e", "channels": [f"c{i}" for i in range(101)], "data": "{}"}, 400, "at most 100"),
        ({"name": "e", "channel": "c", "data": "{}", "socket_id": "abc"}, 400, "Socket id"),
        ({"name": "e", "channel": "c", "data": "{}", "info": "bogus"}, 400, "Unknown info"),
    ],
)
def test_invalid_events_are_refused(core: PusherCore, body: dict[str, Any], status: int, message: str) -> None:
    reply = core.http("POST", *signed("POST", "/apps/app-1/events", body))
    assert reply.status == status
    assert message in reply.body["error"]


def test_body_must_be_a_json_object(core: PusherCore) -> None:
    params = sign_request(KEY, SECRET, "POST", "/apps/app-1/events", {}, b"[1]", timestamp=NOW)
    target = "/apps/app-1/events?" + "&".join(f"{k}={v}" for k, v in params.items())
    assert core.http("POST", target, b"[1]").status == 400


def test_batch_limit_and_atomicity(core: PusherCore) -> None:
    conn = connect(core)
    subscribe(core, conn, "b")
    too_many = {"batch": [{"channel": "b", "name": "e", "data": "{}"}] * 11}
    assert core.http("POST", *signed("POST", "/apps/app-1/batch_events", too_many)).status == 400
    half_bad = {"batch": [{"channel": "b", "name": "e", "data": "{}"}, {"channel": "b", "name": "e", "data": 1}]}
    reply = core.http("POST", *signed("POST", "/apps/app-1/batch_events", half_bad))
    assert reply.status == 400
    assert reply.outputs == []
    ok = {
        "batch": [
            {"channel": "b", "name": "e", "data": "1"},
            {"channel": "b", "name": "e", "data": "2", "info": "subscription_count"},
        ]
    }
    reply = core.http("POST", *signed("POST", "/apps/app-1/batch_events", ok))
    assert reply.body == {"batch": [{}, {"subscription_count": 1}]}
    assert [f["data"] for f in frames_to(reply.outputs, conn)] == ["1", "2"]


def test_channel_queries(core: PusherCore) -> None:
    a, b = connect(core), connect(core)
    subscribe(core, a, "presence-q", {"user_id": "1"})
    subscribe(core, b, "presence-q", {"user_id": "2"})
    subscribe(core, a, "public-q")

    def get(path: str, **query: str) -> Any:
        return core.http("GET", *signed("GET", path, None, query))

    assert get("/apps/app-1/channels").body == {"channels": {"presence-q": {}, "public-q": {}}}
    assert get("/apps/app-1/channels", filter_by_prefix="presence-", info="user_count").body == {
        "channels": {"presence-q": {"user_count": 2}}
    }
    assert get("/apps/app-1/channels", info="user_count").status == 400
    assert get("/apps/app-1/channels/presence-q", info="user_count,subscription_count").body == {
        "occupied": True,
        "user_count": 2,
        "subscription_count": 2,
    }
    assert get("/apps/app-1/channels/empty").body == {"occupied": False}
    assert get("/apps/app-1/channels/public-q", info="user_count").status == 400
    assert get("/apps/app-1/channels/presence-q/users").body == {"users": [{"id": "1"}, {"id": "2"}]}
    assert get("/apps/app-1/channels/public-q/users").status == 400
    assert get("/apps/app-1/nothing").status == 404
    assert core.http("DELETE", *signed("DELETE", "/apps/app-1/events")).status == 405


def test_non_numeric_app_ids_and_escaped_paths(core: PusherCore) -> None:
    conn = connect(core)
    subscribe(core, conn, "a@b")
    # Signed over the raw path with '@' escaped, as some clients send it.
    params = sign_request(KEY, SECRET, "GET", "/apps/app-1/channels/a%40b", {}, b"", timestamp=NOW)
    target = "/apps/app-1/channels/a%40b?" + "&".join(f"{k}={v}" for k, v in params.items())
    assert core.http("GET", target, b"").body == {"occupied": True}
    # Signed over the decoded path, sent escaped.
    params = sign_request(KEY, SECRET, "GET", "/apps/app-1/channels/a@b", {}, b"", timestamp=NOW)
    target = "/apps/app-1/channels/a%40b?" + "&".join(f"{k}={v}" for k, v in params.items())
    assert core.http("GET", target, b"").body == {"occupied": True}


# -- lone surrogates, NaN: input JSON accepts what UTF-8 and JSON output cannot carry -------------

SURROGATE = "\ud800"


def wire(outputs: list[Output]) -> list[str]:
    """Every frame in ``outputs``; each must be sendable as UTF-8 (what the I/O layer does)."""
    frames = [out.frame for out in outputs if isinstance(out, (SendFrame, Fanout))]
    for frame in frames:
        frame.encode("utf-8")  # raises UnicodeEncodeError for a lone surrogate
    return frames


def test_encode_escapes_lone_surrogates_and_refuses_nan() -> None:
    assert encode({"data": "é"}) == '{"data":"é"}'  # non-ASCII stays as is...
    assert encode({"data": "é" + SURROGATE}) == '{"data":"\\u00e9\\ud800"}'  # ...unless it cannot be UTF-8
    with pytest.raises(ValueError, match="JSON compliant"):
        encode({"n": float("nan")})


def test_client_event_with_a_lone_surrogate_is_relayed_escaped(core: PusherCore) -> None:
    a, b = connect(core), connect(core)
    subscribe(core, a, "private-s")
    subscribe(core, b, "private-s")
    outputs = core.receive(a, '{"event":"client-x","channel":"private-s","data":"\\ud800"}')
    [frame] = wire(outputs)
    assert json.loads(frame) == {"event": "client-x", "channel": "private-s", "data": SURROGATE}
    assert frames_to(outputs, b)[0]["data"] == SURROGATE
    json.dumps(hooks(outputs)).encode("utf-8")
    # Big enough for the payload check to measure it in bytes: counted, not a crash.
    big = core.receive(a, json.dumps({"event": "client-x", "channel": "private-s", "data": SURROGATE * 4000}))
    assert frames_to(big, a)[0]["data"]["code"] == 4301
    assert not a.closed


def test_lone_surrogates_in_names_tokens_and_user_data_are_refused_not_fatal(core: PusherCore) -> None:
    conn = connect(core)
    [error] = wire(core.receive(conn, '{"event":"pusher:subscribe","data":{"channel":"\\ud800"}}'))
    assert json.loads(error)["event"] == "pusher:subscription_error"
    refused = core.receive(conn, '{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"key:\\ud800"}}')
    assert json.loads(wire(refused)[0])["data"]["type"] == "AuthError"
    bad_key = core.receive(conn, '{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"\\ud800:00"}}')
    assert json.loads(wire(bad_key)[0])["data"]["type"] == "AuthError"
    user_data = json.dumps({"id": "1"})[:-1] + ',"n":"\ud800"}'  # a raw surrogate in the signed text
    signin = core.receive(
        conn,
        json.dumps({"event": "pusher:signin", "data": {"auth": f"{KEY}:{'0' * 64}", "user_data": user_data}}),
    )
    assert json.loads(wire(signin)[0])["data"]["code"] == 4009


def test_http_publish_with_a_lone_surrogate_does_not_poison_the_cache(core: PusherCore) -> None:
    body = b'{"name":"e","channel":"cache-s","data":"\\ud800"}'
    params = sign_request(KEY, SECRET, "POST", "/apps/app-1/events", {}, body, timestamp=NOW)
    reply = core.http("POST", "/apps/app-1/events?" + "&".join(f"{k}={v}" for k, v in params.items()), body)
    assert reply.status == 200
    later = connect(core)
    frames = wire(subscribe(core, later, "cache-s"))
    assert json.loads(frames[1]) == {"event": "e", "channel": "cache-s", "data": SURROGATE}
    huge = json.dumps({"name": "e", "channel": "cache-s", "data": SURROGATE * 4000}).encode()
    params = sign_request(KEY, SECRET, "POST", "/apps/app-1/events", {}, huge, timestamp=NOW)
    reply = core.http("POST", "/apps/app-1/events?" + "&".join(f"{k}={v}" for k, v in params.items()), huge)
    assert reply.status == 413


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused_on_input(core: PusherCore, value: str) -> None:
    a, b = connect(core), connect(core)
    subscribe(core, a, "private-n")
    subscribe(core, b, "private-n")
    outputs = core.receive(a, '{"event":"client-x","channel":"private-n","data":{"v":' + value + "}}")
    assert frames_to(outputs, b) == []
    [error] = frames_to(outputs, a)
    assert error["event"] == "pusher:error"
    assert "Invalid message" in error["data"]["message"]
    assert not a.closed
    user = '{"user_id":"u","user_info":{"v":' + value + "}}"
    data = {
        "channel": "presence-n",
        "channel_data": user,
        "auth": sign_channel(KEY, SECRET, a.socket_id, "presence-n", user),
    }
    refused = frames_to(send(core, a, "pusher:subscribe", data), a)
    assert refused[0]["event"] == "pusher:subscription_error"
    body = ('{"name":"e","channel":"c","data":"{}","info":' + value + "}").encode()
    params = sign_request(KEY, SECRET, "POST", "/apps/app-1/events", {}, body, timestamp=NOW)
    reply = core.http("POST", "/apps/app-1/events?" + "&".join(f"{k}={v}" for k, v in params.items()), body)
    assert reply.status == 400


# -- per-connection bounds ------------------------------------------------------------------------


def test_subscriptions_per_connection_are_capped(clock: Clock) -> None:
    limits = PUSHER_LIMITS.replace(max_channels_per_connection=3)
    core = PusherCore([AppConfig("1", KEY, SECRET, limits=limits)], clock=clock)
    conn = connect(core)
    for name in ("a", "b", "private-c"):
        assert frames_to(subscribe(core, conn, name), conn)[0]["event"].endswith("succeeded")
    [error] = frames_to(subscribe(core, conn, "d"), conn)
    assert error["event"] == "pusher:subscription_error"
    assert error["channel"] == "d"
    assert error["data"]["type"] == "LimitReached"
    assert error["data"]["status"] == 4100
    assert "3 channels" in error["data"]["error"]
    assert not conn.closed
    assert frames_to(subscribe(core, conn, "a"), conn)[0]["event"].endswith("succeeded")  # already in: fine
    send(core, conn, "pusher:unsubscribe", {"channel": "b"})
    assert frames_to(subscribe(core, conn, "d"), conn)[0]["event"].endswith("succeeded")
    assert core.stats()["channels"] == 3


def test_inbound_frames_are_rate_limited_then_a_flood_is_closed(clock: Clock) -> None:
    limits = PUSHER_LIMITS.replace(max_messages_per_second=10, max_messages_burst=20, max_messages_refused=5)
    core = PusherCore([AppConfig("1", KEY, SECRET, limits=limits)], clock=clock)
    conn, other = connect(core), connect(core)
    for _ in range(19):
        assert frames_to(send(core, conn, "pusher:ping"), conn)[0]["event"] == "pusher:pong"
    assert core.receive_ping(conn, b"x") == [Pong(conn, b"x")]  # WebSocket pings cost a token too
    [error] = frames_to(send(core, conn, "pusher:ping"), conn)
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] == 4301
    assert "10 messages per second" in error["data"]["message"]
    assert frames_to(core.receive_binary(conn), conn)[0]["data"]["code"] == 4301
    assert core.receive_ping(conn, b"x")[0] != Pong(conn, b"x")
    clock.now += 0.1  # one token back: served again, and the refusals in a row start over
    assert frames_to(send(core, conn, "pusher:ping"), conn)[0]["event"] == "pusher:pong"
    for _ in range(5):
        outputs = send(core, conn, "pusher:ping")
        assert frames_to(outputs, conn)[0]["data"]["code"] == 4301
        assert closes(outputs) == []
    outputs = send(core, conn, "pusher:ping")
    assert frames_to(outputs, conn)[0]["data"]["code"] == 4100
    assert [c.code for c in closes(outputs)] == [4100]
    assert conn.closed
    assert frames_to(send(core, other, "pusher:ping"), other)[0]["event"] == "pusher:pong"  # others unaffected


def test_default_burst_covers_resubscribing_to_every_allowed_channel(core: PusherCore) -> None:
    conn = connect(core)
    limit = PUSHER_LIMITS.max_channels_per_connection
    assert PUSHER_LIMITS.max_messages_burst > limit
    send(core, conn, "pusher:ping")
    for i in range(limit):
        outputs = subscribe(core, conn, f"c{i}")
        assert frames_to(outputs, conn)[0]["event"] == "pusher_internal:subscription_succeeded", i


def test_messages_over_the_size_limit_get_4301_and_the_connection_stays(clock: Clock) -> None:
    core = PusherCore([AppConfig("1", KEY, SECRET)], clock=clock, max_message_bytes=100)
    conn = connect(core)
    ping = '{"event":"pusher:ping","data":"%s"}'
    assert frames_to(core.receive(conn, ping % ("x" * 60)), conn)[0]["event"] == "pusher:pong"
    for text in (ping % ("x" * 70), ping % ("é" * 35)):  # 101 and 103 bytes; 35 "é" are 70 characters
        [error] = frames_to(core.receive(conn, text), conn)
        assert error["data"]["code"] == 4301
        assert "limit is 100 bytes" in error["data"]["message"]
    assert not conn.closed
    assert frames_to(send(core, conn, "pusher:ping"), conn)[0]["event"] == "pusher:pong"


# -- presence via the signed-in user ---------------------------------------------------------------


def test_presence_through_signin_enforces_the_member_size_limit(core: PusherCore) -> None:
    big, small = connect(core), connect(core)
    signin(core, big, {"id": "alice", "user_info": {"blob": "x" * 2000}})
    signin(core, small, {"id": "bob", "user_info": {"name": "Bob"}})
    for conn in (big, small):
        token = sign_channel(KEY, SECRET, conn.socket_id, "presence-si")
        send(core, conn, "pusher:subscribe", {"channel": "presence-si", "auth": token})
    token = sign_channel(KEY, SECRET, big.socket_id, "presence-si")
    [error] = frames_to(send(core, big, "pusher:subscribe", {"channel": "presence-si", "auth": token}), big)
    assert error["event"] == "pusher:subscription_error"
    assert error["data"]["type"] == "LimitReached"
    assert "1024 bytes" in error["data"]["error"]
    reply = core.http("GET", *signed("GET", "/apps/app-1/channels/presence-si/users"))
    assert reply.body == {"users": [{"id": "bob"}]}


# -- timers and shutdown ---------------------------------------------------------------------------


def test_pong_deadline_counts_from_the_ping_not_from_the_last_message(core: PusherCore, clock: Clock) -> None:
    conn = connect(core)
    clock.now += 119
    assert core.tick() == []
    clock.now += 81  # the next tick comes late: 200 s of silence, but never pinged
    outputs = core.tick()
    assert frames_to(outputs, conn) == [{"event": "pusher:ping", "data": {}}]
    assert closes(outputs) == []
    clock.now += 29
    assert core.tick() == []
    clock.now += 1
    assert [c.code for c in closes(core.tick())] == [4201]


def test_shutdown_does_not_fan_out_member_removed(core: PusherCore) -> None:
    conns = [connect(core) for _ in range(100)]
    for i, conn in enumerate(conns):
        subscribe(core, conn, "presence-big", {"user_id": str(i)})
        subscribe(core, conn, "news")
    outputs = core.shutdown()
    assert not [out for out in outputs if isinstance(out, Fanout)]
    for conn in conns:
        assert frames_to(outputs, conn) == [
            {"event": "pusher:error", "data": {"code": 4200, "message": "Server is shutting down; reconnect."}}
        ]
        assert conn.closed
    assert len(closes(outputs)) == 100
    events = hooks(outputs)
    assert sorted(e["user_id"] for e in events if e["name"] == "member_removed") == sorted(str(i) for i in range(100))
    assert sorted(e["channel"] for e in events if e["name"] == "channel_vacated") == ["news", "presence-big"]
    assert core.stats() == NOTHING_LEFT
    assert core.closed(conns[0]) == []


# -- webhooks --------------------------------------------------------------------------------------


def test_cache_miss_webhooks_are_deduplicated_per_channel(core: PusherCore, clock: Clock) -> None:
    first, second, third = connect(core), connect(core), connect(core)
    assert hooks(subscribe(core, first, "cache-d")).count({"name": "cache_miss", "channel": "cache-d"}) == 1
    again = subscribe(core, second, "cache-d")
    assert [f["event"] for f in frames_to(again, second)][-1] == "pusher:cache_miss"  # the client still hears it
    assert {"name": "cache_miss", "channel": "cache-d"} not in hooks(again)
    assert {"name": "cache_miss", "channel": "cache-e"} in hooks(subscribe(core, second, "cache-e"))
    clock.now += core.cache_miss_window
    core.tick()
    assert {"name": "cache_miss", "channel": "cache-d"} in hooks(subscribe(core, third, "cache-d"))


# -- introspection -------------------------------------------------------------------------------


def test_subscription_count_needs_an_app_id_when_there_are_several_apps(clock: Clock) -> None:
    core = PusherCore([AppConfig("1", "k1", SECRET), AppConfig("2", "k2", SECRET)], clock=clock)
    conn, _ = core.open("k2", {})
    core.receive(conn, '{"event":"pusher:subscribe","data":{"channel":"room"}}')
    assert core.subscription_count("room", "2") == 1
    assert core.subscription_count("room", "1") == 0
    with pytest.raises(ValueError, match="2 apps"):
        core.subscription_count("room")
    with pytest.raises(ValueError, match="Unknown app id"):
        core.subscription_count("room", "3")
    assert [c.socket_id for c in core.connections("2")] == [conn.socket_id]
    assert [a.app_id for a in core.apps] == ["1", "2"]


# -- state left behind, and rules without a test until now ---------------------------------------------


def test_disconnect_frees_users_members_and_channels(core: PusherCore) -> None:
    a, b = connect(core), connect(core)
    signin(core, a, {"id": "alice"})
    subscribe(core, a, "presence-c", {"user_id": "alice"})
    subscribe(core, a, "private-c")
    subscribe(core, b, "presence-c", {"user_id": "bob"})
    assert core.stats() == {
        "apps": 1,
        "connections": 2,
        "channels": 2,
        "subscriptions": 3,
        "users": 1,
        "members": 2,
        "cached": 0,
    }
    core.closed(a)
    assert core.stats() == {
        "apps": 1,
        "connections": 1,
        "channels": 1,
        "subscriptions": 1,
        "users": 0,
        "members": 1,
        "cached": 0,
    }
    core.closed(b)
    assert core.stats() == NOTHING_LEFT


def test_client_events_disabled_for_the_app(clock: Clock) -> None:
    core = PusherCore([AppConfig("1", KEY, SECRET, client_events=False)], clock=clock)
    a, b = connect(core), connect(core)
    subscribe(core, a, "private-off")
    subscribe(core, b, "private-off")
    outputs = send(core, a, "client-x", {}, channel="private-off")
    [error] = frames_to(outputs, a)
    assert error["event"] == "pusher:error"
    assert "disabled" in error["data"]["message"]
    assert frames_to(outputs, b) == []
    assert not a.closed


@pytest.mark.parametrize("name", ["x" * 165, "private-" + "x" * 157, "#other", "#server-to-user-"])
def test_overlong_and_hash_channel_names_are_subscription_errors(core: PusherCore, name: str) -> None:
    conn = connect(core)
    [error] = frames_to(send(core, conn, "pusher:subscribe", {"channel": name, "auth": ""}), conn)
    assert error["event"] == "pusher:subscription_error"
    assert error["channel"] == name
    assert not conn.closed
    assert core.stats()["channels"] == 0
    ok = "x" * 164
    assert frames_to(send(core, conn, "pusher:subscribe", {"channel": ok}), conn)[0]["event"].endswith("succeeded")


def test_second_signin_with_another_id_closes_with_4009(core: PusherCore) -> None:
    conn = connect(core)
    signin(core, conn, {"id": "1"})
    assert frames_to(signin(core, conn, {"id": "1"}), conn)[0]["event"] == "pusher:signin_success"
    outputs = signin(core, conn, {"id": "2"})
    error = frames_to(outputs, conn)[0]
    assert error["data"]["code"] == 4009
    assert "already signed in as '1'" in error["data"]["message"]
    assert [c.code for c in closes(outputs)] == [4009]
    assert core.stats()["users"] == 0


def test_expired_cache_entries_are_freed_on_tick(core: PusherCore, clock: Clock) -> None:
    for name in ("cache-1", "cache-2"):
        core.http("POST", *signed("POST", "/apps/app-1/events", {"name": "e", "channel": name, "data": "1"}))
    assert core.stats()["cached"] == 2
    clock.now += 30 * 60 - 1
    core.tick()
    assert core.stats()["cached"] == 2
    clock.now += 1
    core.tick()
    assert core.stats()["cached"] == 0


def test_subscriptions_per_address_are_budgeted_and_freed_on_leave(clock: Clock) -> None:
    core = PusherCore([AppConfig("1", KEY, SECRET)], clock=clock, max_subscriptions_per_address=3)
    a, _ = core.open(KEY, {}, "10.0.0.1")
    b, _ = core.open(KEY, {}, "10.0.0.1")
    other, _ = core.open(KEY, {}, "10.0.0.2")
    unknown, _ = core.open(KEY, {}, None)
    for conn, channel in ((a, "one"), (a, "two"), (b, "three")):
        assert frames_to(subscribe(core, conn, channel), conn)[0]["event"] == "pusher_internal:subscription_succeeded"
    [refused] = frames_to(subscribe(core, b, "four"), b)
    assert refused["event"] == "pusher:subscription_error"
    assert refused["data"] == {
        "type": "LimitReached",
        "error": "Connections from 10.0.0.1 hold 3 subscriptions, the limit per address.",
        "status": 4100,
    }
    assert frames_to(subscribe(core, a, "one"), a)[0]["event"] == "pusher_internal:subscription_succeeded"
    for conn, channels in ((other, 3), (unknown, 4)):  # another address; an address not counted
        for channel in ("one", "two", "three", "four")[:channels]:
            assert frames_to(subscribe(core, conn, channel), conn)[0]["event"].endswith("subscription_succeeded")
    send(core, a, "pusher:unsubscribe", {"channel": "two"})
    assert frames_to(subscribe(core, b, "four"), b)[0]["event"] == "pusher_internal:subscription_succeeded"
    core.closed(b)
    assert frames_to(subscribe(core, a, "five"), a)[0]["event"] == "pusher_internal:subscription_succeeded"


def test_a_signin_timeout_closes_connections_that_do_not_sign_in_with_4009(clock: Clock) -> None:
    core = PusherCore([AppConfig("1", KEY, SECRET)], clock=clock, signin_timeout=5)
    quiet, signed = connect(core), connect(core)
    signin(core, signed, {"id": "alice"})
    clock.now += 4.9
    assert closes(core.tick()) == []
    clock.now += 0.1
    outputs = core.tick()
    assert [(c.conn, c.code) for c in closes(outputs)] == [(quiet, 4009)]
    assert frames_to(outputs, quiet)[0]["data"] == {"code": 4009, "message": "Connection not signed in within 5 s."}
    assert not signed.closed


def test_without_a_signin_timeout_nobody_has_to_sign_in(core: PusherCore, clock: Clock) -> None:
    conn = connect(core)
    send(core, conn, "pusher:ping")
    clock.now += 3600
    core.tick()
    send(core, conn, "pusher:pong", {})
    assert closes(core.tick()) == []
