"""The webhook sender on its own: what it retries, and how loudly it drops."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pushbridge.webhooks_client import WebhookSender
from tests.server.peers import WebhookReceiver


@pytest.mark.parametrize(("status", "attempts"), [(400, 1), (401, 1), (404, 1), (429, 3), (503, 3)])
def test_only_429_and_5xx_are_retried(status: int, attempts: int) -> None:
    receiver = WebhookReceiver()
    receiver.fail_next, receiver.fail_status = 10, status

    async def scenario() -> WebhookSender:
        sender = WebhookSender(receiver.url, "k", "s", attempts=3, backoff=0.01, batch_window=0)
        sender.start()
        sender.submit({"name": "channel_occupied", "channel": "c"})
        await sender.stop(flush_timeout=30)
        return sender

    try:
        sender = asyncio.run(scenario())
        assert len(receiver.requests.items()) == attempts
        assert sender.dropped == 1
        assert sender.delivered == 0
    finally:
        receiver.close()


def test_a_full_queue_logs_one_warning_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    sender = WebhookSender("http://127.0.0.1:9/never", "k", "s", max_queue=1)  # never started: the queue fills
    with caplog.at_level(logging.WARNING, logger="pushbridge.server"):
        for _ in range(1001):
            sender.submit({"name": "client_event"})
    assert sender.dropped == 1000
    [warning] = [r for r in caplog.records if "Webhook queue full" in r.getMessage()]
    assert "dropped 1 event(s)" in warning.getMessage()
    sender.drop_log_interval = 0  # every drop may be logged again; the count covers the silent ones
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pushbridge.server"):
        sender.submit({"name": "client_event"})
    [warning] = [r for r in caplog.records if "Webhook queue full" in r.getMessage()]
    assert "dropped 1000 event(s) since the last warning, 1001 in all" in warning.getMessage()
