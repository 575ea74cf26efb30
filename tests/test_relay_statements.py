"""The relay's prepared UPDATEs store what the ORM would, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pushbridge.models import RelayLease, StoredEvent
from pushbridge.relay_statements import claim_lease, mark_rows, release_lease

pytestmark = pytest.mark.django_db(databases=["default", "postgres"], transaction=True)

DATABASES = ["default", "postgres"]


@pytest.mark.parametrize("database", DATABASES)
def test_a_lease_is_claimed_when_free_own_or_expired_and_released_by_its_owner_only(database: str) -> None:
    leases = RelayLease.objects.using(database)
    now = timezone.now()
    later = now + timedelta(seconds=60)
    leases.create(name="relay")  # a fresh row: no owner, no expiry
    assert claim_lease(database, "relay", "a", now=now, until=later)
    assert claim_lease(database, "relay", "a", now=now, until=later)  # its own: renewed
    assert not claim_lease(database, "relay", "b", now=now, until=later)  # held and not expired
    assert leases.get().owner == "a"
    assert leases.get().expires_at == later  # stored as the ORM stores it: read back equal
    release_lease(database, "relay", "b")  # not b's to give back
    assert leases.get().owner == "a"
    assert claim_lease(database, "relay", "b", now=later + timedelta(seconds=1), until=later)  # expired
    assert leases.get().owner == "b"
    release_lease(database, "relay", "b")
    assert leases.get().owner == ""
    assert not claim_lease(database, "other", "b", now=now, until=later)  # no such lease row


@pytest.mark.parametrize("database", DATABASES)
def test_marks_set_the_fields_of_the_named_rows_only(database: str) -> None:
    rows = StoredEvent.objects.using(database)
    made = [rows.create(channels=["c"], name="e", data=str(number)) for number in range(4)]
    sent_at = timezone.now()
    mark_rows(database, [made[0].pk, made[2].pk], {"status": StoredEvent.SENT, "sent_at": sent_at, "error": ""})
    retry_at = sent_at + timedelta(seconds=2)
    mark_rows(database, [made[1].pk], {"attempts": 3, "next_attempt_at": retry_at, "error": "503 from the service"})
    mark_rows(database, [], {"status": StoredEvent.FAILED})  # nothing to mark: no statement
    found = {row.pk: row for row in rows.all()}
    assert [(found[row.pk].status, found[row.pk].sent_at) for row in made] == [
        (StoredEvent.SENT, sent_at),
        (StoredEvent.PENDING, None),
        (StoredEvent.SENT, sent_at),
        (StoredEvent.PENDING, None),
    ]
    assert (found[made[1].pk].attempts, found[made[1].pk].next_attempt_at) == (3, retry_at)
    assert found[made[1].pk].error == "503 from the service"
    assert found[made[3].pk].attempts == 0
