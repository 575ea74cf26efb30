"""Stand-ins for an asyncio transport and an aiohttp WebSocket, for driving the executor directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class RecordingTransport:
    """Keeps every write; reports going over ``high`` bytes once, as asyncio's flow control does."""

    def __init__(self, high: int = 0, on_overflow: Callable[[], None] = lambda: None) -> None:
        self.writes: list[bytes] = []
        self.high = high
        self.on_overflow = on_overflow
        self.paused = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        if self.high and not self.paused and self.get_write_buffer_size() > self.high:
            self.paused = True
            self.on_overflow()

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return sum(len(w) for w in self.writes)

    def abort(self) -> None:
        pass


class QuietWs:
    async def close(self, **kwargs: Any) -> bool:
        return True
