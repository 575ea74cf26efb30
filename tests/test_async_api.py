"""The async API: ``await pushbridge.atrigger(...)`` and friends, against the real embedded server.

The proof that the event loop is not blocked uses no clock: a gate in front of the server holds
the trigger's request, and the test's own coroutine must run (and see the request held, the
trigger not finished) before it opens the gate.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from django.test import override_settings

import pushbridge
from pushbridge.server import EmbeddedServer
from pushbridge.sockets import socket_id_scope
from pushbridge.testing import PushRecorder
from tests.gate import Gate
from tests.newproject import REPO, free_port, wait_until


def subscribed(server: EmbeddedServer, channel: str) -> websocket.WebSocket:
    client = websocket.create_connection(f"ws://127.0.0.1:{server.port}/app/{server.app.key}?protocol=7", timeout=30)
    assert json.loads(client.recv())["event"] == "pusher:connection_established"
    client.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))
    assert json.loads(client.recv())["event"] == "pusher_internal:subscription_succeeded"
    return client


@pytest.fixture
def gated_server(pushbridge_live_server: EmbeddedServer) -> Iterator[tuple[EmbeddedServer, Gate]]:
    """The live server, and the default alias sending to it through a closed gate."""
    app = pushbridge_live_server.app
    with Gate(pushbridge_live_server.port) as gate:
        entry = {"BACKEND": "embedded", "HOST": "127.0.0.1", "PORT": gate.port, "APP_ID": app.app_id,
                 "KEY": app.key, "SECRET": app.secret, "RETRIES": 0}  # fmt: skip
        with override_settings(PUSHBRIDGE={"default": entry}):
            yield pushbridge_live_server, gate


def test_atrigger_does_not_block_the_loop_while_the_service_holds_it(
    gated_server: tuple[EmbeddedServer, Gate],
) -> None:
    server, gate = gated_server
    client = subscribed(server, "news")

    async def scenario() -> tuple[bool, dict[str, Any]]:
        sending = asyncio.create_task(pushbridge.atrigger("news", "headline", {"n": 1}))
        while not gate.holding.is_set():  # this coroutine runs while the request is on its way
            await asyncio.sleep(0.01)
        ran_while_held = not sending.done() and not gate.opened.is_set()
        gate.open()
        return ran_while_held, await sending

    ran_while_held, reply = asyncio.run(scenario())
    assert ran_while_held, "the event loop was blocked until the gate opened on its own"
    assert not gate.opened_by_deadline
    assert reply == {}
    event = json.loads(client.recv())
    assert (event["event"], json.loads(event["data"])) == ("headline", {"n": 1})
    client.close()


def test_every_async_function_reaches_the_server(pushbridge_live_server: EmbeddedServer) -> None:
    client = subscribed(pushbridge_live_server, "feed")

    async def scenario() -> tuple[Any, ...]:
        batch = await pushbridge.atrigger_batch([pushbridge.Event("feed", "item", {"n": n}) for n in range(3)])
        to_user = await pushbridge.asend_to_user(7, "note", {"text": "hi"})
        occupied = await pushbridge.achannels()
        info = await pushbridge.achannel_info("feed", info="subscription_count")
        users = await pushbridge.achannel_users("presence-empty")
        await pushbridge.aterminate_user_connections(7)
        return batch, to_user, occupied, info, users

    batch, to_user, occupied, info, users = asyncio.run(scenario())
    assert batch == [{}]
    assert to_user == {}
    assert "feed" in occupied
    assert info["occupied"] is True
    assert info["subscription_count"] == 1
    assert users == []
    received = [json.loads(json.loads(client.recv())["data"])["n"] for _ in range(3)]
    assert received == [0, 1, 2]
    client.close()


def test_atrigger_reads_the_requests_socket_id_before_the_thread_hop(pushbridge_outbox: PushRecorder) -> None:
    async def scenario() -> None:
        with socket_id_scope("1.2"):
            await pushbridge.atrigger("room", "typing", {}, to_others=True)

    asyncio.run(scenario())
    pushbridge_outbox.assert_triggered("room", "typing", socket_id="1.2")


def test_bad_input_raises_through_the_await(pushbridge_outbox: PushRecorder) -> None:
    with pytest.raises(pushbridge.PushbridgeError, match="reserved"):
        asyncio.run(pushbridge.atrigger("room", "pusher:nope", {}))
    with pytest.raises(pushbridge.PushbridgeError, match="needs a presence- channel"):
        asyncio.run(pushbridge.achannel_users("room"))


def test_under_uvicorn_other_requests_are_served_while_a_trigger_is_held(
    gated_server: tuple[EmbeddedServer, Gate], tmp_path: Path
) -> None:
    """A real ASGI server: while one request awaits a held trigger, the same loop serves another."""
    server, gate = gated_server
    app = server.app
    client = subscribed(server, "news")
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.asgi_site.settings", "ASGI_SITE_PUSH_PORT": str(gate.port),
           "ASGI_SITE_KEY": app.key, "ASGI_SITE_SECRET": app.secret, "ASGI_SITE_APP_ID": app.app_id}  # fmt: skip
    log = tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "tests.asgi_site.asgi:application", "--port", str(port),
               "--lifespan", "off", "--workers", "1"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/ping/"), "uvicorn answering", process, log)
        with ThreadPoolExecutor(1) as pool:
            publishing = pool.submit(requests.get, f"{base}/publish/", params={"text": "hi"}, timeout=60)
            assert gate.holding.wait(60), "the trigger never reached the service"
            assert requests.get(f"{base}/ping/", timeout=60).json() == {"pong": True}
            served_while_held = not publishing.done() and not gate.opened.is_set()
            gate.open()
            assert served_while_held, "uvicorn's event loop was blocked until the gate opened on its own"
            assert publishing.result().json() == {"reply": {}}
        event = json.loads(client.recv())
        assert (event["event"], json.loads(event["data"])) == ("headline", {"text": "hi"})
    finally:
        client.close()
        process.terminate()
        process.wait(30)


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).ok
    except requests.RequestException:
        return False
