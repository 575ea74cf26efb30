"""Per-channel positions: 1, 2, 3... in the order the events' transactions commit.

A position is taken by incrementing the channel's counter row inside the writer's transaction.
The increment locks that row until the transaction ends, so a second transaction writing to the
same channel waits at its own increment until the first has committed (or rolled back, handing
back its number): positions on one channel are given in commit order, and a position never
belongs to a rolled-back event.

* PostgreSQL: the ``UPDATE`` takes a row lock held to commit; under READ COMMITTED the waiting
  ``UPDATE`` then re-reads the committed value. The first event of a channel inserts the row;
  two first events at once meet on the primary key, and the loser (inside a savepoint) takes
  the ``UPDATE`` path.
* SQLite: any write takes the database's single write lock until commit, which orders all
  writers, so the same holds trivially (and writers of different channels wait for each other
  too, as they do anyway on SQLite).

Only rows of channels with history hold a position (see :mod:`pushbridge.history`).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from pushbridge.models import ChannelCounter


def next_position(channel: str, database: str) -> int:
    """Take the next position of ``channel`` in the current transaction of ``database``."""
    counters = ChannelCounter.objects.using(database)
    if not counters.filter(channel=channel).update(position=F("position") + 1):
        try:
            with transaction.atomic(using=database):
                counters.create(channel=channel, position=1)
            return 1
        except IntegrityError:  # another transaction created it first and has committed
            counters.filter(channel=channel).update(position=F("position") + 1)
    return int(counters.values_list("position", flat=True).get(channel=channel))


def current_position(channel: str, database: str) -> int:
    """The last committed position of ``channel`` (0 when it never had an event)."""
    value = ChannelCounter.objects.using(database).filter(channel=channel).values_list("position", flat=True).first()
    return int(value or 0)
