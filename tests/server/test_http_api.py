"""The HTTP API through the official ``pusher`` SDK and through hand-signed raw requests."""

from __future__ import annotations

import json
import time

import pusher
import pusher.errors
import pytest
import requests

from pushbridge.signing import sign_request
from tests.server.conftest import APP_ID, KEY, SECRET

pytestmark = pytest.mark.peers


def raw(server, method, path, body=b"", params=None, timestamp=None, tamper=None):
    """Send a signed request; ``tamper`` may rewrite the query before sending."""
    query = sign_request(KEY, SECRET, method, path, params or {}, body, timestamp=timestamp)
    if tamper:
        tamper(query)
    return requests.request(method, server.url + path, params=query, data=body, timeout=10)


def test_trigger_info_and_queries_via_sdk(server, sdk, pysher_peer, unique):
    presence, public = unique("presence-room"), unique("room")
    alice = pysher_peer(user_data={"user_id": "alice"})
    alice.subscribe(presence)
    alice.subscribe(public)
    bob = pysher_peer(user_data={"user_id": "bob"})
    bob.subscribe(presence)

    assert sdk.trigger(public, "e", "x") == {}
    # The SDK's trigger() cannot ask for info; send that one by hand.
    body = json.dumps(
        {"name": "e", "channels": [presence, public], "data": "x", "info": "user_count,subscription_count"}
    )
    sent = raw(server, "POST", f"/apps/{APP_ID}/events", body.encode())
    assert sent.json() == {
        "channels": {
            presence: {"user_count": 2, "subscription_count": 2},
            public: {"subscription_count": 1},
        }
    }

    everything = sdk.channels_info()["channels"]
    assert presence in everything
    assert public in everything
    assert sdk.channels_info(prefix_filter="presence-", attributes=["user_count"])["channels"][presence] == {
        "user_count": 2
    }
    with pytest.raises(pusher.errors.PusherBadRequest):
        sdk.channels_info(attributes=["user_count"])
    assert sdk.channel_info(presence, attributes=["user_count", "subscription_count"]) == {
        "occupied": True,
        "user_count": 2,
        "subscription_count": 2,
    }
    assert sdk.channel_info(unique("empty")) == {"occupied": False}
    assert sorted(u["id"] for u in sdk.users_info(presence)["users"]) == ["alice", "bob"]
    with pytest.raises(pusher.errors.PusherBadRequest):
        sdk.users_info(public)


def test_trigger_batch_via_sdk(server, sdk, pysher_peer, unique):
    a, b = unique("room"), unique("room")
    peer = pysher_peer()
    peer.subscribe(a, "e")
    peer.subscribe(b, "e")
    assert (
        sdk.trigger_batch(
            [
                {"channel": a, "name": "e", "data": {"n": 1}},
                {"channel": b, "name": "e", "data": {"n": 2}},
            ]
        )
        == {}
    )
    got = peer.log.wait_count(lambda e: e["event"] == "e", 2)
    assert {e["channel"]: json.loads(e["data"])["n"] for e in got} == {a: 1, b: 2}
    with pytest.raises(pusher.errors.PusherBadRequest):
        sdk.trigger_batch([{"channel": a, "name": "e", "data": "x"}] * 11)


def test_bad_credentials_are_refused_with_a_message(server, unique):
    wrong = pusher.Pusher(app_id=APP_ID, key=KEY, secret="wrong", host="127.0.0.1", port=server.port, ssl=False)
    with pytest.raises(pusher.errors.PusherBadAuth, match="Invalid auth_signature"):
        wrong.trigger(unique("room"), "e", "x")
    unknown = pusher.Pusher(app_id="999", key=KEY, secret=SECRET, host="127.0.0.1", port=server.port, ssl=False)
    with pytest.raises(pusher.errors.PusherBadStatus, match="404"):
        unknown.trigger(unique("room"), "e", "x")


def test_oversize_payload_is_413(server, unique):
    body = json.dumps({"name": "e", "channel": unique("room"), "data": "x" * 20_000}).encode()
    reply = raw(server, "POST", f"/apps/{APP_ID}/events", body)
    assert reply.status_code == 413
    assert "limit is 10240 bytes" in reply.json()["error"]
    huge = json.dumps({"name": "e", "channel": "c", "data": "x" * 2_000_000}).encode()
    reply = raw(server, "POST", f"/apps/{APP_ID}/events", huge)
    assert reply.status_code == 413
    assert "error" in reply.json()


def test_stale_timestamp_and_bad_body_md5(server):
    body = json.dumps({"name": "e", "channel": "c", "data": "{}"}).encode()
    stale = raw(server, "POST", f"/apps/{APP_ID}/events", body, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 401
    assert "auth_timestamp" in stale.json()["error"]

    def bad_md5(query):
        query["body_md5"] = "0" * 32

    tampered = raw(server, "POST", f"/apps/{APP_ID}/events", body, tamper=bad_md5)
    assert tampered.status_code == 401
    assert "body_md5" in tampered.json()["error"]


def test_every_reply_has_a_json_body(server):
    assert requests.get(server.url + "/health", timeout=10).json()["ok"] is True
    assert requests.get(server.url + "/", timeout=10).json()["ok"] is True
    for method, path in (("GET", "/nowhere"), ("GET", f"/apps/{APP_ID}/channels"), ("POST", "/apps/x/events")):
        reply = requests.request(method, server.url + path, timeout=10)
        assert reply.headers["Content-Type"].startswith("application/json")
        assert "error" in reply.json()
    body = b"not json"
    reply = raw(server, "POST", f"/apps/{APP_ID}/events", body)
    assert reply.status_code == 400
    assert reply.json() == {"error": "The request body is not valid JSON."}
    plain_get = requests.get(server.url + f"/app/{KEY}", timeout=10)
    assert plain_get.status_code == 400
    assert "WebSocket" in plain_get.json()["error"]


def test_terminate_connections_both_paths(server, sdk, unique):
    user = unique("u")
    assert sdk.terminate_user_connections(user) == {}  # the SDK's /users/{id}/... path
    reply = raw(server, "POST", f"/apps/{APP_ID}/users/{user}/terminate_connections", b"{}")
    assert reply.status_code == 200
    assert reply.json() == {}
