"""The soketi backend's whole surface against one real Soketi 1.6.1, with real receivers.

pushbridge sends (``trigger``, batches, queries, signin features); pysher and pusher-js (in
Node) receive. Every error path is provoked on the real server, which answers errors with
status 200 and the error in the body: each must raise, never pass for success.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

import pushbridge
from pushbridge import dispatch
from pushbridge.backends import get_backend
from pushbridge.errors import (
    AuthenticationFailed,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTooLarge,
)
from pushbridge.events import Event
from pushbridge.signals import dispatch_failed
from tests.server.peers import PysherPeer, wait_until
from tests.soketi.conftest import LIMITED, settings_for

pytestmark = [pytest.mark.peers, pytest.mark.usefixtures("on_soketi")]


def test_trigger_to_one_and_many_channels(pysher_peer, unique):
    one, two = unique("room"), unique("room")
    peer = pysher_peer()
    peer.subscribe(one, "greet")
    peer.subscribe(two, "greet")
    assert pushbridge.trigger(one, "greet", {"text": "hi"}) == {"ok": True}  # Soketi's own reply
    pushbridge.trigger([one, two], "greet", {"text": "both"})
    seen = peer.log.wait_count(lambda e: e["event"] == "greet", 3)
    assert sorted((e["channel"], json.loads(e["data"])["text"]) for e in seen) == sorted(
        [(one, "hi"), (one, "both"), (two, "both")]
    )


def test_soketi_limits_not_pushers(pysher_peer, unique):
    channel = unique("room")
    peer = pysher_peer()
    peer.subscribe(channel, "big")
    text = "x" * 50_000  # over Pusher's 10 KB, under Soketi's 100 KB
    pushbridge.trigger(channel, "big", text)
    assert peer.log.wait_for(lambda e: e["event"] == "big")["data"] == text  # a str is sent as is
    with pytest.raises(PayloadTooLarge, match="102400 bytes"):
        pushbridge.trigger(channel, "big", "x" * 110_000)


def test_batch_of_25_arrives_in_order(pysher_peer, unique):
    channel = unique("feed")
    peer = pysher_peer()
    peer.subscribe(channel, "item")
    replies = pushbridge.trigger_batch([pushbridge.Event(channel, "item", {"n": n}) for n in range(25)])
    assert len(replies) == 3
    seen = peer.log.wait_count(lambda e: e["event"] == "item", 25)
    assert [json.loads(e["data"])["n"] for e in seen] == list(range(25))


def test_exclusion_skips_the_sender(pysher_peer, unique):
    channel = unique("room")
    sender, other = pysher_peer(), pysher_peer()
    sender.subscribe(channel, "typing", "done")
    other.subscribe(channel, "typing", "done")
    pushbridge.trigger(channel, "typing", {}, socket_id=sender.socket_id)
    pushbridge.trigger(channel, "done", {})  # ordered after the first on the same connection
    other.log.wait_for(lambda e: e["event"] == "typing")
    sender.log.wait_for(lambda e: e["event"] == "done")
    assert sender.events(channel, "typing") == []


def test_private_and_encrypted_channels_reach_pusher_js(js_peers, unique):
    private, encrypted = unique("private-room"), unique("private-encrypted-room")
    js_peers.connect("a")
    assert js_peers.subscribe("a", private)["event"] == "pusher:subscription_succeeded"
    assert js_peers.subscribe("a", encrypted)["event"] == "pusher:subscription_succeeded"
    pushbridge.trigger(private, "secret", {"n": 1})
    pushbridge.trigger(encrypted, "sealed", {"n": 2})
    assert js_peers.wait_event("a", private, "secret")["data"] == {"n": 1}
    assert js_peers.wait_event("a", encrypted, "sealed")["data"] == {"n": 2}


def test_presence_queries(js_peers, unique):
    channel = unique("presence-room")
    js_peers.connect("a")
    js_peers.connect("b")
    js_peers.subscribe("a", channel, user={"user_id": "alice", "user_info": {"name": "Alice"}})
    js_peers.subscribe("b", channel, user={"user_id": "bob", "user_info": {"name": "Bob"}})
    wait_until(lambda: len(pushbridge.channel_users(channel)) == 2, what="two members")
    assert sorted(pushbridge.channel_users(channel)) == ["alice", "bob"]
    # Soketi adds subscription_count even when not asked (Pusher answers only what was asked).
    assert pushbridge.channel_info(channel, info="user_count") == {
        "occupied": True,
        "user_count": 2,
        "subscription_count": 2,
    }
    listed = pushbridge.channels(prefix="presence-", info="user_count")
    # A difference from Pusher (docs/soketi.md): Soketi lists the channel without user_count.
    assert listed[channel] == {"occupied": True, "subscription_count": 2}


def test_channel_queries(pysher_peer, unique):
    channel, empty = unique("query-room"), unique("query-empty")
    first, second = pysher_peer(), pysher_peer()
    first.subscribe(channel)
    second.subscribe(channel)
    assert channel in pushbridge.channels()
    assert set(pushbridge.channels(prefix="query-room")) >= {channel}
    assert empty not in pushbridge.channels(prefix="query-")
    assert pushbridge.channel_info(channel, info=["subscription_count"]) == {
        "occupied": True,
        "subscription_count": 2,
    }
    assert pushbridge.channel_info(empty) == {"occupied": False, "subscription_count": 0}


def test_client_events_between_pusher_js_clients(js_peers, unique):
    channel = unique("private-chat")
    js_peers.connect("a")
    js_peers.connect("b")
    js_peers.subscribe("a", channel)
    js_peers.subscribe("b", channel)
    js_peers.command("trigger", client="a", channel=channel, event="client-typing", data={"who": "a"})
    assert js_peers.wait_event("b", channel, "client-typing")["data"] == {"who": "a"}


def test_signin_send_to_user_and_terminate(js_peers, unique):
    user_id = unique("user")
    js_peers.connect("a")
    js_peers.connect("watcher")
    js_peers.command("signin", client="a", user={"id": user_id, "user_info": {"name": "A"}})
    # pusher-js subscribes to #server-to-user-<id> once signed in; retry until it has.
    wait_until(lambda: _user_event_arrived(js_peers, user_id), what="send_to_user to reach the signed-in client")
    pushbridge.terminate_user_connections(user_id)
    js_peers.log.wait_for(
        lambda e: e["type"] == "state" and e["client"] == "a" and e["previous"] == "connected",
        what="the signed-in client to be disconnected",
    )
    assert not [e for e in js_peers.log.items() if e.get("client") == "watcher" and e.get("previous") == "connected"]


def _user_event_arrived(js_peers, user_id: str) -> bool:
    pushbridge.send_to_user(user_id, "notice", {"for": user_id})
    try:
        js_peers.log.wait_for(lambda e: e["type"] == "user_event" and e["event"] == "notice", timeout=0.5)
    except AssertionError:
        return False
    return True


def test_cache_channel_replays_the_last_event(pysher_peer, unique):
    channel, empty = unique("cache-room"), unique("cache-empty")
    pushbridge.trigger(channel, "state", {"v": 1})
    pushbridge.trigger(channel, "state", {"v": 2})
    late = pysher_peer()
    late.subscribe(channel, "state")
    assert json.loads(late.log.wait_for(lambda e: e["event"] == "state")["data"]) == {"v": 2}
    late.subscribe(empty)
    late.log.wait_for(lambda e: e["event"] == "pusher:cache_miss" and e["channel"] == empty)


# -- every error path raises ----------------------------------------------------------------------


def test_wrong_secret_raises_on_every_call(soketi):
    with override_settings(PUSHBRIDGE={"default": settings_for(soketi, SECRET="wrong")}):
        for call in (
            lambda: pushbridge.trigger("room", "e", 1),
            lambda: pushbridge.trigger_batch([Event("room", "e", "1"), Event("room", "e", "2")]),
            pushbridge.channels,
            lambda: pushbridge.channel_info("room"),
            lambda: pushbridge.channel_users("presence-room"),
            lambda: pushbridge.send_to_user("7", "e", 1),
            lambda: pushbridge.terminate_user_connections("7"),
        ):
            with pytest.raises(AuthenticationFailed) as caught:
                call()
            assert caught.value.status == 401
            assert caught.value.message == "The secret authentication failed"


def test_unknown_app_raises_not_found(soketi):
    with (
        override_settings(PUSHBRIDGE={"default": settings_for(soketi, APP_ID="nope")}),
        pytest.raises(NotFound) as caught,
    ):
        pushbridge.trigger("room", "e", 1)
    assert caught.value.status == 404
    assert "nope" in caught.value.message


def test_payload_over_soketis_own_limit_raises(soketi):
    # With the client-side check raised, the server's refusal must still surface.
    with (
        override_settings(PUSHBRIDGE={"default": settings_for(soketi, MAX_PAYLOAD_BYTES=300_000)}),
        pytest.raises(RequestTooLarge) as caught,
    ):
        pushbridge.trigger("room", "e", "x" * 200_000)
    assert caught.value.status == 413


def test_batch_over_soketis_limit_raises():
    backend = get_backend()
    with pytest.raises(BadRequest, match="more than 10"):
        backend.trigger_batch([Event("room", "e", str(n)) for n in range(11)])


def test_rate_limit_is_never_silently_lost(soketi, unique):
    """Soketi limited to 5 events/s: each trigger of a burst arrives, or raises; none vanishes."""
    channel = unique("room")
    receiver = PysherPeer("127.0.0.1", soketi.port, LIMITED["KEY"], LIMITED["SECRET"]).connect()
    try:
        receiver.subscribe(channel, "e", "marker")
        delivered, refused = [], []
        with override_settings(PUSHBRIDGE={"default": settings_for(soketi, **LIMITED, RETRIES=0)}):
            for n in range(200):  # a burst, until the limit shows (at once, unless the machine crawls)
                try:
                    pushbridge.trigger(channel, "e", n)
                except RateLimited as exc:
                    refused.append(exc)
                    if len(refused) == 5:
                        break
                else:
                    delivered.append(n)
        assert refused, "a burst of triggers must meet Soketi's limit of 5 per second"
        assert {(e.status, e.retryable) for e in refused} == {(429, True)}
        patient = settings_for(soketi, **LIMITED, RETRIES=10, OPTIONS={"retry_backoff": 0.5, "retry_backoff_max": 2.0})
        with override_settings(PUSHBRIDGE={"default": patient}):
            pushbridge.trigger(channel, "marker", {})  # after every event of the burst that was let through
        receiver.log.wait_for(lambda e: e["event"] == "marker")
        assert [int(e["data"]) for e in receiver.events(channel, "e")] == delivered
    finally:
        receiver.close()


def test_rate_limited_triggers_are_retried_until_they_pass(soketi, unique):
    patient = settings_for(soketi, **LIMITED, RETRIES=10, OPTIONS={"retry_backoff": 0.5, "retry_backoff_max": 2.0})
    with override_settings(PUSHBRIDGE={"default": patient}):
        for n in range(8):
            assert pushbridge.trigger(unique("room"), "e", n) == {"ok": True}


# -- background dispatch ---------------------------------------------------------------------------


def test_background_mode_delivers_and_announces_failures(soketi, pysher_peer, unique):
    channel = unique("room")
    peer = pysher_peer()
    peer.subscribe(channel, "bg")
    failures: list[dict[str, Any]] = []

    def receiver(sender: str, **kwargs: Any) -> None:
        failures.append(kwargs)

    dispatch_failed.connect(receiver)
    try:
        with override_settings(PUSHBRIDGE={"default": settings_for(soketi, DISPATCH="background")}):
            for n in range(12):
                pushbridge.trigger(channel, "bg", {"n": n})
            assert pushbridge.flush(timeout=20)
            assert dispatch.stats()["default"].sent == 12
        peer.log.wait_count(lambda e: e["event"] == "bg", 12)
        wrong = settings_for(soketi, DISPATCH="background", SECRET="wrong")
        with override_settings(PUSHBRIDGE={"default": wrong}):
            pushbridge.trigger(channel, "bg", {"n": "lost"})
            assert pushbridge.flush(timeout=20)
            assert dispatch.stats()["default"].failed == 1
    finally:
        dispatch_failed.disconnect(receiver)
        dispatch.shutdown()
    [failure] = failures
    assert isinstance(failure["error"], AuthenticationFailed)


def test_background_mode_under_soketis_rate_limit_loses_nothing_silently(soketi, unique):
    """20 events at Soketi's 5/s: each is delivered, or counted and announced as failed.

    Soketi counts a batch as one event per item, so a batch of 10 never fits a limit of 5 per
    second (docs/soketi.md): those events must be announced, never counted as sent.
    """
    # The alias's OPTIONS (FAST) keep the retries' waits short.
    channel = unique("room")
    announced: list[Any] = []
    errors: list[BaseException] = []

    def receiver(sender: str, events: list[Any], error: BaseException, **kwargs: Any) -> None:
        announced.extend(events)
        errors.append(error)

    dispatch_failed.connect(receiver)
    try:
        with override_settings(PUSHBRIDGE={"default": settings_for(soketi, **LIMITED, DISPATCH="background")}):
            for n in range(20):
                pushbridge.trigger(channel, "bg", {"n": n})
            assert pushbridge.flush(timeout=60)
            stats = dispatch.stats()["default"]
            sent, failed = stats.sent, stats.failed
    finally:
        dispatch_failed.disconnect(receiver)
        dispatch.shutdown()
    assert sent + failed == 20
    assert len(announced) == failed > 0
    assert {type(error) for error in errors} == {RateLimited}
