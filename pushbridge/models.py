"""pushbridge's own tables: stored events, per-channel position counters, the relay's lease.

They exist for ``"DISPATCH": "durable"`` (every event is a row written in the caller's
transaction, sent by a relay) and for channels with history (rows are kept for the window and
served by the history endpoint). Nothing else in pushbridge needs a database.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeAlias

from django.db import models
from django.utils import timezone

MaybeTime: TypeAlias = "models.DateTimeField[datetime | None, datetime | None]"


def new_uid() -> str:
    """A stable event id: what receivers compare to drop a duplicate delivery."""
    return uuid.uuid4().hex


class StoredEvent(models.Model):
    """One event as committed with the data it describes."""

    #: Waiting for a relay (durable mode).
    PENDING = "pending"
    #: A relay had it accepted by the service.
    SENT = "sent"
    #: Refused by the service, or retried until the retries ran out; never sent.
    FAILED = "failed"
    #: Sent by the committing process itself (sync/background mode); kept for history only.
    DIRECT = "direct"
    STATUSES = [(PENDING, "pending"), (SENT, "sent"), (FAILED, "failed"), (DIRECT, "sent by the caller")]

    #: 122 random bits: unique without a unique index, which no query reads and which every
    #: insert paid for (a random place in a b-tree: a page written per commit).
    uid: models.CharField[str, str] = models.CharField(max_length=32, default=new_uid, editable=False)
    alias: models.CharField[str, str] = models.CharField(max_length=100, default="default")
    channels: models.JSONField[list[str], list[str]] = models.JSONField(help_text="Channel names the event goes to.")
    #: The history channel of this row (one per row), or empty.
    channel: models.CharField[str, str] = models.CharField(max_length=200, blank=True, default="")
    position: models.BigIntegerField[int | None, int | None] = models.BigIntegerField(null=True, blank=True)
    name: models.CharField[str, str] = models.CharField(max_length=200)
    data: models.TextField[str, str] = models.TextField(
        help_text="The encoded data, as the caller gave it (before any envelope)."
    )
    socket_id: models.CharField[str, str] = models.CharField(max_length=50, blank=True, default="")
    status: models.CharField[str, str] = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(default=0)
    next_attempt_at: MaybeTime = models.DateTimeField(null=True, blank=True)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(default=timezone.now)
    sent_at: MaybeTime = models.DateTimeField(null=True, blank=True)
    error: models.TextField[str, str] = models.TextField(blank=True, default="")

    class Meta:
        # Each index has its reader, and each costs every insert a b-tree write:
        # status+id: the relay's due rows (pending, in id order); created_at: purging.
        indexes = [
            models.Index(fields=["status", "id"], name="pushbridge_status_id"),
            models.Index(fields=["created_at"], name="pushbridge_created_at"),
        ]
        constraints = [
            # Also the index of history reads (channel = X and position > N implies a position);
            # rows without a position (durable rows of channels without history) stay out of it.
            models.UniqueConstraint(
                fields=["channel", "position"],
                condition=models.Q(position__isnull=False),
                name="pushbridge_one_event_per_position",
            )
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        where = f"{self.channel}#{self.position}" if self.position is not None else ",".join(self.channels)
        return f"{self.name} on {where} ({self.status})"


class ChannelCounter(models.Model):
    """The last position given on a history channel; its row lock orders concurrent writers."""

    channel: models.CharField[str, str] = models.CharField(max_length=200, primary_key=True)
    position: models.BigIntegerField[int, int] = models.BigIntegerField(default=0)
    #: The highest position purged: a reader behind it must resync.
    purged_through: models.BigIntegerField[int, int] = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.channel} at {self.position}"


class RelayLease(models.Model):
    """One row that relays take turns on, so that one sends at a time (see pushbridge.relay)."""

    name: models.CharField[str, str] = models.CharField(max_length=100, primary_key=True)
    owner: models.CharField[str, str] = models.CharField(max_length=200, blank=True, default="")
    expires_at: MaybeTime = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.owner or 'free'}"
