"""History channels: positions in commit order, the wire envelope, the endpoint, the template tag."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.template import Context, Template
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

import pushbridge
from pushbridge import auth, dispatch
from pushbridge.errors import ValidationError
from pushbridge.models import StoredEvent
from pushbridge.relay import Relay
from pushbridge.templatetags.pushbridge import client_config
from tests.testapp.models import Message, Room

pytestmark = pytest.mark.django_db(transaction=True)

HISTORY = {"channels": ["room-*", "private-user.*", "#server-to-user-*"], "seconds": 300}


class Rollback(Exception):
    pass


def alias(mode: str) -> override_settings:
    return override_settings(PUSHBRIDGE={"default": {"BACKEND": "memory", "DISPATCH": mode, "HISTORY": HISTORY}})


@pytest.fixture(params=["sync", "background", "durable"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    with alias(request.param):
        yield request.param
        dispatch.shutdown()


@pytest.fixture(autouse=True)
def rules() -> Iterator[None]:
    saved = list(auth.rules)
    auth.rules.clear()
    pushbridge.channel("private-user.{user_id:int}")(lambda user, user_id: user.pk == user_id)
    yield
    auth.rules[:] = saved


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.01)


def received(count: int) -> list[tuple[str, Any]]:
    pushbridge.flush(timeout=10)
    wait_for(lambda: len(pushbridge.outbox) >= count)
    return [(e.channel, e.data) for e in pushbridge.outbox]


def test_history_events_travel_wrapped_with_id_and_position(mode: str) -> None:
    with transaction.atomic():
        pushbridge.trigger("room-1", "e", {"text": "a"})
        pushbridge.trigger("room-1", "e", "plain text")
        pushbridge.trigger("lobby", "e", {"text": "no history"})
    got = received(3)
    rows = {row.position: row.uid for row in StoredEvent.objects.filter(channel="room-1")}
    assert ("room-1", {"pushbridge": {"id": rows[1], "position": 1}, "data": {"text": "a"}}) in got
    assert ("room-1", {"pushbridge": {"id": rows[2], "position": 2}, "data": "plain text"}) in got
    assert ("lobby", {"text": "no history"}) in got  # channels without history: as before


def test_a_multi_channel_event_gets_a_position_per_history_channel(mode: str) -> None:
    pushbridge.trigger(["room-1", "room-2", "lobby"], "e", 1)
    got = sorted(received(3), key=str)
    assert got == sorted(
        [
            ("lobby", 1),
            ("room-1", {"pushbridge": {"id": StoredEvent.objects.get(channel="room-1").uid, "position": 1}, "data": 1}),
            ("room-2", {"pushbridge": {"id": StoredEvent.objects.get(channel="room-2").uid, "position": 1}, "data": 1}),
        ],
        key=str,
    )


def test_a_rolled_back_event_gives_its_position_back(mode: str) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        pushbridge.trigger("room-1", "e", "lost")
        raise Rollback
    pushbridge.trigger("room-1", "e", "kept")
    [(channel, data)] = received(1)
    assert (channel, data["pushbridge"]["position"], data["data"]) == ("room-1", 1, "kept")


def test_history_events_cannot_leave_before_the_commit() -> None:
    with alias("sync"), transaction.atomic(), pytest.raises(ValidationError, match="leave after the commit"):
        pushbridge.trigger("room-1", "e", 1, on_commit=False)


def test_auto_push_on_a_history_channel_is_wrapped(mode: str) -> None:
    ann = User.objects.create(username="ann")
    room = Room.objects.create(name="r")
    with transaction.atomic():
        message = Message.objects.create(room=room, author=ann, text="a")
        message.text = "b"
        message.save()
        with pytest.raises(Rollback), transaction.atomic():
            message.text = "rolled back"
            message.save()
            raise Rollback
    [(channel, data)] = received(1)
    assert channel == f"room-{room.pk}"
    assert data["pushbridge"]["position"] == 1
    assert data["data"] == {"id": message.pk, "text": "b", "author.username": "ann"}
    assert StoredEvent.objects.count() == 1


# -- the endpoint ---------------------------------------------------------------------------------


def history(client: Client, channel: str, since: Any = 0) -> Any:
    return client.get("/pushbridge/history/", {"channel": channel, "since": since})


def test_the_endpoint_returns_what_came_after_a_position() -> None:
    with alias("sync"):
        for text in ("a", "b", "c"):
            pushbridge.trigger("room-1", "say", {"text": text})
        reply = history(Client(), "room-1", 1)
    assert reply.status_code == 200
    body = reply.json()
    uids = dict(StoredEvent.objects.values_list("position", "uid"))
    assert body == {
        "channel": "room-1",
        "position": 3,
        "resync": False,
        "events": [
            {"id": uids[2], "position": 2, "event": "say", "data": {"text": "b"}},
            {"id": uids[3], "position": 3, "event": "say", "data": {"text": "c"}},
        ],
    }


@override_settings(PUSHBRIDGE_RELAY_IN_PROCESS=False)  # this test's purge, not the relay thread's
def test_a_reader_behind_the_window_or_ahead_must_resync() -> None:
    with alias("sync"):
        for text in ("a", "b"):
            pushbridge.trigger("room-1", "say", text)
        StoredEvent.objects.filter(position=1).update(created_at=timezone.now() - timedelta(seconds=301))
        assert Relay().purge() == 1
        behind, current, ahead = (history(Client(), "room-1", since).json() for since in (0, 1, 9))
    assert behind == {"channel": "room-1", "position": 2, "resync": True, "events": []}
    assert current["resync"] is False
    assert [e["data"] for e in current["events"]] == ["b"]
    assert ahead["resync"] is True


def test_private_history_asks_the_channel_callbacks() -> None:
    ann = User.objects.create_user("ann", password="pw")
    bob = User.objects.create_user("bob", password="pw")
    with alias("sync"):
        pushbridge.trigger(f"private-user.{ann.pk}", "note", "for ann")
        pushbridge.send_to_user(ann.pk, "note", "for ann alone")
        client = Client()
        assert history(client, f"private-user.{ann.pk}").status_code == 403  # anonymous
        client.force_login(bob)
        refused = history(client, f"private-user.{ann.pk}")
        assert refused.status_code == 403
        assert "error" in refused.json()
        assert history(client, f"#server-to-user-{ann.pk}").status_code == 403
        client.force_login(ann)
        allowed = history(client, f"private-user.{ann.pk}")
        own = history(client, f"#server-to-user-{ann.pk}")
    assert [e["data"] for e in allowed.json()["events"]] == ["for ann"]
    assert [e["data"] for e in own.json()["events"]] == ["for ann alone"]


def test_bad_requests_are_named() -> None:
    with alias("sync"):
        assert history(Client(), "lobby").status_code == 404
        assert "has no history" in history(Client(), "lobby").json()["error"]
        assert history(Client(), "room-1", "x").status_code == 400
        assert history(Client(), "room-1", -1).status_code == 400
        assert history(Client(), "bad channel!").status_code == 400


def test_the_page_knows_the_endpoint_and_the_render_time_position() -> None:
    with alias("sync"):
        pushbridge.trigger("room-7", "e", 1)
        pushbridge.trigger("room-7", "e", 2)
        options = client_config(RequestFactory().get("/"))
        rendered = Template('{% load pushbridge %}{% pushbridge_position "room-7" %}').render(Context())
        untouched = Template('{% load pushbridge %}{% pushbridge_position "room-8" %}').render(Context())
    assert options["historyEndpoint"] == "/pushbridge/history/"
    assert rendered == "2"
    assert untouched == "0"
