"""Durable dispatch and history positions on a real PostgreSQL (tests/services starts it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.test import override_settings

import pushbridge
from pushbridge import relay as relay_module
from pushbridge.models import StoredEvent
from pushbridge.positions import next_position
from pushbridge.relay import Relay

PG = "postgres"
pytestmark = pytest.mark.django_db(databases=["default", PG], transaction=True)
HISTORY = {"channels": ["room-*"], "seconds": 300}


class Rollback(Exception):
    pass


@pytest.fixture
def on_postgres() -> Iterator[None]:
    entry = {"BACKEND": "memory", "DISPATCH": "durable", "HISTORY": HISTORY}
    with override_settings(PUSHBRIDGE_DATABASE=PG, PUSHBRIDGE={"default": entry}):
        yield
    relay_module.stop_in_process()


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.01)


def in_thread(target: Callable[[], Any]) -> threading.Thread:
    """Run ``target`` on a connection of its own (a second client of the database)."""

    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_only_committed_events_are_relayed(on_postgres: None) -> None:
    assert connections[PG].vendor == "postgresql"
    with pytest.raises(Rollback), transaction.atomic(using=PG):
        pushbridge.trigger("room-1", "e", "rolled back")
        raise Rollback
    with transaction.atomic(using=PG):
        for i in range(15):
            pushbridge.trigger("room-1", "e", i)
    wait_for(lambda: len(pushbridge.outbox) == 15)
    assert [e.data["pushbridge"]["position"] for e in pushbridge.outbox] == list(range(1, 16))
    assert [e.data["data"] for e in pushbridge.outbox] == list(range(15))
    # marked sent when the relay's turn commits, just after the service took them
    wait_for(lambda: StoredEvent.objects.using(PG).filter(status="sent").count() == 15)


def test_a_second_relay_skips_the_locked_lease(on_postgres: None) -> None:
    with override_settings(PUSHBRIDGE_RELAY_IN_PROCESS=False):
        pushbridge.trigger("room-1", "e", 1)
        holding, release = threading.Event(), threading.Event()

        def hold_the_turn() -> None:
            with Relay(PG).lease.turn() as mine:
                assert mine
                holding.set()
                release.wait(30)

        thread = in_thread(hold_the_turn)
        assert holding.wait(30)
        try:
            assert Relay(PG).turn().busy  # FOR UPDATE SKIP LOCKED: no wait, no second sender
        finally:
            release.set()
            thread.join(30)
        assert Relay(PG).turn().sent == 1
    assert len(pushbridge.outbox) == 1


def waiting_on_a_lock() -> int:
    with connections[PG].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        return int(cursor.fetchone()[0])


def test_positions_follow_commit_order_across_concurrent_transactions(on_postgres: None) -> None:
    """T1 takes a position first; T2 must wait at the counter until T1 commits, then gets the next."""
    committed: list[tuple[str, int]] = []
    first_has_position, second_waits = threading.Event(), threading.Event()

    def first() -> None:
        with transaction.atomic(using=PG):
            position = next_position("room-9", PG)
            first_has_position.set()
            assert second_waits.wait(30)
        committed.append(("first", position))

    def second() -> None:
        assert first_has_position.wait(30)
        with transaction.atomic(using=PG):
            position = next_position("room-9", PG)  # blocks on T1's row lock
        committed.append(("second", position))

    threads = [in_thread(first), in_thread(second)]
    wait_for(lambda: waiting_on_a_lock() >= 1)  # T2 is queued behind T1's lock
    second_waits.set()
    for thread in threads:
        thread.join(30)
    assert committed == [("first", 1), ("second", 2)]


def test_concurrent_first_events_of_a_channel_share_one_counter(on_postgres: None) -> None:
    """Two transactions create the same channel's counter at once: the second waits, then increments."""
    positions: list[int] = []
    release = threading.Event()

    def first() -> None:
        with transaction.atomic(using=PG):
            positions.append(next_position("room-new", PG))  # inserts the counter row, uncommitted
            assert release.wait(30)

    def second() -> None:
        with transaction.atomic(using=PG):
            positions.append(next_position("room-new", PG))  # meets the insert on the primary key

    threads = [in_thread(first)]
    wait_for(lambda: len(positions) == 1)
    threads.append(in_thread(second))
    wait_for(lambda: waiting_on_a_lock() >= 1)  # polled from here: a transaction sees a frozen view
    release.set()
    for thread in threads:
        thread.join(30)
    assert positions == [1, 2]


def test_the_relay_relaxes_its_own_commits_only(on_postgres: None) -> None:
    """Its bookkeeping may be lost in a crash (rows are sent again); the writers' events may not."""

    def setting(connection: Any) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return str(cursor.fetchone()[0])

    seen: dict[str, str] = {}

    def relay_thread() -> None:
        Relay(PG)._relax_commits()
        seen["relay"] = setting(connections[PG])

    in_thread(relay_thread).join(30)
    assert seen == {"relay": "off"}
    assert setting(connections[PG]) == "on"


def test_a_durable_event_costs_the_writer_one_statement(on_postgres: None) -> None:
    from django.test.utils import CaptureQueriesContext

    plain = {"default": {"BACKEND": "memory", "DISPATCH": "durable"}}  # no HISTORY: no position to take
    with (
        override_settings(PUSHBRIDGE=plain),
        CaptureQueriesContext(connections[PG]) as queries,
        transaction.atomic(using=PG),
    ):
        pushbridge.trigger("plain", "e", 1)
    assert [q["sql"].split()[0].upper() for q in queries.captured_queries] == ["BEGIN", "INSERT", "COMMIT"]
    row = StoredEvent.objects.using(PG).get()
    assert (row.channels, row.name, row.data, row.status) == (["plain"], "e", "1", StoredEvent.PENDING)


def test_history_reads_can_use_the_position_index(on_postgres: None) -> None:
    rows = StoredEvent.objects.using(PG).filter(channel="room-1", position__gt=3).order_by("position")
    sql, params = rows.values_list("uid", "position").query.sql_with_params()
    with transaction.atomic(using=PG), connections[PG].cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table is read whole otherwise
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " ".join(line for (line,) in cursor.fetchall())
    assert "pushbridge_one_event_per_position" in plan, plan
