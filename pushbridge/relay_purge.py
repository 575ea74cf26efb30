"""Purging: sent rows are kept for their alias's history window, failed ones for a week.

Deleting a channel's rows first raises its ``purged_through`` past their positions, so that a
history reader asking for positions that are gone learns it must resync.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from pushbridge.conf import get_config
from pushbridge.errors import PushbridgeError
from pushbridge.models import ChannelCounter, RelayLease, StoredEvent
from pushbridge.relay_lease import LEASE

#: Failed rows are kept this long for inspection on the admin page.
FAILED_KEEP = timedelta(days=7)
#: History window of rows whose alias is no longer configured.
DEFAULT_KEEP_SECONDS = 300


def purge(database: str, now: datetime | None = None) -> int:
    """Delete the rows of ``database`` that are past keeping; return how many."""
    now = now or timezone.now()
    rows = StoredEvent.objects.using(database)
    deleted = 0
    done = rows.filter(status__in=(StoredEvent.SENT, StoredEvent.DIRECT))
    # order_by(): else the model's ordering adds "id" to the DISTINCT: one "alias" per row
    for alias in done.values_list("alias", flat=True).order_by().distinct():
        try:
            seconds = get_config(alias).history_seconds
        except PushbridgeError:
            seconds = DEFAULT_KEEP_SECONDS
        old = rows.filter(
            alias=alias,
            status__in=(StoredEvent.SENT, StoredEvent.DIRECT),
            created_at__lt=now - timedelta(seconds=seconds),
        )
        deleted += _delete_remembering_positions(database, old)
    deleted += _delete_remembering_positions(
        database, rows.filter(status=StoredEvent.FAILED, created_at__lt=now - FAILED_KEEP)
    )
    return deleted


def _delete_remembering_positions(database: str, old: QuerySet[StoredEvent]) -> int:
    """Delete rows, first raising each channel's ``purged_through`` past their positions.

    The transaction writes before it reads: on SQLite a transaction that reads first and
    then writes can be refused at once ("database is locked") when another writer commits.
    """
    RelayLease.objects.using(database).get_or_create(name=LEASE)
    with transaction.atomic(using=database):
        RelayLease.objects.using(database).filter(name=LEASE).update(expires_at=F("expires_at"))
        tops = old.exclude(channel="").order_by().values("channel").annotate(top=Max("position"))
        for item in tops:
            ChannelCounter.objects.using(database).filter(
                channel=item["channel"], purged_through__lt=item["top"]
            ).update(purged_through=item["top"])
        deleted, _ = old.delete()
    return int(deleted)
