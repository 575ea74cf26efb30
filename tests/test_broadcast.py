"""Model auto-push on a real database: after commit, never after rollback, coalesced per row."""

from __future__ import annotations

import datetime
import decimal
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, models, transaction
from django.db.models.signals import post_delete, post_save
from django.test.utils import CaptureQueriesContext

import pushbridge
from pushbridge import broadcast
from pushbridge.backends.memory import subscribe
from pushbridge.broadcast import registry
from pushbridge.errors import BackendUnavailable, ConfigurationError, PayloadTooLarge
from pushbridge.signals import dispatch_failed
from pushbridge.sockets import socket_id_scope
from tests.testapp.models import Invoice, Message, Place, PlaceProxy, Restaurant, Room, Unregistered

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def room() -> Room:
    return Room.objects.create(name="lobby")


@pytest.fixture
def ann() -> User:
    return User.objects.create_user("ann")


@contextmanager
def registered(model: type[models.Model], *args: Any, **kwargs: Any) -> Iterator[None]:
    """Register ``model`` for the block only, signals included, so no other test sees it."""
    pushbridge.broadcasts(*args, **kwargs)(model)
    try:
        yield
    finally:
        registry.pop(model)
        family = [model]
        for cls in family:
            family.extend(cls.__subclasses__())
        for cls in family:
            post_save.disconnect(sender=cls, dispatch_uid=broadcast._SAVE_UID)
            post_delete.disconnect(sender=cls, dispatch_uid=broadcast._DELETE_UID)


@pytest.fixture
def invoice_registered() -> Iterator[None]:
    with registered(Invoice):
        yield


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
    assert pushed() == [(f"room-{room.pk}", "edit-message", {"id": message.pk, "text": "c", "author.username": "ann"})]


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
    with registered(
        Unregistered, lambda obj: [f"a-{obj.pk}", "b"], events={"created": "new"}, payload=lambda obj, op: {"op": op}
    ):
        row = Unregistered.objects.create(text="x")
        row.save()  # updates are not pushed by this registration
    assert pushed() == [(f"a-{row.pk}", "new", {"op": "created"}), ("b", "new", {"op": "created"})]


def test_bad_registrations_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown operation"):
        pushbridge.broadcasts(events={"saved": "x"})(Unregistered)
    with pytest.raises(ConfigurationError, match="Django model classes"):
        pushbridge.broadcasts()(object)


def test_bad_channel_format_names_the_field() -> None:
    with (
        registered(Unregistered, "room-{nope}"),
        pytest.raises(ConfigurationError, match="names 'nope', which the instance does not have"),
    ):
        Unregistered.objects.create(text="x")


def test_rolled_back_saves_are_not_kept_forever(room: Room, ann: User) -> None:
    from pushbridge.broadcast import _pending

    for _ in range(5):
        with pytest.raises(RuntimeError), transaction.atomic():
            Message.objects.create(room=room, author=ann, text="rolled back")
            raise RuntimeError
    # A rolled-back save dies with its callback, and takes itself off the table.
    assert _pending("default") == {}
    Message.objects.create(room=room, author=ann, text="kept")
    assert _pending("default") == {}
    assert [e.data["text"] for e in pushbridge.outbox] == ["kept"]  # type: ignore[index]


# -- saves during the commit hooks (finding 1) ---------------------------------------------------


def test_a_save_in_another_on_commit_callback_loses_no_waiting_event(room: Room, ann: User) -> None:
    with transaction.atomic():
        # Another app's callback, registered first, writes a row of a registered model while
        # the callback of the user's message still waits its turn.
        transaction.on_commit(lambda: Message.objects.create(room=room, author=ann, text="from on_commit"))
        Message.objects.create(room=room, author=ann, text="the user's message")
    assert [(e.event, e.data["text"]) for e in pushbridge.outbox] == [  # type: ignore[index]
        ("show-message", "from on_commit"),
        ("show-message", "the user's message"),
    ]


def test_an_on_commit_callback_editing_a_waiting_row_gives_one_event_with_the_final_state(
    room: Room, ann: User
) -> None:
    made: list[Message] = []

    def edit() -> None:
        made[0].text = "edited after commit"
        made[0].save()

    with transaction.atomic():
        transaction.on_commit(edit)
        made.append(Message.objects.create(room=room, author=ann, text="draft"))
    expected = {"id": made[0].pk, "text": "edited after commit", "author.username": "ann"}
    assert pushed() == [(f"room-{room.pk}", "show-message", expected)]


# -- nested atomic blocks (finding 2) ------------------------------------------------------------


def test_created_then_updated_in_a_nested_atomic_is_one_created_event(room: Room, ann: User) -> None:
    with transaction.atomic():
        message = Message.objects.create(room=room, author=ann, text="draft")
        with transaction.atomic():  # a helper decorated with @transaction.atomic
            message.text = "final"
            message.save()
    expected = {"id": message.pk, "text": "final", "author.username": "ann"}
    assert pushed() == [(f"room-{room.pk}", "show-message", expected)]


def test_created_then_deleted_in_a_nested_atomic_is_never_announced(room: Room, ann: User) -> None:
    with transaction.atomic():
        message = Message.objects.create(room=room, author=ann, text="oops")
        with transaction.atomic():
            message.delete()
    assert pushbridge.outbox == []


def test_created_in_a_nested_atomic_then_updated_outside_is_one_created_event(room: Room, ann: User) -> None:
    with transaction.atomic():
        with transaction.atomic():
            message = Message.objects.create(room=room, author=ann, text="draft")
        message.text = "final"
        message.save()
        with pytest.raises(RuntimeError), transaction.atomic():
            message.text = "rolled back"
            message.save()
            raise RuntimeError
    expected = {"id": message.pk, "text": "final", "author.username": "ann"}
    assert pushed() == [(f"room-{room.pk}", "show-message", expected)]


@pytest.mark.django_db  # not transactional: the test runs in a transaction that never commits
def test_a_test_transaction_running_callbacks_early_leaves_earlier_saves_alone(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """In a transaction that never commits, a save made before the callbacks ran is not taken."""
    assert connection.in_atomic_block
    room = Room.objects.create(name="lobby")
    message = Message.objects.create(room=room, author=User.objects.create_user("ann"), text="setup")
    with django_capture_on_commit_callbacks(execute=True):
        message.text = "edited"
        message.save()
    assert [(e.event, e.data["text"]) for e in pushbridge.outbox] == [("edit-message", "edited")]  # type: ignore[index]


def test_deleted_recreated_and_deleted_again_is_a_delete(room: Room, ann: User) -> None:
    message = Message.objects.create(room=room, author=ann, text="x")
    pk = message.pk
    pushbridge.outbox.clear()
    with transaction.atomic():
        message.delete()
        again = Message.objects.create(pk=pk, room=room, author=ann, text="again")
        again.delete()
    # The row existed before the transaction and not after it.
    assert pushed() == [(f"room-{room.pk}", "remove-message", {"id": pk, "text": "again", "author.username": "ann"})]


def test_a_registration_without_creations_still_cancels_created_then_deleted() -> None:
    with registered(Unregistered, "rows", events={"deleted": "gone"}), transaction.atomic():
        Unregistered.objects.create(text="never seen").delete()
    assert pushbridge.outbox == []


# -- one row, whichever class saved it (finding 3) -----------------------------------------------


@pytest.fixture
def places() -> Iterator[None]:
    with registered(Place, "places"):  # registered after Restaurant and PlaceProxy exist
        yield


def test_a_multi_table_child_is_created_and_deleted_once(places: None) -> None:
    restaurant = Restaurant.objects.create(name="Chez Ann", stars=2)
    pk = restaurant.pk
    restaurant.delete()  # deletes the Restaurant row, then its Place row
    assert pushed() == [
        ("places", "place.created", {"id": pk, "name": "Chez Ann", "place_ptr_id": pk, "stars": 2}),
        ("places", "place.deleted", {"id": pk, "name": "Chez Ann", "place_ptr_id": pk, "stars": 2}),
    ]


def test_deleting_a_child_through_its_parent_is_one_delete(places: None) -> None:
    restaurant = Restaurant.objects.create(name="Chez Ann", stars=2)
    pushbridge.outbox.clear()
    Place.objects.filter(pk=restaurant.pk).delete()
    assert [e.event for e in pushbridge.outbox] == ["place.deleted"]


def test_saves_through_a_proxy_coalesce_with_the_model(places: None) -> None:
    with transaction.atomic():
        place = Place.objects.create(name="draft")
        proxy = PlaceProxy.objects.get(pk=place.pk)
        proxy.name = "final"
        proxy.save()
    assert pushed() == [("places", "place.created", {"id": place.pk, "name": "final"})]


# -- failures after the commit (finding 4) -------------------------------------------------------


@pytest.fixture
def failures() -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(sender: str, **kwargs: Any) -> None:
        received.append({"sender": sender, **kwargs})

    dispatch_failed.connect(receiver)
    yield received
    dispatch_failed.disconnect(receiver)


def test_a_backend_error_after_commit_is_announced_not_raised(
    room: Room, ann: User, failures: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    error = BackendUnavailable("connection refused", backend="default")

    def fail(record: object) -> None:
        raise error

    ran: list[str] = []
    unsubscribe = subscribe(f"room-{room.pk}", fail)
    try:
        with caplog.at_level(logging.ERROR, logger="pushbridge.broadcast"), transaction.atomic():
            Message.objects.create(room=room, author=ann, text="hi")
            transaction.on_commit(lambda: ran.append("send the welcome email"))
    finally:
        unsubscribe()
    assert Message.objects.filter(text="hi").exists()
    assert ran == ["send the welcome email"]  # other apps' callbacks still run
    assert [(f["sender"], [e.name for e in f["events"]], f["error"], f["dropped"]) for f in failures] == [
        ("default", ["show-message"], error, False)
    ]
    assert [r.name for r in caplog.records if r.levelno == logging.ERROR] == ["pushbridge.broadcast"]
    assert "connection refused" in caplog.text


def test_any_other_error_after_commit_still_lets_other_callbacks_run(room: Room, ann: User) -> None:
    def fail(record: object) -> None:
        raise RuntimeError("a bug in a subscriber")

    ran: list[str] = []
    unsubscribe = subscribe(f"room-{room.pk}", fail)
    try:
        with transaction.atomic():
            Message.objects.create(room=room, author=ann, text="hi")
            transaction.on_commit(lambda: ran.append("send the welcome email"))
    finally:
        unsubscribe()
    assert ran == ["send the welcome email"]  # robust: Django logs it and goes on


# -- signals per model (finding 5) ---------------------------------------------------------------


def test_registering_a_model_keeps_fast_delete_for_the_others(places: None) -> None:
    assert registry  # Message (and Place) are registered
    assert not post_delete.has_listeners(Unregistered)
    assert not post_save.has_listeners(Room)
    Unregistered.objects.create(text="x")
    with CaptureQueriesContext(connection) as queries:
        Unregistered.objects.all().delete()
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert "DELETE" in statements
    assert "SELECT" not in statements  # fast delete: the rows are not loaded to send signals
    assert post_delete.has_listeners(Restaurant)  # while the registered model's family has them
    assert post_delete.has_listeners(PlaceProxy)


def test_a_proxy_defined_after_the_registration_pushes(places: None) -> None:
    class LatePlace(Place):
        class Meta:
            app_label = "testapp"
            proxy = True

    try:
        LatePlace.objects.create(name="late")
    finally:
        del apps.all_models["testapp"]["lateplace"]
        apps.clear_cache()
    assert [(e.event, e.data["name"]) for e in pushbridge.outbox] == [("place.created", "late")]  # type: ignore[index]


# -- payloads (findings 6, 7, 9) -----------------------------------------------------------------


def test_the_default_payload_never_carries_passwords() -> None:
    with registered(User, "users", events={"created": "user.created"}):
        user = User.objects.create_user("bob", password="correct horse battery staple")
    [event] = pushbridge.outbox
    assert event.data["username"] == "bob"  # type: ignore[index]
    assert event.data["id"] == user.pk  # type: ignore[index]
    assert "password" not in event.data
    assert "pbkdf2" not in event.raw_data


def test_a_payload_path_the_model_does_not_have_is_a_configuration_error() -> None:
    with (
        registered(Unregistered, "rows", payload=["id", "text.nope"]),
        pytest.raises(
            ConfigurationError,
            match=r"Payload field 'text.nope' of testapp.Unregistered names 'nope', which str does not",
        ),
        transaction.atomic(),
    ):
        Unregistered.objects.create(text="x")
    assert not Unregistered.objects.exists()


def test_a_payload_path_through_an_empty_relation_is_none() -> None:
    with registered(Place, "places", payload=["name", "restaurant.stars"]):
        Place.objects.create(name="plain")  # a Place that is no Restaurant has no .restaurant
    assert pushed() == [("places", "place.created", {"name": "plain", "restaurant.stars": None})]


def test_a_dotted_channel_format_the_model_does_not_have_is_a_configuration_error(room: Room, ann: User) -> None:
    with registered(Unregistered, "row-{text.nope}"), pytest.raises(ConfigurationError, match=r"row-\{text\.nope\}"):
        Unregistered.objects.create(text="x")


def test_payload_sees_the_operation_of_the_save_that_made_it() -> None:
    def payload(obj: Unregistered, op: str) -> dict[str, str]:
        return {"op": op, "text": obj.text}

    with registered(Unregistered, "rows", events={"created": "new"}, payload=payload), transaction.atomic():
        row = Unregistered.objects.create(text="x")
        row.text = "y"
        row.save()
    # Announced as created, with the data of its last save, which was an update.
    assert pushed() == [("rows", "new", {"op": "updated", "text": "y"})]


def test_bulk_operations_push_nothing(room: Room, ann: User) -> None:
    Message.objects.bulk_create([Message(room=room, author=ann, text="bulk")])
    Message.objects.update(text="updated in bulk")
    assert pushbridge.outbox == []
