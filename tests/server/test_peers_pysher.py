"""pysher (PyPI 1.0.8, protocol 6) against the embedded server, with the official SDK publishing."""

from __future__ import annotations

import json

import pytest

from tests.server.peers import wait_until

pytestmark = pytest.mark.peers


def test_public_channel_receives_sdk_event(server, sdk, pysher_peer, unique):
    channel = unique("room")
    peer = pysher_peer()
    peer.subscribe(channel, "greet")
    assert json.loads(peer.events(channel, "pusher_internal:subscription_succeeded")[0]["data"]) == {}
    sdk.trigger(channel, "greet", {"text": "hi"})
    event = peer.log.wait_for(lambda e: e["event"] == "greet" and e.get("channel") == channel)
    assert json.loads(event["data"]) == {"text": "hi"}


def test_private_channel_signed_by_pysher(server, sdk, pysher_peer, unique):
    channel = unique("private-room")
    peer = pysher_peer()
    peer.subscribe(channel, "secret")
    assert peer.events(channel, "pusher_internal:subscription_succeeded")
    sdk.trigger([channel], "secret", "plain text")
    assert peer.log.wait_for(lambda e: e["event"] == "secret")["data"] == "plain text"


def test_private_encrypted_channel_is_relayed_still_encrypted(server, sdk, pysher_peer, unique):
    channel = unique("private-encrypted-room")
    peer = pysher_peer()
    peer.subscribe(channel, "sealed")
    sdk.trigger(channel, "sealed", {"text": "hidden"})
    data = json.loads(peer.log.wait_for(lambda e: e["event"] == "sealed")["data"])
    assert set(data) == {"nonce", "ciphertext"}
    assert "hidden" not in json.dumps(data)


def test_bad_auth_is_a_subscription_error_and_the_connection_stays(server, sdk, pysher_peer, unique):
    channel = unique("private-room")
    peer = pysher_peer()
    peer.client.secret = "wrong-secret"  # pysher signs locally: make it sign wrongly.
    peer.subscribe(channel)
    [error] = peer.events(channel, "pusher:subscription_error")
    data = json.loads(error["data"]) if isinstance(error["data"], str) else error["data"]
    assert data["type"] == "AuthError"
    assert data["status"] == 401
    assert "Invalid signature" in data["error"]
    peer.client.secret = "test-secret"
    public = unique("room")
    peer.subscribe(public, "after")
    sdk.trigger(public, "after", "still connected")
    assert peer.log.wait_for(lambda e: e["event"] == "after")["data"] == "still connected"


def test_presence_members_and_events(server, pysher_peer, unique):
    channel = unique("presence-room")
    alice = pysher_peer(user_data={"user_id": "alice", "user_info": {"name": "Alice"}})
    alice.subscribe(channel)
    bob = pysher_peer(user_data={"user_id": "bob"})
    bob.subscribe(channel)
    presence = json.loads(bob.events(channel, "pusher_internal:subscription_succeeded")[0]["data"])["presence"]
    assert presence["count"] == 2
    assert set(presence["ids"]) == {"alice", "bob"}
    assert presence["hash"]["alice"] == {"name": "Alice"}
    added = alice.log.wait_for(lambda e: e["event"] == "pusher_internal:member_added")
    assert json.loads(added["data"]) == {"user_id": "bob", "user_info": None}
    bob.close()
    removed = alice.log.wait_for(lambda e: e["event"] == "pusher_internal:member_removed")
    assert json.loads(removed["data"]) == {"user_id": "bob"}


def test_client_events_between_two_pysher_clients_are_not_echoed(server, sdk, pysher_peer, unique):
    channel = unique("private-chat")
    sender, receiver = pysher_peer(), pysher_peer()
    sender_channel = sender.subscribe(channel, "client-msg", "marker")
    receiver.subscribe(channel, "client-msg")
    sender_channel.trigger("client-msg", {"n": 1})
    got = receiver.log.wait_for(lambda e: e["event"] == "client-msg")
    assert got["data"] == {"n": 1}  # relayed as sent (an object), pysher hands it over as is
    # Frames reach a connection in order: once the marker arrives, an echo would have too.
    sdk.trigger(channel, "marker", "m")
    sender.log.wait_for(lambda e: e["event"] == "marker")
    assert sender.events(channel, "client-msg") == []


def test_socket_id_exclusion(server, sdk, pysher_peer, unique):
    channel = unique("room")
    me, other = pysher_peer(), pysher_peer()
    me.subscribe(channel, "e")
    other.subscribe(channel, "e")
    sdk.trigger(channel, "e", "first", socket_id=me.socket_id)
    sdk.trigger(channel, "e", "second")
    me.log.wait_for(lambda e: e["event"] == "e" and e["data"] == "second")
    other.log.wait_count(lambda e: e["event"] == "e", 2)
    assert [e["data"] for e in me.events(channel, "e")] == ["second"]


def test_cache_channel_hit_and_miss(server, sdk, pysher_peer, unique):
    channel = unique("cache-prices")
    first = pysher_peer()
    first.subscribe(channel, "price")
    first.log.wait_for(lambda e: e["event"] == "pusher:cache_miss")
    sdk.trigger(channel, "price", {"v": 42})
    first.log.wait_for(lambda e: e["event"] == "price")
    late = pysher_peer()
    late.subscribe(channel, "price")
    assert json.loads(late.log.wait_for(lambda e: e["event"] == "price")["data"]) == {"v": 42}
    assert late.events(channel, "pusher:cache_miss") == []


def test_garbage_frames_never_break_the_connection_or_others(server, sdk, pysher_peer, unique):
    channel = unique("room")
    noisy, bystander = pysher_peer(), pysher_peer()
    noisy.subscribe(channel, "e")
    bystander.subscribe(channel, "e")
    for garbage in (
        "not json",
        "[]",
        "42",
        '{"event": 1}',
        '{"event":"pusher:subscribe","data":7}',
        '{"event":"pusher:unsubscribe","data":{"channel":"never"}}',
        '{"event":"nonsense"}',
    ):
        noisy.send(garbage)
    noisy.client.connection.socket.sock.send_binary(b"\x00\x01binary")
    noisy.subscribe(channel, "e", wait=False)  # subscribing twice
    errors = noisy.log.wait_count(lambda e: e["event"] == "pusher:error", 6)
    assert all(isinstance(e["data"], dict) and "message" in e["data"] for e in errors)
    sdk.trigger(channel, "e", "still here")
    for peer in (noisy, bystander):
        assert peer.log.wait_for(lambda e: e["event"] == "e")["data"] == "still here"
    assert server.call(lambda: server.core.subscription_count(channel)) == 2


def test_disconnect_frees_the_server_side_state(server, pysher_peer, unique):
    channel = unique("room")
    peer = pysher_peer()
    peer.subscribe(channel)
    assert server.call(lambda: server.core.subscription_count(channel)) == 1
    peer.close()
    wait_until(lambda: server.call(lambda: server.core.subscription_count(channel)) == 0, what="unsubscribe on close")


def test_user_channel_is_refused_without_signin(server, pysher_peer, unique):
    channel = f"#server-to-user-{unique('u')}"
    peer = pysher_peer()
    peer.subscribe(channel)
    [error] = peer.events(channel, "pusher:subscription_error")
    assert error["data"]["status"] == 401
    assert "signed in" in error["data"]["error"]


def test_a_message_too_big_to_read_gets_a_pusher_error_so_pysher_reconnects(server, pysher_peer, unique):
    """aiohttp closes such a connection itself (1009); pysher only acts on a pusher:error frame."""
    channel = unique("private-huge")
    peer = pysher_peer()
    peer.subscribe(channel)
    # Over the default 100 KB frame limit: refused with 4301, and the connection stays.
    peer.client.connection.send_event("client-big", "x" * (120 * 1024), channel_name=channel)
    error = peer.log.wait_for(lambda e: e["event"] == "pusher:error")
    assert error["data"]["code"] == 4301
    assert "Message too large" in error["data"]["message"]
    # Too big to read at all: pusher:error 4100 before the close, so pysher comes back.
    peer.client.connection.send_event("client-big", "x" * (300 * 1024), channel_name=channel)
    error = peer.log.wait_for(lambda e: e["event"] == "pusher:error" and e["data"]["code"] == 4100)
    assert "Message too large" in error["data"]["message"]
    wait_until(lambda: len(peer.socket_ids) == 2, timeout=30, what="pysher to reconnect")
