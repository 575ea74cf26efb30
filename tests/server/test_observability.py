"""What operators see: Prometheus metrics, readiness for load balancers, and a draining shutdown.

Real peers throughout: pysher subscribers, the official ``pusher`` SDK publishing, a webhook
receiver, and the server as its own process for SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pusher
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from pushbridge.server import EmbeddedServer, ServerOptions
from tests.server.peers import PysherPeer, WebhookReceiver, wait_until

APP_ID, KEY, SECRET = "424242", "obs-key", "obs-secret"


def metrics(server_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``GET /metrics``, by (name, sorted labels)."""
    response = requests.get(f"{server_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.fixture
def webhooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def server(webhooks: WebhookReceiver) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, webhook_url=webhooks.url) as embedded:
        yield embedded


def test_metrics_count_connections_subscriptions_deliveries_drops_requests_and_webhooks(
    server: EmbeddedServer, webhooks: WebhookReceiver
) -> None:
    peers = [PysherPeer("127.0.0.1", server.port, KEY, SECRET).connect() for _ in range(2)]
    try:
        for peer in peers:
            peer.subscribe("metered", "news")
        sdk = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=server.port, ssl=False)
        sdk.trigger("metered", "news", {"n": 1})
        for peer in peers:
            peer.log.wait_for(lambda e: e["event"] == "news", what="the event")
        wrong = pusher.Pusher(app_id=APP_ID, key=KEY, secret="wrong", host="127.0.0.1", port=server.port, ssl=False)
        with pytest.raises(pusher.errors.PusherError):
            wrong.trigger("metered", "news", {"n": 2})
        peers[0].send("not json")
        peers[0].log.wait_for(lambda e: e["event"] == "pusher:error", what="the error frame")
        webhooks.wait_event(lambda e: e["name"] == "channel_occupied")
        wait_until(lambda: server.stats()["subscriptions"] == 2, what="both subscriptions")
        seen = metrics(server.url)
    finally:
        for peer in peers:
            peer.close()
    assert seen[("pushbridge_connections", ())] == 2
    assert seen[("pushbridge_subscriptions", ())] == 2
    assert seen[("pushbridge_channels", ())] == 1
    assert seen[("pushbridge_connections_opened_total", ())] == 2
    assert seen[("pushbridge_deliveries_total", ())] == 2
    assert seen[("pushbridge_messages_received_total", ())] >= 3  # two subscribes and the bad frame
    assert seen[("pushbridge_messages_sent_total", ())] >= 6  # handshakes, confirmations, deliveries, the error
    assert seen[("pushbridge_dropped_total", (("reason", "invalid_message"),))] == 1
    assert seen[("pushbridge_http_api_requests_total", (("status", "200"),))] == 1
    assert seen[("pushbridge_http_api_requests_total", (("status", "401"),))] == 1
    wait_until(
        lambda: (
            metrics(server.url)[
                (
                    "pushbridge_webhook_events_total",
                    (("app_id", APP_ID), ("result", "delivered"), ("url", webhooks.url)),
                )
            ]
            >= 1
        ),
        what="a delivered webhook event",
    )
    assert ("pushbridge_bus_round_trip_seconds_count", ()) in seen
    assert ("pushbridge_sockets", ()) in seen


def test_metrics_count_closes_by_code_and_slow_clients_by_reason(server: EmbeddedServer) -> None:
    peer = PysherPeer("127.0.0.1", server.port, KEY, SECRET).connect()
    try:
        peer.send({"event": "pusher:signin", "data": {"user_data": "{}", "auth": "nope"}})
        peer.log.wait_for(lambda e: e["event"] == "pusher:error" and e["data"]["code"] == 4009, what="4009")
    finally:
        peer.close()
    wait_until(lambda: metrics(server.url).get(("pushbridge_connections_closed_total", (("code", "4009"),))) == 1)


def test_ready_turns_503_when_shutdown_begins_then_clients_are_told_4200() -> None:
    async def scenario() -> None:
        server = EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=ServerOptions(drain_grace=2))
        await server.start()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/ready") as response:
                assert (response.status, await response.json()) == (200, {"ready": True})
            ws = await session.ws_connect(server.ws_url)
            assert json.loads((await ws.receive(timeout=10)).data)["event"] == "pusher:connection_established"
            stopping = asyncio.ensure_future(server.stop())
            while not server.stopping:
                await asyncio.sleep(0)
            async with session.get(f"{server.url}/ready") as response:
                assert response.status == 503
                assert (await response.json())["ready"] is False
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(server.ws_url)
            assert refused.value.status == 503
            assert server.stats()["connections"] == 1  # not yet told: the load balancer has time
            error = json.loads((await ws.receive(timeout=10)).data)
            assert error == {
                "event": "pusher:error",
                "data": {"code": 4200, "message": "Server is shutting down; reconnect."},
            }
            close = await ws.receive(timeout=10)
            assert (close.type, close.data) == (aiohttp.WSMsgType.CLOSE, 4200)
            await stopping
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(f"{server.url}/ready")

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_sigterm_makes_the_process_unready_tells_clients_4200_and_exits(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    argv = [sys.executable, "-m", "pushbridge.server", "--port", "0", "--app-id", APP_ID, "--key", KEY]
    argv += ["--secret", SECRET, "--drain-grace", "2", "--log-level", "WARNING"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    peer: PysherPeer | None = None
    try:
        wait_until(lambda: "Press Ctrl-C" in log.read_text(), what="the banner")
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text()).group(1))  # type: ignore[union-attr]
        peer = PysherPeer("127.0.0.1", port, KEY, SECRET).connect()
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: _ready_status(port) == 503, what="/ready to answer 503")
        error: Any = peer.log.wait_for(lambda e: e["event"] == "pusher:error", what="the 4200")
        assert error["data"]["code"] == 4200
        assert process.wait(30) == 0
    finally:
        if peer is not None:
            peer.close()
        if process.poll() is None:
            process.kill()
            process.wait(30)
    assert "Shutting down: clients are told to reconnect (4200)." in log.read_text()


def _ready_status(port: int) -> int:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code
    except requests.ConnectionError:
        return 0
