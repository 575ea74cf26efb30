"""Rate-limited logging: a flood of the same message must not fill the disk.

Under attack, the same warning (a refused connection, a slow client dropped, asyncio's
"accept() out of system resource") can be logged thousands of times a second. The filter
lets the first few records of each message template through in every window, drops the
rest, and says how many it dropped on the next record it lets through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: Loggers whose records the server rate-limits.
LIMITED_LOGGERS = ("pushbridge.server", "asyncio", "aiohttp.server", "aiohttp.web", "aiohttp.websocket")


class RateLimitFilter(logging.Filter):
    """Passes at most ``burst`` records of each (logger, template) every ``window`` seconds."""

    def __init__(self, burst: int = 10, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._clock = clock
        # (logger name, message template) -> [window start, passed in window, dropped since last pass]
        self._seen: dict[tuple[str, object], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None or now - seen[0] >= self.window:
            if len(self._seen) > 1000:  # Templates are few; bound the table all the same.
                self._seen.clear()
            dropped = int(seen[2]) if seen is not None else 0
            self._seen[key] = [now, 1, 0]
            if dropped:
                record.msg = f"{record.msg} ({dropped} similar messages suppressed)"
            return True
        if seen[1] < self.burst:
            seen[1] += 1
            return True
        seen[2] += 1
        return False


def limit_server_logs(burst: int = 10, window: float = 10.0) -> None:
    """Install one :class:`RateLimitFilter` on each of :data:`LIMITED_LOGGERS` (once per process)."""
    for name in LIMITED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in target.filters):
            target.addFilter(RateLimitFilter(burst, window))
