"""The embedded server's webhook sender: batches events, signs them, posts them, retries.

Webhooks must never slow the WebSocket side down. Events go into a bounded queue with a
non-blocking :meth:`WebhookSender.submit`; one background task drains it, packs the events that
happened together into one ``{"time_ms", "events"}`` body, and posts it with the
``X-Pusher-Key`` / ``X-Pusher-Signature`` headers Pusher uses
(https://pusher.com/docs/channels/server_api/webhooks/).
A failed post (no answer, 429 or 5xx) is retried with exponential backoff a bounded number of
times, then dropped with a log line: a receiver that is down must not make the server hoard
memory. Other 4xx answers say the request itself is wrong, so they are not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import aiohttp

from pushbridge.signing import sign_webhook

logger = logging.getLogger("pushbridge.server")


class WebhookSender:
    """Posts webhook batches for one app to one URL from a background task.

    ``batch_window`` is how long the sender waits after the first event for others to join
    the same post; ``max_batch`` caps one post; ``max_queue`` caps memory when the receiver
    is slow (events beyond it are dropped; one warning per ``drop_log_interval`` seconds says
    how many). ``attempts`` and ``backoff`` bound the retries: delays are ``backoff``,
    ``2*backoff``, ``4*backoff``...
    """

    def __init__(
        self,
        url: str,
        key: str,
        secret: str,
        *,
        max_queue: int = 10_000,
        max_batch: int = 100,
        batch_window: float = 0.05,
        attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 10.0,
        drop_log_interval: float = 10.0,
    ) -> None:
        self.url = url
        self.key = key
        self.secret = secret
        self.max_batch = max_batch
        self.batch_window = batch_window
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.drop_log_interval = drop_log_interval
        self.dropped = 0
        self.delivered = 0
        #: Posts that failed (no answer, or an error status), retried or not.
        self.failed_posts = 0
        self._unlogged_drops = 0
        self._drops_logged_at: float | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        """Start the background task; call from inside the running event loop."""
        if self._task is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._task = asyncio.create_task(self._run(), name="pushbridge-webhooks")

    def submit(self, event: dict[str, Any]) -> None:
        """Queue one event without waiting; drop it if the queue is full (logged, rate-limited)."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self._unlogged_drops += 1
            now = time.monotonic()
            logged_at = self._drops_logged_at
            if logged_at is None or now - logged_at >= self.drop_log_interval:
                logger.warning(
                    "Webhook queue full (%d events): dropped %d event(s) since the last warning, "
                    "%d in all; the latest was %s.",
                    self._queue.maxsize,
                    self._unlogged_drops,
                    self.dropped,
                    event.get("name"),
                )
                self._drops_logged_at = now
                self._unlogged_drops = 0

    async def stop(self, flush_timeout: float = 2.0) -> None:
        """Give queued events a short chance to leave, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), flush_timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            events = [first]
            if self.batch_window > 0:
                await asyncio.sleep(self.batch_window)
            while len(events) < self.max_batch and not self._queue.empty():
                events.append(self._queue.get_nowait())
            try:
                await self._post(events)
            except Exception:  # pragma: no cover - a bug here must not kill the sender
                logger.exception("Webhook sender failed")
            finally:
                for _ in events:
                    self._queue.task_done()

    async def _post(self, events: list[dict[str, Any]]) -> None:
        body = json.dumps({"time_ms": int(time.time() * 1000), "events": events}, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Pusher-Key": self.key,
            "X-Pusher-Signature": sign_webhook(self.secret, body),
        }
        assert self._session is not None
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            problem: str
            try:
                async with self._session.post(self.url, data=body, headers=headers) as response:
                    status = response.status
                    if 200 <= status < 300:
                        self.delivered += len(events)
                        return
                    problem = f"HTTP {status}"
                    if 400 <= status < 500 and status != 429:
                        # The receiver refuses this request (bad signature, wrong URL...):
                        # sending it again would be refused again.
                        self.failed_posts += 1
                        self.dropped += len(events)
                        logger.error(
                            "Webhook to %s refused (%s); dropping %d event(s), not retrying.",
                            self.url,
                            problem,
                            len(events),
                        )
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            self.failed_posts += 1
            if attempt == self.attempts:
                self.dropped += len(events)
                logger.error(
                    "Webhook to %s failed %d times (%s); dropping %d event(s).", self.url, attempt, problem, len(events)
                )
                return
            logger.warning("Webhook to %s failed (%s); retrying in %.1f s.", self.url, problem, delay)
            await asyncio.sleep(delay)
            delay *= 2
