"""Cache channels: the last event of each, replayed to new subscribers, and ``cache_miss``.

Pusher's cache channels (pusher.com/docs/channels/using_channels/cache-channels) keep their
last event for a while; a subscriber gets it at once, or ``pusher:cache_miss`` (and the app a
``cache_miss`` webhook, de-duplicated over a short window) when there is none.
"""

from __future__ import annotations

from collections.abc import Callable

from pushbridge.engine.codec import encode
from pushbridge.engine.outputs import Output, SendFrame, WebhookEvent
from pushbridge.engine.state import AppState, CachedEvent, Connection


class CacheChannels:
    """Stores, replays and expires the cached events of every app."""

    def __init__(self, clock: Callable[[], float], miss_window: float) -> None:
        self._clock = clock
        self.miss_window = miss_window

    def store(self, state: AppState, channel: str, frame: str, data: str) -> None:
        """Remember ``channel``'s latest event (its frame as sent, and its data for the API)."""
        state.cache[channel] = CachedEvent(frame, data, self._clock() + state.config.cache_ttl)

    def lookup(self, state: AppState, channel: str) -> tuple[str, int] | None:
        """The cached ``(data, seconds left)`` of ``channel``, or ``None`` if nothing is cached."""
        cached = state.cache.get(channel)
        now = self._clock()
        if cached is None or cached.expires <= now:
            return None
        return cached.data, int(cached.expires - now)

    def replay(self, conn: Connection, channel: str) -> list[Output]:
        """What a new subscriber of cache channel ``channel`` gets: the last event, or a miss."""
        state = conn.app
        now = self._clock()
        cached = state.cache.get(channel)
        if cached is not None and cached.expires > now:
            return [SendFrame(conn, cached.frame)]
        outputs: list[Output] = [SendFrame(conn, encode({"event": "pusher:cache_miss", "channel": channel}))]
        config = state.config
        if config.webhooks:
            sent = state.cache_misses.get(channel)
            if sent is None or now - sent >= self.miss_window:
                state.cache_misses[channel] = now
                outputs.append(WebhookEvent(config, {"name": "cache_miss", "channel": channel}))
        return outputs

    def expire(self, state: AppState) -> None:
        """Drop expired events and ``cache_miss`` de-duplication marks."""
        now = self._clock()
        for name in [name for name, cached in state.cache.items() if cached.expires <= now]:
            del state.cache[name]
        window = self.miss_window
        for name in [name for name, sent in state.cache_misses.items() if now - sent >= window]:
            del state.cache_misses[name]
