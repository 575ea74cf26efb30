"""``"DISPATCH": "durable"`` against a real Soketi: the relay sends, and Soketi's errors are errors.

Soketi answers errors with status 200 and the error in the body; the relay must mark a refused
event failed (and announce it), keep a rate-limited one pending for a later turn, and mark sent
only what Soketi took, which pysher then receives. The test takes the relay's turns itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

import pushbridge
from pushbridge.models import StoredEvent
from pushbridge.relay import Relay
from pushbridge.signals import dispatch_failed
from tests.soketi.conftest import LIMITED, settings_for

pytestmark = [pytest.mark.peers, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def relay_to(soketi: Any) -> Iterator[Any]:
    """``relay_to(**settings)``: durable dispatch to the shared Soketi, with a relay the test turns."""
    overrides: list[Any] = []

    def make(**extra: Any) -> Relay:
        override = override_settings(
            PUSHBRIDGE={"default": settings_for(soketi, DISPATCH="durable", **extra)},
            PUSHBRIDGE_RELAY_IN_PROCESS=False,
        )
        override.enable()
        overrides.append(override)
        return Relay()

    yield make
    for override in reversed(overrides):
        override.disable()


@pytest.fixture
def failures() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: str, **kwargs: Any) -> None:
        seen.append(kwargs)

    dispatch_failed.connect(receiver)
    yield seen
    dispatch_failed.disconnect(receiver)


def test_committed_events_reach_pysher_through_the_relay(relay_to, pysher_peer, unique):
    channel = unique("room")
    peer = pysher_peer()
    peer.subscribe(channel, "e")
    relay = relay_to()
    for n in range(3):
        pushbridge.trigger(channel, "e", {"n": n})
    assert relay.turn().sent == 3
    seen = peer.log.wait_count(lambda e: e["event"] == "e", 3)
    assert [json.loads(e["data"])["n"] for e in seen] == [0, 1, 2]
    assert set(StoredEvent.objects.values_list("status", flat=True)) == {"sent"}


def test_a_refusal_in_a_200_body_fails_the_event_and_is_announced(relay_to, failures, unique):
    relay = relay_to(SECRET="wrong")
    pushbridge.trigger(unique("room"), "e", 1)
    turn = relay.turn()
    assert (turn.sent, turn.failed) == (0, 1)
    stored = StoredEvent.objects.get()
    assert stored.status == "failed"
    assert "The secret authentication failed" in stored.error
    [failure] = failures
    assert failure["error"].status == 401


def test_a_rate_limit_in_a_200_body_keeps_the_events_pending(relay_to, unique):
    """Soketi limited to 5/s refuses a batch of 10 with 429 in the body: retryable, so not sent, not failed."""
    relay = relay_to(**LIMITED)
    channel = unique("room")
    for n in range(10):
        pushbridge.trigger(channel, "e", n)
    turn = relay.turn()
    assert (turn.sent, turn.failed) == (0, 0)
    assert turn.wait is not None
    assert set(StoredEvent.objects.values_list("status", "attempts")) == {("pending", 1)}
