"""``"DISPATCH": "durable"`` on SQLite: rows in the caller's transaction, a relay that sends them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from pytest_httpserver import HTTPServer

import pushbridge
import pushbridge.signals
from pushbridge import relay as relay_module
from pushbridge.models import ChannelCounter, RelayLease, StoredEvent
from pushbridge.relay import Relay
from tests.http_service import refused_port
from tests.testapp.models import Message, Room

pytestmark = pytest.mark.django_db(transaction=True)

SOKETI = "/apps/app-id"


class Rollback(Exception):
    pass


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.01)


@pytest.fixture
def durable() -> Iterator[None]:
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "memory", "DISPATCH": "durable"}}):
        yield


def relayed_to(port: int) -> override_settings:
    entry = {"BACKEND": "soketi", "PORT": port, "DISPATCH": "durable", "OPTIONS": {"retry_backoff": 0.001}}
    return override_settings(PUSHBRIDGE={"default": entry}, PUSHBRIDGE_RELAY_IN_PROCESS=False)


@pytest.fixture
def api(api_server: HTTPServer) -> HTTPServer:
    return api_server


@pytest.fixture
def manual_relay(api_server: HTTPServer) -> Iterator[Relay]:
    """No in-process relay: the test takes the turns itself, against a Soketi-like API (``api``)."""
    with relayed_to(api_server.port):
        yield Relay()


@pytest.fixture
def failures() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: str, **kwargs: Any) -> None:
        seen.append(kwargs)

    pushbridge.signals.dispatch_failed.connect(receiver)
    yield seen
    pushbridge.signals.dispatch_failed.disconnect(receiver)


def delivered() -> list[tuple[str, str, Any]]:
    return [(e.channel, e.event, e.data) for e in pushbridge.outbox]


def test_a_rolled_back_transaction_leaves_no_event(durable: None) -> None:
    with pytest.raises(Rollback), transaction.atomic():
        pushbridge.trigger("orders", "paid", {"id": 1})
        assert StoredEvent.objects.count() == 1  # written in the caller's transaction
        raise Rollback
    assert StoredEvent.objects.count() == 0
    pushbridge.trigger("orders", "after", 2)  # a later commit wakes the relay: still nothing of the first
    wait_for(lambda: len(pushbridge.outbox) == 1)
    assert delivered() == [("orders", "after", 2)]


def test_committed_events_are_relayed_in_order(durable: None) -> None:
    with transaction.atomic():
        for i in range(25):
            pushbridge.trigger(f"c{i % 2}", "e", i)
        pushbridge.trigger_batch([pushbridge.Event(["x", "y"], "multi", "m")])
        pushbridge.send_to_user(5, "note", "hi")
        assert pushbridge.outbox == []
    wait_for(lambda: len(pushbridge.outbox) == 28)
    for channel in ("c0", "c1"):
        assert [e.data for e in pushbridge.outbox if e.channel == channel] == list(range(channel == "c1", 25, 2))
    assert [e.channel for e in pushbridge.outbox][-3:] == ["x", "y", "#server-to-user-5"]
    wait_for(lambda: set(StoredEvent.objects.values_list("status", flat=True)) == {StoredEvent.SENT})
    assert len(set(StoredEvent.objects.values_list("uid", flat=True))) == 27  # a stable id per event


def test_the_relay_batches_and_retries_honouring_the_policy(manual_relay: Relay, api: HTTPServer) -> None:
    with transaction.atomic():
        for i in range(12):
            pushbridge.trigger("c", "e", i)
    api.expect_oneshot_request(f"{SOKETI}/batch_events").respond_with_json({"error": "restarting"}, status=503)
    turn = manual_relay.turn()
    assert turn.wait is not None
    assert turn.sent == 0
    assert set(StoredEvent.objects.values_list("attempts", "status")) == {(1, "pending"), (0, "pending")}
    StoredEvent.objects.filter(attempts=1).update(next_attempt_at=timezone.now() + timedelta(seconds=60))
    early = manual_relay.turn()
    assert early.wait is not None
    assert early.wait > 50
    assert len(api.log) == 1
    StoredEvent.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    api.expect_request(f"{SOKETI}/batch_events").respond_with_json({})
    assert manual_relay.turn().sent == 12
    sizes = [len(json.loads(request.get_data())["batch"]) for request, _ in api.log[1:]]
    assert sizes == [10, 2]
    assert set(StoredEvent.objects.values_list("status", flat=True)) == {"sent"}


def test_a_refused_event_is_failed_announced_and_does_not_block_the_rest(
    manual_relay: Relay, failures: list[dict[str, Any]], api: HTTPServer
) -> None:
    pushbridge.trigger(["a", "b"], "e", 1)  # alone in an /events request
    pushbridge.trigger("c", "e", 2)
    api.expect_ordered_request(f"{SOKETI}/events").respond_with_json({"error": "too large"}, status=413)
    api.expect_ordered_request(f"{SOKETI}/events").respond_with_json({})
    assert manual_relay.turn().failed == 1
    assert len(api.log) == 2
    assert list(StoredEvent.objects.values_list("status", flat=True)) == ["failed", "sent"]
    assert "too large" in StoredEvent.objects.get(status="failed").error
    assert len(failures) == 1
    assert failures[0]["events"][0].channels == ("a", "b")


def test_retries_run_out_into_failed(failures: list[dict[str, Any]]) -> None:
    with relayed_to(refused_port()):  # the service is down
        pushbridge.trigger("c", "e", 1)
        StoredEvent.objects.update(attempts=20)
        assert Relay().turn().failed == 1
    assert "Could not connect" in StoredEvent.objects.get().error
    assert StoredEvent.objects.get().status == "failed"
    assert len(failures) == 1


def test_one_relay_at_a_time_on_sqlite(manual_relay: Relay, api: HTTPServer) -> None:
    pushbridge.trigger("c", "e", 1)
    other = Relay()
    with manual_relay.lease.turn() as mine:
        assert mine
        assert other.turn().busy  # the lease is taken: no second sender, no double send
    api.expect_request(f"{SOKETI}/events").respond_with_json({})
    assert other.turn().sent == 1
    assert len(api.log) == 1


def test_an_expired_lease_is_taken_over(manual_relay: Relay, api: HTTPServer) -> None:
    """A relay that died mid-turn on SQLite: its lease runs out and another relay goes on."""
    pushbridge.trigger("c", "e", 1)
    RelayLease.objects.update_or_create(
        name="relay", defaults={"owner": "dead", "expires_at": timezone.now() - timedelta(seconds=1)}
    )
    api.expect_request(f"{SOKETI}/events").respond_with_json({})
    assert manual_relay.turn().sent == 1


def test_sent_rows_are_purged_after_the_window(manual_relay: Relay) -> None:
    with override_settings(
        PUSHBRIDGE={
            "default": {"BACKEND": "memory", "DISPATCH": "durable", "HISTORY": {"channels": ["h-*"], "seconds": 60}}
        }
    ):
        pushbridge.trigger("h-1", "e", 1)
        pushbridge.trigger("h-1", "e", 2)
        pushbridge.trigger("plain", "e", 3)
        assert manual_relay.turn().sent == 3
        StoredEvent.objects.filter(position=1).update(created_at=timezone.now() - timedelta(seconds=61))
        assert manual_relay.purge() == 1
    assert list(StoredEvent.objects.values_list("position", flat=True).order_by("id")) == [2, None]
    assert ChannelCounter.objects.get(channel="h-1").purged_through == 1


def test_purging_many_rows_takes_a_few_queries_not_one_per_row(manual_relay: Relay) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    pushbridge.trigger_batch([pushbridge.Event("c", "e", i) for i in range(30)])
    StoredEvent.objects.update(status="sent", created_at=timezone.now() - timedelta(days=1))
    with CaptureQueriesContext(connection) as queries:
        assert manual_relay.purge() == 30
    assert len(queries) < 25  # was one purge transaction per row (190 queries here)


def test_failed_rows_are_kept_a_week(manual_relay: Relay) -> None:
    pushbridge.trigger("c", "old", 1)
    pushbridge.trigger("c", "recent", 1)
    StoredEvent.objects.update(status="failed")
    StoredEvent.objects.filter(name="old").update(created_at=timezone.now() - timedelta(days=8))
    StoredEvent.objects.filter(name="recent").update(created_at=timezone.now() - timedelta(days=6))
    assert manual_relay.purge() == 1
    assert list(StoredEvent.objects.values_list("name", flat=True)) == ["recent"]


def test_pending_rows_are_never_purged(manual_relay: Relay) -> None:
    pushbridge.trigger("c", "e", 1)
    StoredEvent.objects.update(created_at=timezone.now() - timedelta(days=30))
    assert manual_relay.purge() == 0


def test_the_relay_command_sends_what_is_due(manual_relay: Relay, api: HTTPServer) -> None:
    pushbridge.trigger("c", "e", 1)
    api.expect_request(f"{SOKETI}/events").respond_with_json({})
    call_command("pushbridge_relay", "--once")
    assert len(api.log) == 1
    assert StoredEvent.objects.get().status == "sent"


# -- model auto-push ------------------------------------------------------------------------------


@pytest.fixture
def author(django_user_model: Any) -> Any:
    return django_user_model.objects.create(username="ann")


def stored() -> list[tuple[str, Any]]:
    return [(row.name, pushbridge.events.decode_data(row.data)) for row in StoredEvent.objects.order_by("id")]


def test_auto_push_writes_one_final_state_per_row(manual_relay: Relay, author: Any) -> None:
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "memory", "DISPATCH": "durable"}}):
        room = Room.objects.create(name="r")
        with transaction.atomic():
            message = Message.objects.create(room=room, author=author, text="a")
            message.text = "b"
            message.save()
            with pytest.raises(Rollback), transaction.atomic():
                message.text = "rolled back"
                message.save()
                raise Rollback
            gone = Message.objects.create(room=room, author=author, text="created and deleted")
            gone.delete()
        assert stored() == [("show-message", {"id": message.pk, "text": "b", "author.username": "ann"})]
        with pytest.raises(Rollback), transaction.atomic():
            Message.objects.create(room=room, author=author, text="never")
            raise Rollback
        assert len(stored()) == 1
        message.delete()  # autocommit: written right after the delete commits
        assert [name for name, _ in stored()] == ["show-message", "remove-message"]
        manual_relay.turn()
    assert [(e.channel, e.event) for e in pushbridge.outbox] == [
        (f"room-{room.pk}", "show-message"),
        (f"room-{room.pk}", "remove-message"),
    ]


def test_in_process_relay_is_woken_by_the_commit(durable: None, author: Any) -> None:
    room = Room.objects.create(name="r")
    with transaction.atomic():
        Message.objects.create(room=room, author=author, text="hi")
    wait_for(lambda: len(pushbridge.outbox) == 1)
    assert pushbridge.outbox[0].data["text"] == "hi"


def test_a_relay_thread_stops_when_asked() -> None:
    stop = threading.Event()
    relay = Relay()
    thread = threading.Thread(target=relay.run, args=(stop, 0.05))
    thread.start()
    stop.set()
    relay.wake()
    thread.join(10)
    assert not thread.is_alive()


def test_the_admin_page_lists_pending_and_failed_events_and_sends_again(manual_relay: Relay) -> None:
    from django.conf import settings
    from django.contrib.admin.sites import AdminSite
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.test import RequestFactory

    with override_settings(
        INSTALLED_APPS=["django.contrib.admin", "django.contrib.messages", *settings.INSTALLED_APPS]
    ):
        from pushbridge.admin import StoredEventAdmin

    for name in ("sent", "pending", "failed"):
        pushbridge.trigger("c", name, 1)
    StoredEvent.objects.filter(name="sent").update(status="sent")
    StoredEvent.objects.filter(name="failed").update(status="failed", attempts=21, error="HTTP 413")
    page = StoredEventAdmin(StoredEvent, AdminSite())
    request = RequestFactory().get("/")
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]
    listed = page.get_queryset(request)
    assert sorted(listed.values_list("name", flat=True)) == ["failed", "pending"]
    page.send_again(request, listed)
    assert StoredEvent.objects.get(name="failed").status == "pending"
    assert StoredEvent.objects.get(name="failed").attempts == 0


# -- what a durable write costs the caller ------------------------------------------------------


def test_a_durable_trigger_joins_the_transaction_without_a_savepoint(manual_relay: Relay) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        pushbridge.trigger("c", "e", 1)
        Room.objects.create(name="r")
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert "SAVEPOINT" not in statements
    assert StoredEvent.objects.get().status == StoredEvent.PENDING


def test_a_failed_event_write_dooms_the_callers_transaction(
    manual_relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller cannot catch the error and commit without the event."""
    from django.db import DatabaseError
    from django.db.transaction import TransactionManagementError

    from pushbridge.dispatch import durable

    def refuse(rows: Any, database: str) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(durable, "insert_rows", refuse)
    with pytest.raises(TransactionManagementError), transaction.atomic():
        Room.objects.create(name="kept only with its event")
        with pytest.raises(DatabaseError):
            pushbridge.trigger("c", "e", 1)
        Room.objects.create(name="refused")
    assert not Room.objects.exists()


def test_rows_inserted_together_get_their_ids_in_order(manual_relay: Relay) -> None:
    from pushbridge.dispatch.inserts import insert_rows

    when = timezone.now() - timedelta(minutes=1)
    rows = [
        StoredEvent(alias="default", channels=["a", f"b{i}"], name=f"e{i}", data=str(i), created_at=when)
        for i in range(3)
    ]
    insert_rows(rows, "default")
    assert [row.pk for row in rows] == sorted(row.pk for row in rows)
    for row in rows:
        stored = StoredEvent.objects.get(pk=row.pk)
        assert (stored.name, stored.channels, stored.data, stored.uid) == (row.name, row.channels, row.data, row.uid)
        assert (stored.status, stored.attempts, stored.created_at) == (StoredEvent.PENDING, 0, when)


class Stop:
    """A stop event that records how long the relay chose to sleep instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return False


def test_the_relay_lingers_only_while_commits_come_fast() -> None:
    relay, stop = Relay(), Stop()
    relay.wake()  # the first commit after a quiet time
    relay._linger(stop)  # type: ignore[arg-type]
    assert stop.waits == []
    relay._wake_gap = relay_module.LINGER_SECONDS / 3  # commits a millisecond apart
    relay.wake()
    relay._linger(stop)  # type: ignore[arg-type]
    assert stop.waits == [relay_module.LINGER_SECONDS * relay_module.LINGER_ROUNDS]
    relay._wake_gap = relay_module.LINGER_SECONDS * 2  # evenly spaced traffic never waits
    relay._linger(stop)  # type: ignore[arg-type]
    assert len(stop.waits) == 1


def test_a_sqlite_relay_relaxes_its_commits_only_in_wal_mode() -> None:
    """The test database is in rollback-journal mode, where synchronous=NORMAL could corrupt."""
    from django.db import connection

    relay = Relay()
    relay._relax_commits()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0].lower() != "wal"
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 2  # FULL, as it was


def test_a_sqlite_relay_in_wal_mode_commits_without_waiting_for_the_disk() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode = WAL")
        try:
            Relay()._relax_commits()  # on this thread's connection, the relay's here
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == 1  # NORMAL
        finally:
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA journal_mode = DELETE")


def test_history_reads_use_the_position_index() -> None:
    """The unique (channel, position) constraint is also the index history reads search."""
    from django.db import connection

    rows = StoredEvent.objects.filter(channel="room-1", position__gt=3).order_by("position")
    sql, params = rows.values_list("uid", "position", "name", "data").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(step[-1]) for step in cursor.fetchall())
    assert "USING INDEX pushbridge_one_event_per_position" in plan, plan
