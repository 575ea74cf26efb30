"""Every validation rule: what is refused, and that the message names the value and the limit."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from django.utils.translation import gettext_lazy

from pushbridge import Event
from pushbridge.errors import (
    InvalidChannel,
    InvalidEventName,
    InvalidSocketId,
    InvalidUserId,
    NotSerializable,
    PayloadTooLarge,
    PushbridgeError,
    TooManyChannels,
    ValidationError,
)
from pushbridge.limits import PUSHER_LIMITS, SOKETI_LIMITS, channel_kind, check_socket_id


def test_data_encoded_once_with_djangos_encoder() -> None:
    moment = datetime.datetime(2026, 11, 21, 12, 0, 0, 123000, tzinfo=datetime.timezone.utc)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    event = Event("c", "e", {"at": moment, "price": decimal.Decimal("9.99"), "id": ident, "label": gettext_lazy("yes")})
    assert event.data == (
        '{"at":"2026-11-21T12:00:00.123Z","price":"9.99","id":"12345678-1234-5678-1234-567812345678","label":"yes"}'
    )


def test_str_data_is_sent_as_is() -> None:
    assert Event("c", "e", "plain text").data == "plain text"
    assert Event("c", "e", '{"already": "json"}').data == '{"already": "json"}'


def test_unicode_kept_unescaped() -> None:
    assert Event("c", "e", {"t": "Zoë ✓"}).data == '{"t":"Zoë ✓"}'


def test_not_serializable_names_the_type() -> None:
    with pytest.raises(NotSerializable, match="type dict cannot be encoded as JSON") as info:
        Event("c", "e", {"x": object()})
    assert isinstance(info.value, TypeError)


def test_channels_normalised_and_deduplicated() -> None:
    assert Event(["a", "b", "a"], "e").channels == ("a", "b")
    assert Event("a", "e").channels == ("a",)


def test_event_is_immutable_and_comparable() -> None:
    event = Event("a", "e", {"x": 1})
    with pytest.raises(AttributeError):
        event.name = "other"  # type: ignore[misc]
    assert event == Event("a", "e", {"x": 1})
    assert len({event, Event("a", "e", {"x": 1})}) == 1
    assert "Event(channels=['a'], name='e'" in repr(event)


def test_events_pickle_and_copy_by_value() -> None:
    import copy
    import pickle

    event = Event(["a", "b"], "e", {"x": 1}, socket_id="1.2")
    for clone in (pickle.loads(pickle.dumps(event)), copy.copy(event), copy.deepcopy(event)):
        assert clone == event
        assert (clone.channels, clone.name, clone.data, clone.socket_id) == (("a", "b"), "e", '{"x":1}', "1.2")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_not_json(value: float) -> None:
    with pytest.raises(NotSerializable, match="cannot be encoded as JSON"):
        Event("c", "e", {"x": value})


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ("", "must not be empty"),
        ("room 1", "contains ' '"),
        ("room#1", "contains '#'"),
        ("ümlaut", "contains 'ü'"),
        (42, "must be a name or a list of names, got int"),
        ([42], "must be a string, got int"),
    ],
)
def test_bad_channel_names(channel: object, message: str) -> None:
    with pytest.raises(InvalidChannel, match=message):
        Event(channel, "e")  # type: ignore[arg-type]


def test_channel_length_limit_is_the_backends() -> None:
    name = "c" * 170
    Event(name, "e")  # shape is fine; length is checked against the backend's table
    with pytest.raises(InvalidChannel, match="is 170 characters long; the limit is 164"):
        Event(name, "e").check(PUSHER_LIMITS)
    Event(name, "e").check(SOKETI_LIMITS)


def test_every_allowed_character() -> None:
    Event("AZaz09_-=@,.;", "e").check(PUSHER_LIMITS)


def test_too_many_channels() -> None:
    Event([f"c{i}" for i in range(100)], "e")
    with pytest.raises(TooManyChannels, match="101 channels given; one trigger may name at most 100"):
        Event([f"c{i}" for i in range(101)], "e")


def test_no_channels() -> None:
    with pytest.raises(InvalidChannel, match="At least one channel"):
        Event([], "e")


def test_encrypted_channel_alone_only() -> None:
    Event("private-encrypted-a", "e")
    with pytest.raises(InvalidChannel, match="'private-encrypted-a' cannot share a trigger"):
        Event(["public", "private-encrypted-a"], "e")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("pusher:subscribe", "prefix 'pusher:', which is reserved"),
        ("pusher_internal:member_added", "prefix 'pusher_internal:', which is reserved"),
        (None, "must be a string"),
    ],
)
def test_bad_event_names(name: object, message: str) -> None:
    with pytest.raises(InvalidEventName, match=message):
        Event("c", name)  # type: ignore[arg-type]


def test_event_name_length() -> None:
    Event("c", "e" * 200).check(PUSHER_LIMITS)
    with pytest.raises(InvalidEventName, match="is 201 characters long; the limit is 200"):
        Event("c", "e" * 201).check(PUSHER_LIMITS)


@pytest.mark.parametrize("socket_id", ["", "1", "1.", ".1", "1.2.3", "a.b", "\u0661.\u0662", " 1.2", 12])
def test_bad_socket_ids(socket_id: object) -> None:
    with pytest.raises(InvalidSocketId, match="two runs of digits joined by a dot"):
        Event("c", "e", socket_id=socket_id)  # type: ignore[arg-type]


def test_good_socket_id() -> None:
    assert check_socket_id("123.456") == "123.456"


def test_payload_limit_counts_utf8_bytes() -> None:
    Event("c", "e", "x" * 10240).check(PUSHER_LIMITS)
    with pytest.raises(PayloadTooLarge, match="for channel 'c' is 10241 bytes; the limit is 10240 bytes"):
        Event("c", "e", "x" * 10241).check(PUSHER_LIMITS)
    with pytest.raises(PayloadTooLarge, match="is 10242 bytes"):
        Event("c", "e", "é" * 5121).check(PUSHER_LIMITS)
    Event("c", "e", "x" * 100 * 1024).check(SOKETI_LIMITS)


def test_configurable_payload_limit() -> None:
    with pytest.raises(PayloadTooLarge, match="the limit is 100 bytes"):
        Event("c", "e", "x" * 101).check(PUSHER_LIMITS.replace(max_payload_bytes=100))


@pytest.mark.parametrize(
    ("user_id", "message"),
    [
        ("", "must not be empty"),
        ("a b", "may only contain"),
        ("x" * 129, "is 129 characters long; the limit is 128"),
        (True, "must be a string or an integer"),
        (None, "must be a string or an integer"),
    ],
)
def test_bad_user_ids(user_id: object, message: str) -> None:
    with pytest.raises(InvalidUserId, match=message):
        PUSHER_LIMITS.check_user_id(user_id)


def test_integer_user_id_becomes_text() -> None:
    assert PUSHER_LIMITS.check_user_id(42) == "42"


def test_server_to_user_channel_checks_the_user_id() -> None:
    Event("#server-to-user-42", "e").check(PUSHER_LIMITS)
    with pytest.raises(InvalidChannel):
        Event("#server-to-user-", "e")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("private-encrypted-x", "encrypted"),
        ("private-x", "private"),
        ("presence-x", "presence"),
        ("#server-to-user-1", "user"),
        ("cache-x", "public"),
        ("x", "public"),
    ],
)
def test_channel_kinds(name: str, kind: str) -> None:
    assert channel_kind(name) == kind


def test_all_errors_share_one_base() -> None:
    for error in (InvalidChannel, InvalidEventName, InvalidSocketId, InvalidUserId, NotSerializable, PayloadTooLarge):
        assert issubclass(error, ValidationError)
        assert issubclass(error, PushbridgeError)
        assert issubclass(error, ValueError)
