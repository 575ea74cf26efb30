"""Webhooks from the embedded server, verified with the official SDK's ``validate_webhook``."""

from __future__ import annotations

import pytest

from tests.server.conftest import KEY

pytestmark = pytest.mark.peers


def test_webhooks_are_signed_and_cover_the_lifecycle(server, sdk, webhooks, pysher_peer, unique):
    presence, cache = unique("presence-hooks"), unique("cache-hooks")
    alice = pysher_peer(user_data={"user_id": "alice"})
    alice_channel = alice.subscribe(presence)
    bob = pysher_peer(user_data={"user_id": "bob"})
    bob.subscribe(presence)
    alice.subscribe(cache)
    alice_channel.trigger("client-wave", {"hi": 1})
    bob.close()
    alice.close()

    def seen(**fields):
        return webhooks.wait_event(lambda e: all(e.get(k) == v for k, v in fields.items()))

    seen(name="channel_occupied", channel=presence)
    seen(name="member_added", channel=presence, user_id="bob")
    seen(name="cache_miss", channel=cache)
    client = seen(name="client_event", channel=presence, event="client-wave")
    assert client["user_id"] == "alice"
    assert client["data"] == '{"hi":1}'
    assert client["socket_id"] == alice.socket_id
    seen(name="member_removed", channel=presence, user_id="bob")
    seen(name="channel_vacated", channel=presence)

    for request in webhooks.requests.items():
        headers = request["headers"]
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Pusher-Key"] == KEY
        body = request["body"].decode()
        validated = sdk.validate_webhook(headers["X-Pusher-Key"], headers["X-Pusher-Signature"], body)
        assert validated is not None, body
        assert validated["events"]
    tampered = webhooks.requests.items()[0]
    assert sdk.validate_webhook(KEY, "0" * 64, tampered["body"].decode()) is None


def test_failed_webhooks_are_retried(server, webhooks, pysher_peer, unique):
    channel = unique("retry")
    webhooks.fail_next = 2
    peer = pysher_peer()
    peer.subscribe(channel)
    webhooks.wait_event(lambda e: e.get("name") == "channel_occupied" and e.get("channel") == channel)
    assert len([r for r in webhooks.requests.items() if r["failed"]]) >= 2
