"""trigger()/trigger_batch()/send_to_user() inside atomic(): they leave on commit, never on rollback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

import pushbridge
import pushbridge.signals
from pushbridge import dispatch

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


@pytest.fixture(params=["sync", "background"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "memory", "DISPATCH": request.param}}):
        yield request.param
        dispatch.shutdown()


def sent() -> list[tuple[str, str, Any]]:
    assert pushbridge.flush(timeout=10)
    return [(e.channel, e.event, e.data) for e in pushbridge.outbox]


def test_a_rolled_back_trigger_sends_nothing(mode: str) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        pushbridge.trigger("orders", "paid", {"id": 1})
        pushbridge.trigger_batch([pushbridge.Event("orders", "paid", {"id": 2})])
        pushbridge.send_to_user(7, "note", "hi")
        assert sent() == []  # nothing left before the commit
        raise Rollback
    assert sent() == []


def test_a_committed_trigger_is_sent_after_the_commit(mode: str) -> None:
    with transaction.atomic():
        assert pushbridge.trigger("orders", "paid", {"id": 1}) == {}
        pushbridge.send_to_user(7, "note", "hi")
        assert sent() == []
    assert sent() == [("orders", "paid", {"id": 1}), ("#server-to-user-7", "note", "hi")]


def test_a_rolled_back_savepoint_takes_its_triggers_with_it(mode: str) -> None:
    with transaction.atomic():
        pushbridge.trigger("c", "kept", 1)
        with pytest.raises(Rollback), transaction.atomic():
            pushbridge.trigger("c", "lost", 2)
            raise Rollback
    assert sent() == [("c", "kept", 1)]


def test_on_commit_false_sends_at_once(mode: str) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        pushbridge.trigger("c", "now", 1, on_commit=False)
        assert sent() == [("c", "now", 1)]
        raise Rollback
    assert sent() == [("c", "now", 1)]


def test_outside_a_transaction_events_leave_at_once(mode: str) -> None:
    pushbridge.trigger("c", "e", 1)
    assert sent() == [("c", "e", 1)]


def test_a_sync_failure_after_commit_is_announced_not_raised() -> None:
    seen: list[dict[str, Any]] = []

    def receiver(sender: str, **kwargs: Any) -> None:
        seen.append(kwargs)

    pushbridge.signals.dispatch_failed.connect(receiver)
    entry = {"BACKEND": "soketi", "PORT": 9, "RETRIES": 0}  # port 9: nothing listens
    try:
        with override_settings(PUSHBRIDGE={"default": entry}), transaction.atomic():
            pushbridge.trigger("c", "e", 1)
    finally:
        pushbridge.signals.dispatch_failed.disconnect(receiver)
    assert len(seen) == 1
    assert "Could not connect" in str(seen[0]["error"])
