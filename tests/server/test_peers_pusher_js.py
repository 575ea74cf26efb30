"""pusher-js 8 (npm, Node build, unmodified) against the embedded server.

Authorization goes through pusher-js's documented ``customHandler`` option (see
tests/node/driver.js), which signs exactly as a Django auth endpoint would.
"""

from __future__ import annotations

import pytest

from tests.server.peers import wait_until

pytestmark = pytest.mark.peers


def user_channel_subscribers(server, channel):
    """How many connections pusher-js subscribed to a user channel (it does so after signin)."""
    return server.call(lambda: sum(channel in conn.channels for conn in server.core.connections()))


def test_public_channel(server, sdk, node, unique):
    channel = unique("room")
    node.connect("a")
    reply = node.subscribe("a", channel)
    assert reply["event"] == "pusher:subscription_succeeded"
    sdk.trigger(channel, "greet", {"text": "hi"})
    assert node.wait_event("a", channel, "greet")["data"] == {"text": "hi"}


def test_private_channel_and_bad_auth(server, sdk, node, unique):
    good, bad = unique("private-room"), unique("private-bad-room")
    node.connect("a")
    assert node.subscribe("a", good)["event"] == "pusher:subscription_succeeded"
    refused = node.subscribe("a", bad)
    assert refused["event"] == "pusher:subscription_error"
    assert refused["data"]["type"] == "AuthError"
    assert refused["data"]["status"] == 401
    sdk.trigger(good, "e", "ok")
    assert node.wait_event("a", good, "e")["data"] == "ok"


def test_presence_members(server, node, unique):
    channel = unique("presence-room")
    node.connect("a")
    node.connect("b")
    first = node.subscribe("a", channel, user={"user_id": "alice", "user_info": {"name": "Alice"}})
    assert first["members"]["count"] == 1
    assert first["members"]["me"]["id"] == "alice"
    second = node.subscribe("b", channel, user={"user_id": "bob", "user_info": {"name": "Bob"}})
    assert second["members"]["count"] == 2
    assert set(second["members"]["ids"]) == {"alice", "bob"}
    added = node.wait_event("a", channel, "pusher:member_added")
    assert added["data"] == {"id": "bob", "info": {"name": "Bob"}}
    node.command("unsubscribe", client="b", channel=channel)
    removed = node.wait_event("a", channel, "pusher:member_removed")
    assert removed["data"]["id"] == "bob"


def test_encrypted_channel_is_decrypted_by_pusher_js(server, sdk, node, unique):
    channel = unique("private-encrypted-room")
    node.connect("a")
    assert node.subscribe("a", channel)["event"] == "pusher:subscription_succeeded"
    sdk.trigger(channel, "sealed", {"text": "secret"})  # the SDK encrypts with the master key
    assert node.wait_event("a", channel, "sealed")["data"] == {"text": "secret"}


def test_cache_channel(server, sdk, node, unique):
    channel = unique("cache-room")
    node.connect("a")
    node.subscribe("a", channel)
    node.wait_event("a", channel, "pusher:cache_miss")
    sdk.trigger(channel, "price", {"v": 1})
    node.wait_event("a", channel, "price")
    node.connect("b")
    node.subscribe("b", channel)
    assert node.wait_event("b", channel, "price")["data"] == {"v": 1}
    assert node.events("b", channel, "pusher:cache_miss") == []


def test_client_events_with_user_id_not_echoed(server, sdk, node, unique):
    channel = unique("presence-chat")
    node.connect("a")
    node.connect("b")
    node.subscribe("a", channel, user={"user_id": "alice"})
    node.subscribe("b", channel, user={"user_id": "bob"}, metadata_for="client-typing")
    node.command("trigger", client="a", channel=channel, event="client-typing", data={"typing": True})
    got = node.log.wait_for(lambda e: e["type"] == "metadata" and e["client"] == "b")
    assert got["data"] == {"typing": True}
    assert got["user_id"] == "alice"
    sdk.trigger(channel, "marker", "m")  # in-order delivery: an echo would arrive before this
    node.wait_event("a", channel, "marker")
    assert node.events("a", channel, "client-typing") == []


def test_client_event_rate_limit_is_an_error_not_a_disconnect(server, node, unique):
    channel = unique("private-chat")
    node.connect("a")
    node.connect("b")
    node.subscribe("a", channel)
    node.subscribe("b", channel)
    for i in range(25):
        node.command("trigger", client="a", channel=channel, event="client-n", data={"i": i})
    error = node.log.wait_for(lambda e: e["type"] == "error" and e["client"] == "a")
    assert error["data"]["data"]["code"] == 4301
    node.wait_event("b", channel, "client-n")
    assert not node.log.matching(
        lambda e: (
            e["type"] == "state" and e["client"] == "a" and e["current"] != "connected" and e["previous"] == "connected"
        )
    )


def test_signin_and_send_to_user(server, sdk, node, unique):
    user_id = unique("u")
    node.connect("a")
    node.connect("a2")
    node.command("signin", client="a", user={"id": user_id, "user_info": {"name": "A"}})
    node.command("signin", client="a2", user={"id": user_id})
    channel = f"#server-to-user-{user_id}"
    wait_until(lambda: user_channel_subscribers(server, channel) == 2, what="both clients on their user channel")
    sdk.send_to_user(user_id, "notice", {"hello": user_id})
    for client in ("a", "a2"):
        got = node.log.wait_for(
            lambda e, c=client: e["type"] == "user_event" and e["client"] == c and e["event"] == "notice"
        )
        assert got["data"] == {"hello": user_id}
    # (pusher-js itself refuses to subscribe to '#' channels; the pysher tests check that the
    # server refuses a connection that is not signed in as that user.)


def test_terminate_user_connections(server, sdk, node, unique):
    user_id = unique("u")
    node.connect("a")
    node.connect("b")
    node.command("signin", client="a", user={"id": user_id})
    wait_until(lambda: user_channel_subscribers(server, f"#server-to-user-{user_id}") == 1, what="signin")
    assert sdk.terminate_user_connections(user_id) == {}
    node.log.wait_for(lambda e: e["type"] == "state" and e["client"] == "a" and e["current"] == "disconnected")
    error = node.log.wait_for(lambda e: e["type"] == "error" and e["client"] == "a")
    assert error["data"]["data"]["code"] == 4009
    assert not node.log.matching(
        lambda e: e["type"] == "state" and e["client"] == "b" and e["current"] == "disconnected"
    )


def test_socket_id_exclusion(server, sdk, node, unique):
    channel = unique("room")
    me = node.connect("me")
    node.connect("other")
    node.subscribe("me", channel)
    node.subscribe("other", channel)
    sdk.trigger(channel, "e", "first", socket_id=me)
    sdk.trigger(channel, "e", "second")
    node.wait_event("me", channel, "e", data="second")
    wait_until(lambda: len(node.events("other", channel, "e")) == 2, what="both events at the other client")
    assert [e["data"] for e in node.events("me", channel, "e")] == ["second"]
