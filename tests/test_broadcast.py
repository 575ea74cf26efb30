"""Model auto-push on a real database: after commit, never after rollback, coalesced per row."""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction

import pushbridge
from pushbridge.broadcast import registry
from pushbridge.errors import ConfigurationError, PayloadTooLarge
from pushbridge.sockets import socket_id_scope
from tests.testapp.models import Invoice, Message, Room, Unregistered

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def room() -> Room:
    return Room.objects.create(name="lobby")


@pytest.fixture
def ann() -> User:
    return User.objects.create_user("ann")


@pytest.fixture
def invoice_registered() -> Iterator[None]:
    pushbridge.broadcasts()(Invoice)
    yield
    registry.pop(Invoice)


def pushed() -> list[tuple[str, str, object]]:
    return [(e.channel, e.event, e.data) for e in pushbridge.outbox]


def test_create_pushes_after_commit(room: Room, ann: User) -> None:
    with transaction.atomic():
        message = Message.objects.create(room=room, author=ann, text="hi")
        assert pushbridge.outbox == []  # nothing leaves before the commit
    assert pushed() == [(f"room-{room.pk}", "show-message", {"id": message.pk, "text": "hi", "author.username": "ann"})]


def test_autocommit_save_pushes_at_once(room: Room, ann: User) -> None:
    Message.objects.create(room=room, author=ann, text="hi")
    assert [e.event for e in pushbridge.outbox] == ["show-message"]


def test_rollback_sends_nothing(room: Room, ann: User) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        Message.objects.create(room=room, author=ann, text="hi")
        raise RuntimeError("rolled back")
    assert pushbridge.outbox == []


def test_several_saves_become_one_event_with_the_final_state(room: Room, ann: User) -> None:
    message = Message.objects.create(room=room, author=ann, text="v0")
    pushbridge.outbox.clear()
    with transaction.atomic():
        for version in range(1, 4):
            message.text = f"v{version}"
            message.save()
    assert pushed() == [(f"room-{room.pk}", "edit-message", {"id": message.pk, "text": "v3", "author.username": "ann"})]


def test_created_then_updated_is_announced_as_created(room: Room, ann: User) -> None:
    with transaction.atomic():
        message = Message.objects.create(room=room, author=ann, text="draft")
        message.text = "final"
        message.save()
    expected = {"id": message.pk, "text": "final", "author.username": "ann"}
    assert pushed() == [(f"room-{room.pk}", "show-message", expected)]


def test_created_then_deleted_is_never_announced(room: Room, ann: User) -> None:
    with transaction.atomic():
        Message.objects.create(room=room, author=ann, text="oops").delete()
    assert pushbridge.outbox == []


def test_update_then_delete_is_a_delete(room: Room, ann: User) -> None:
    message = Message.objects.create(room=room, author=ann, text="x")
    pk = message.pk
    pushbridge.outbox.clear()
    with transaction.atomic():
        message.text = "y"
        message.save()
        message.delete()
    assert pushed() == [(f"room-{room.pk}", "remove-message", {"id": pk, "text": "y", "author.username": "ann"})]


def test_rows_are_coalesced_separately_in_order(room: Room, ann: User) -> None:
    with transaction.atomic():
        first = Message.objects.create(room=room, author=ann, text="1")
        second = Message.objects.create(room=room, author=ann, text="2")
        first.text = "1b"
        first.save()
    assert [e.data["text"] for e in pushbridge.outbox] == ["1b", "2"]  # type: ignore[index]
    assert {e.data["id"] for e in pushbridge.outbox} == {first.pk, second.pk}  # type: ignore[index]


def test_rolled_back_savepoint_is_forgotten(room: Room, ann: User) -> None:
    message = Message.objects.create(room=room, author=ann, text="kept")
    pushbridge.outbox.clear()
    with transaction.atomic():
        message.text = "kept-2"
        message.save()
        with pytest.raises(RuntimeError), transaction.atomic():
            message.text = "rolled back"
            message.save()
            raise RuntimeError
    assert [e.data["text"] for e in pushbridge.outbox] == ["kept-2"]  # type: ignore[index]


def test_save_only_in_a_rolled_back_savepoint_sends_nothing(room: Room, ann: User) -> None:
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            Message.objects.create(room=room, author=ann, text="gone")
            raise RuntimeError
        Room.objects.create(name="unrelated")
    assert pushbridge.outbox == []


def test_released_savepoint_still_reaches_the_final_state(room: Room, ann: User) -> None:
    message = Message.objects.create(room=room, author=ann, text="a")
    pushbridge.outbox.clear()
    with transaction.atomic():
        message.text = "b"
        message.save()
        with transaction.atomic():
            message.text = "c"
            message.save()
    # The final state is always what arrives last.
    assert [e.data["text"] for e in pushbridge.outbox][-1] == "c"  # type: ignore[index]


def test_when_is_evaluated_on_the_final_state(room: Room, ann: User) -> None:
    with transaction.atomic():
        message = Message.objects.create(room=room, author=ann, text="secret", hidden=True)
    assert pushbridge.outbox == []
    with transaction.atomic():
        message.hidden = False
        message.save()
    assert [e.event for e in pushbridge.outbox] == ["edit-message"]


def test_to_others_excludes_the_current_socket(room: Room, ann: User) -> None:
    with socket_id_scope("123.456"):
        Message.objects.create(room=room, author=ann, text="hi")
    assert pushbridge.outbox[0].socket_id == "123.456"


def test_muted_suppresses_everything(room: Room, ann: User) -> None:
    with pushbridge.muted():
        Message.objects.create(room=room, author=ann, text="import")
        pushbridge.trigger("c", "e", 1)
    assert pushbridge.outbox == []
    Message.objects.create(room=room, author=ann, text="after")
    assert len(pushbridge.outbox) == 1


def test_fixture_loading_never_pushes(room: Room, ann: User, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fixture = tmp_path / "messages.json"
    fixture.write_text(
        '[{"model": "testapp.message", "pk": 99, "fields": '
        f'{{"room": {room.pk}, "author": {ann.pk}, "text": "fixture", "hidden": false}}}}]'
    )
    call_command("loaddata", str(fixture), verbosity=0)
    assert Message.objects.filter(pk=99).exists()
    assert pushbridge.outbox == []


def test_oversize_payload_raises_at_save(room: Room, ann: User) -> None:
    with pytest.raises(PayloadTooLarge, match="the limit is 10240 bytes"), transaction.atomic():
        Message.objects.create(room=room, author=ann, text="x" * 11000)
    assert not Message.objects.exists()
    assert pushbridge.outbox == []


def test_convention_for_a_model_we_do_not_own(invoice_registered: None) -> None:
    issued = datetime.datetime(2026, 11, 21, 9, 30, tzinfo=datetime.timezone.utc)
    invoice = Invoice.objects.create(number="A-1", total=decimal.Decimal("12.50"), issued=issued)
    assert [(e.channel, e.event) for e in pushbridge.outbox] == [
        ("private-testapp.invoice", "invoice.created"),
        (f"private-testapp.invoice.{invoice.pk}", "invoice.created"),
    ]
    assert pushbridge.outbox[0].data == {
        "id": invoice.pk,
        "number": "A-1",
        "total": "12.50",
        "issued": "2026-11-21T09:30:00Z",
        "attachment": None,
    }


def test_unregistered_models_push_nothing() -> None:
    Unregistered.objects.create(text="x")
    assert pushbridge.outbox == []


def test_callable_channels_and_payload() -> None:
    pushbridge.broadcasts(
        lambda obj: [f"a-{obj.pk}", "b"], events={"created": "new"}, payload=lambda obj, op: {"op": op}
    )(Unregistered)
    try:
        row = Unregistered.objects.create(text="x")
        row.save()  # updates are not pushed by this registration
    finally:
        registry.pop(Unregistered)
    assert pushed() == [(f"a-{row.pk}", "new", {"op": "created"}), ("b", "new", {"op": "created"})]


def test_bad_registrations_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown operation"):
        pushbridge.broadcasts(events={"saved": "x"})(Unregistered)
    with pytest.raises(ConfigurationError, match="Django model classes"):
        pushbridge.broadcasts()(object)


def test_bad_channel_format_names_the_field() -> None:
    pushbridge.broadcasts("room-{nope}")(Unregistered)
    try:
        with pytest.raises(ConfigurationError, match="names 'nope', which the instance does not have"):
            Unregistered.objects.create(text="x")
    finally:
        registry.pop(Unregistered)


def test_rolled_back_saves_are_not_kept_forever(room: Room, ann: User) -> None:
    from pushbridge.broadcast import _pending

    for _ in range(5):
        with pytest.raises(RuntimeError), transaction.atomic():
            Message.objects.create(room=room, author=ann, text="rolled back")
            raise RuntimeError
    # Each new transaction forgets what earlier rolled-back ones left: at most one lingers.
    assert sum(map(len, _pending("default").values())) == 1
    Message.objects.create(room=room, author=ann, text="kept")
    assert _pending("default") == {}
    assert [e.data["text"] for e in pushbridge.outbox] == ["kept"]  # type: ignore[index]
