"""The test kit itself: the pytest fixture, on_commit on demand, the TestCase mixin, failure messages."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import TestCase, override_settings

import pushbridge
from pushbridge.testing import ANY, PushbridgeTestMixin, PushRecorder
from tests.testapp.models import Message, Room


@pytest.mark.django_db  # a transaction that never commits: callbacks are run when we look
def test_fixture_runs_on_commit_callbacks_when_asserting(pushbridge_outbox: PushRecorder) -> None:
    room = Room.objects.create(name="r")
    ann = User.objects.create_user("ann")
    Message.objects.create(room=room, author=ann, text="hi")
    assert pushbridge.outbox == []  # still waiting for a commit that never comes
    pushbridge_outbox.assert_triggered(f"room-{room.pk}", "show-message", data=ANY, count=1)
    assert len(pushbridge_outbox.events) == 1  # callbacks are run once, not again


def test_fixture_switches_every_alias_to_memory() -> None:
    entries = {
        "default": {"BACKEND": "soketi", "KEY": "k", "SECRET": "s"},
        "hosted": {"BACKEND": "pusher", "APP_ID": "1", "KEY": "k2", "SECRET": "s2", "MAX_PAYLOAD_BYTES": 5000},
    }
    from pushbridge.backends import get_backend
    from pushbridge.testing import memory_backends

    with override_settings(PUSHBRIDGE=entries), memory_backends():
        pushbridge.trigger("c", "e", 1, using="hosted")
        backend = get_backend("hosted")
        assert backend.has_server is False
        assert (backend.config.key, backend.limits.max_payload_bytes) == ("k2", 5000)
        assert get_backend().limits.max_payload_bytes == 100 * 1024  # soketi's limit kept
        assert pushbridge.outbox[0].using == "hosted"


def test_failure_lists_what_was_pushed(pushbridge_outbox: PushRecorder) -> None:
    pushbridge.trigger("room-1", "show-message", {"text": "hi"}, socket_id="1.2")
    with pytest.raises(AssertionError) as info:
        pushbridge_outbox.assert_triggered("room-1", "show-message", data={"text": "bye"})
    message = str(info.value)
    expected = (
        "Expected event 'show-message' on 'room-1' with data {'text': 'bye'} to be pushed at least once, found 0."
    )
    assert expected in message
    assert "Pushed instead:\n  room-1 show-message {'text': 'hi'} socket_id=1.2" in message


def test_failure_when_nothing_was_pushed(pushbridge_outbox: PushRecorder) -> None:
    with pytest.raises(AssertionError, match="Nothing was pushed"):
        pushbridge_outbox.assert_triggered(event="x")


def test_assert_not_triggered_and_count(pushbridge_outbox: PushRecorder) -> None:
    pushbridge.trigger(["a", "b"], "e", 1)
    pushbridge_outbox.assert_not_triggered("c")
    pushbridge_outbox.assert_triggered(event="e", count=2)
    with pytest.raises(AssertionError, match="Expected no event 'e' on 'a'"):
        pushbridge_outbox.assert_not_triggered("a", "e")
    with pytest.raises(AssertionError, match="1 time"):
        pushbridge_outbox.assert_triggered(event="e", count=1)
    pushbridge_outbox.clear()
    assert pushbridge_outbox.events == []


@pytest.mark.django_db
def test_capture_asserts_only_what_the_block_pushed(pushbridge_outbox: PushRecorder) -> None:
    room, ann = Room.objects.create(name="r"), User.objects.create_user("ann")
    message = Message.objects.create(room=room, author=ann, text="hi")
    with pushbridge_outbox.capture() as pushed:
        message.text = "hello"
        message.save()
    pushbridge.trigger(f"room-{room.pk}", "after", {})
    pushed.assert_triggered(f"room-{room.pk}", "edit-message", data={"id": message.pk, "text": "hello",
                                                                   "author.username": "ann"}, count=1)  # fmt: skip
    pushed.assert_not_triggered(event="show-message")  # before the block
    pushed.assert_not_triggered(event="after")  # after it
    assert [e.event for e in pushed.events] == ["edit-message"]
    assert [e.event for e in pushbridge_outbox.events] == ["show-message", "edit-message", "after"]


@pytest.mark.django_db
def test_capture_failure_lists_only_the_block(pushbridge_outbox: PushRecorder) -> None:
    pushbridge.trigger("a", "before", 1)
    with pushbridge_outbox.capture() as pushed:
        pass
    with pytest.raises(AssertionError) as info:
        pushed.assert_triggered("a")
    assert str(info.value).endswith("found 0.\nNothing was pushed.")


@pytest.mark.django_db
def test_failure_says_when_an_event_was_coalesced(pushbridge_outbox: PushRecorder) -> None:
    room, ann = Room.objects.create(name="r"), User.objects.create_user("ann")
    message = Message.objects.create(room=room, author=ann, text="hi")
    message.text = "hello"
    message.save()
    with pytest.raises(AssertionError) as info:
        pushbridge_outbox.assert_triggered(f"room-{room.pk}", "edit-message")
    assert str(info.value) == (
        f"Expected event 'edit-message' on 'room-{room.pk}' to be pushed at least once, found 0.\n"
        "'edit-message' was coalesced into another event:\n"
        f"  testapp.Message pk={message.pk} was created then updated in one transaction, which auto-push "
        f"announces as one 'show-message' event (on room-{room.pk})\n"
        "A test runs in one transaction: create the row before `with pushbridge_outbox.capture() as pushed:` "
        "and assert on `pushed`, or call pushbridge_outbox.clear() after creating it.\n"
        "Pushed instead:\n"
        f"  room-{room.pk} show-message {{'id': {message.pk}, 'text': 'hello', 'author.username': 'ann'}}"
    )
    # An event that was not merged away gets no such note.
    with pytest.raises(AssertionError) as other:
        pushbridge_outbox.assert_triggered(f"room-{room.pk}", "remove-message")
    assert "coalesced" not in str(other.value)


@pytest.mark.django_db
def test_failure_says_when_a_row_was_never_announced(pushbridge_outbox: PushRecorder) -> None:
    room, ann = Room.objects.create(name="r"), User.objects.create_user("ann")
    message = Message.objects.create(room=room, author=ann, text="hi")
    message.delete()
    with pytest.raises(AssertionError, match="was created then deleted in one transaction, which auto-push "
                                             "announces as no event at all"):  # fmt: skip
        pushbridge_outbox.assert_triggered(event="show-message")


class MixinTests(PushbridgeTestMixin, TestCase):
    def test_assertions_inside_a_testcase(self) -> Any:
        room = Room.objects.create(name="r")
        ann = User.objects.create_user("ann")
        Message.objects.create(room=room, author=ann, text="hi")
        data = {"id": ANY, "text": "hi", "author.username": "ann"}
        self.assertTriggered(f"room-{room.pk}", "show-message", data=data)
        self.assertNotTriggered(f"room-{room.pk}", "remove-message")

    def test_capture_inside_a_testcase(self) -> Any:
        room, ann = Room.objects.create(name="r"), User.objects.create_user("ann")
        message = Message.objects.create(room=room, author=ann, text="hi")
        with self.pushbridge_outbox.capture() as pushed:
            message.delete()
        pushed.assert_triggered(f"room-{room.pk}", "remove-message", count=1)
        pushed.assert_not_triggered(event="show-message")


@pytest.mark.peers
def test_live_server_fixture_delivers_to_pysher(pushbridge_live_server: Any) -> None:
    from tests.server.peers import PysherPeer

    peer = PysherPeer("127.0.0.1", pushbridge_live_server.port, pushbridge_live_server.app.key, secret="").connect()
    try:
        peer.subscribe("live-fixture", "ping")
        pushbridge.trigger("live-fixture", "ping", {"n": 1})
        assert peer.log.wait_for(lambda e: e["event"] == "ping")["data"] == '{"n":1}'
    finally:
        peer.close()
