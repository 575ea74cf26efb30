"""Reading a channel's history: the events after a position, or "resync" when they are gone.

The answer is what the history endpoint returns (``pushbridge:history``)::

    {"channel": NAME, "position": LATEST, "resync": false,
     "events": [{"id": "<hex>", "position": 8, "event": "show-message", "data": VALUE}, ...]}

``resync`` is true (and ``events`` empty) when the reader is behind the kept window (events it
needs were purged), ahead of the channel (its position was never given, e.g. after the table
was reset), or so far behind that more than ``MAX_EVENTS`` would be due: in each case replaying
cannot make it whole, and the page should reload its state.
"""

from __future__ import annotations

from typing import Any

from pushbridge.events import decode_data
from pushbridge.models import ChannelCounter, StoredEvent

#: At most this many events are replayed in one answer; a reader further behind resyncs.
MAX_EVENTS = 1000


def read(channel: str, since: int, database: str) -> dict[str, Any]:
    """The events of ``channel`` after position ``since``, in position order."""
    counter = ChannelCounter.objects.using(database).filter(channel=channel).first()
    latest = counter.position if counter else 0
    purged_through = counter.purged_through if counter else 0
    answer: dict[str, Any] = {"channel": channel, "position": latest, "resync": False, "events": []}
    if since < purged_through or since > latest:
        answer["resync"] = True
        return answer
    rows = (
        StoredEvent.objects.using(database)
        .filter(channel=channel, position__gt=since)
        .order_by("position")
        .values_list("uid", "position", "name", "data")[: MAX_EVENTS + 1]
    )
    events = [
        {"id": uid, "position": position, "event": name, "data": decode_data(data)}
        for uid, position, name, data in rows
    ]
    if len(events) > MAX_EVENTS:
        answer["resync"] = True
        return answer
    answer["events"] = events
    return answer
