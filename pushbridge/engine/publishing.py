"""Publishing an event from the server side (the HTTP API): encode its frame once, cache it, fan it out."""

from __future__ import annotations

from collections.abc import Sequence

from pushbridge.engine.bus import Bus
from pushbridge.engine.cache import CacheChannels
from pushbridge.engine.codec import encode
from pushbridge.engine.outputs import Output
from pushbridge.engine.state import AppState
from pushbridge.limits import is_cache_channel


class Publisher:
    """Turns a validated event into one frame per channel and hands each to the bus."""

    def __init__(self, bus: Bus, cache: CacheChannels) -> None:
        self._bus = bus
        self._cache = cache

    def publish(
        self, state: AppState, channels: Sequence[str], event: str, data: str, socket_id: str | None
    ) -> list[Output]:
        """Deliver one event to ``channels``, except to the connection ``socket_id`` (Pusher's ``socket_id``)."""
        outputs: list[Output] = []
        for name in channels:
            frame = encode({"event": event, "channel": name, "data": data})
            if is_cache_channel(name):
                self._cache.store(state, name, frame, data)
            outputs += self._bus.publish(state, name, frame, socket_id)
        return outputs
