"""Relays take turns on one lease row, so that one relay sends at a time.

One sender at a time is what keeps events in order per channel (two relays sending different
batches at once could deliver a channel's later event first) and sends each row once in the
normal case; see :mod:`pushbridge.relay` for what each database guarantees.

* With ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL): a turn is a transaction holding the
  row's lock; another relay finding it locked skips its turn at once, and a relay that crashes
  loses the lock with its connection.
* Without row locks (SQLite): a turn is claimed by an ``UPDATE`` of the row (owner and an
  expiry ``LEASE_SECONDS`` ahead) and released by another; a crashed relay's claim expires.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connections, transaction
from django.utils import timezone

from pushbridge.models import RelayLease
from pushbridge.relay_statements import claim_lease, release_lease

LEASE = "relay"
#: A SQLite relay's claim lasts this long unless renewed by its next turn.
LEASE_SECONDS = 60.0


class Lease:
    """One relay's hold on the lease row of ``database``, as ``owner``."""

    def __init__(self, database: str, owner: str) -> None:
        self.database = database
        self.owner = owner
        #: A SQLite claim is held and must be released (by :meth:`release`, or at the end of the turn).
        self.holding = False

    @contextmanager
    def turn(self) -> Iterator[bool]:
        """Whether this relay has the turn; on PostgreSQL, the body runs in the turn's transaction."""
        connection = connections[self.database]
        if connection.features.has_select_for_update_skip_locked:
            with transaction.atomic(using=self.database):
                mine = self._lock()
                if not mine and self._make():
                    mine = self._lock()
                yield mine
            return
        claimed = self._extend()
        if not claimed and self._make():
            claimed = self._extend()
        self.holding = claimed
        try:
            yield bool(claimed)
        finally:
            if self.holding:  # not released with the turn's marks (an idle turn, or an error)
                self.release()

    def release(self) -> None:
        """SQLite: give the turn back (best inside the transaction that records the turn)."""
        release_lease(self.database, LEASE, self.owner)
        self.holding = False

    def _lock(self) -> bool:
        """PostgreSQL: lock the lease row for this transaction, or learn at once that it is taken."""
        leases = RelayLease.objects.using(self.database).select_for_update(skip_locked=True)
        return bool(list(leases.filter(name=LEASE).values_list("name", flat=True)))

    def _extend(self) -> bool:
        """SQLite: take the lease if it is free, ours, or expired."""
        now = timezone.now()
        return claim_lease(self.database, LEASE, self.owner, now=now, until=now + timedelta(seconds=LEASE_SECONDS))

    def _make(self) -> bool:
        """Create the lease row if it is missing (a fresh or flushed table); True if it was."""
        _, created = RelayLease.objects.using(self.database).get_or_create(name=LEASE)
        return created
