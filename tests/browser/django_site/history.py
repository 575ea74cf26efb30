"""A stand-in for pushbridge's history (issue 9) that follows the helpers' contract to the letter.

Events published through ``/publish/`` get a per-channel position and a stable id, travel as the
envelope ``{"pushbridge": {"id", "position"}, "data": value}``, and are kept, the last
``HISTORY_WINDOW`` per channel, for ``GET /history/?channel=NAME&since=N``. Channels whose name
contains ``hist`` have history; the others answer 404. Lets the shim's recovery be tested before
the durable history lands, and keeps being useful to drive exact scenarios (withheld events).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings


@dataclass
class ChannelHistory:
    position: int = 0
    #: Everything at or below this position has been dropped from the window.
    dropped_upto: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)


_lock = threading.Lock()
_channels: dict[str, ChannelHistory] = {}
#: Seconds the history view waits after reading the window and before answering, so a test can
#: publish live events while a page's fetch is in flight.
reply_delay = 0.0


def has_history(channel: str) -> bool:
    return "hist" in channel


def record(channel: str, event: str, data: Any) -> dict[str, Any]:
    """Give the event its position and id, keep it in the window; return it in history form."""
    with _lock:
        history = _channels.setdefault(channel, ChannelHistory())
        history.position += 1
        entry = {"id": uuid.uuid4().hex, "position": history.position, "event": event, "data": data}
        history.events.append(entry)
        while len(history.events) > settings.HISTORY_WINDOW:
            history.dropped_upto = history.events.pop(0)["position"]
        return entry


def envelope(entry: dict[str, Any]) -> dict[str, Any]:
    return {"pushbridge": {"id": entry["id"], "position": entry["position"]}, "data": entry["data"]}


def since(channel: str, position: int) -> dict[str, Any]:
    """The history reply for ``channel`` after ``position``."""
    with _lock:
        history = _channels.get(channel, ChannelHistory())
        if position < history.dropped_upto:
            return {"channel": channel, "position": history.position, "resync": True, "events": []}
        events = [dict(entry) for entry in history.events if entry["position"] > position]
        return {"channel": channel, "position": history.position, "resync": False, "events": events}


def get(channel: str, event_id: str) -> dict[str, Any]:
    with _lock:
        return next(entry for entry in _channels[channel].events if entry["id"] == event_id)


def latest(channel: str) -> int:
    with _lock:
        return _channels.get(channel, ChannelHistory()).position
