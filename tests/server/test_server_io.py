"""The I/O layer: start/stop modes, the CLI, close codes on the wire, limits, slow readers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
import requests

from pushbridge.limits import PUSHER_LIMITS
from pushbridge.server import EmbeddedServer, ServerOptions, websocket_text_frame
from pushbridge.signing import sign_request
from tests.server.peers import PysherPeer, wait_until

KEY, SECRET, APP_ID = "io-key", "io-secret", "42"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


def test_websocket_text_frame_matches_rfc6455_lengths() -> None:
    assert websocket_text_frame("hi") == b"\x81\x02hi"
    assert websocket_text_frame("x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert websocket_text_frame("x" * 70_000)[:10] == b"\x81\x7f" + (70_000).to_bytes(8, "big")


def test_in_loop_start_handshake_ping_and_shutdown_with_4200() -> None:
    async def scenario() -> None:
        server = EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET)
        await server.start()
        assert server.port != 0
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{server.ws_url}?protocol=7", autoping=False) as ws,
        ):
            handshake = await receive_json(ws)
            assert handshake["event"] == "pusher:connection_established"
            assert json.loads(handshake["data"])["activity_timeout"] == 120
            await ws.ping(b"hello")  # WebSocket-level ping
            pong = await ws.receive(timeout=10)
            assert pong.type is aiohttp.WSMsgType.PONG
            assert pong.data == b"hello"
            await ws.send_str('{"event":"pusher:ping","data":{}}')
            assert await receive_json(ws) == {"event": "pusher:pong", "data": {}}
            await server.stop()
            error = await receive_json(ws)
            assert error["event"] == "pusher:error"
            assert error["data"]["code"] == 4200
            close = await ws.receive(timeout=10)
            assert close.type is aiohttp.WSMsgType.CLOSE
            assert close.data == 4200

    run(scenario())


@pytest.mark.parametrize(("query", "code"), [("protocol=3", 4007), ("protocol=8", 4007)])
def test_refused_connections_get_error_frame_then_close(query: str, code: int) -> None:
    async def scenario() -> None:
        async with (
            EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET) as server,
            aiohttp.ClientSession() as session,
        ):
            for url, expected in ((f"{server.ws_url}?{query}", code), (f"{server.url}/app/unknown", 4001)):
                async with session.ws_connect(url) as ws:
                    error = await receive_json(ws)
                    assert error["event"] == "pusher:error"
                    assert error["data"]["code"] == expected
                    close = await ws.receive(timeout=10)
                    assert close.type is aiohttp.WSMsgType.CLOSE
                    assert close.data == expected

    run(scenario())


def test_idle_client_is_pinged_then_closed_with_4201() -> None:
    options = ServerOptions(activity_timeout=1, pong_timeout=1, tick_interval=0.1)

    async def scenario() -> None:
        async with (
            EmbeddedServer(port=0, key=KEY, options=options) as server,
            aiohttp.ClientSession() as session,
            session.ws_connect(server.ws_url) as ws,
        ):
            await receive_json(ws)
            assert await receive_json(ws) == {"event": "pusher:ping", "data": {}}
            error = await receive_json(ws)
            assert error["data"]["code"] == 4201
            close = await ws.receive(timeout=10)
            assert close.data == 4201

    run(scenario())


def test_max_connections_and_oversized_frames() -> None:
    options = ServerOptions(max_frame_bytes=1024)

    async def scenario() -> None:
        async with (
            EmbeddedServer(port=0, key=KEY, max_connections=2, options=options) as server,
            aiohttp.ClientSession() as session,
        ):
            first = await session.ws_connect(server.ws_url)
            second = await session.ws_connect(server.ws_url)
            await receive_json(first)
            await receive_json(second)
            third = await session.ws_connect(server.ws_url)
            error = await receive_json(third)
            assert error["data"]["code"] == 4100
            assert (await third.receive(timeout=10)).data == 4100
            # A frame over the limit closes that connection (1009, by aiohttp) and only it.
            await second.send_str("x" * 2048)
            closed = await second.receive(timeout=10)
            assert closed.type is aiohttp.WSMsgType.CLOSE
            assert closed.data == 1009
            await first.send_str('{"event":"pusher:ping"}')
            assert (await receive_json(first))["event"] == "pusher:pong"
            for _ in range(500):  # poll without blocking the server's loop (it is this loop)
                if server.core.stats()["connections"] == 1:
                    break
                await asyncio.sleep(0.02)
            assert server.core.stats()["connections"] == 1
            await first.close()

    run(scenario())


def test_thread_mode_context_manager_and_pysher_reconnect_after_restart() -> None:
    with EmbeddedServer(port=0, key=KEY, secret=SECRET) as first:
        port = first.port
        assert requests.get(first.url + "/health", timeout=10).json()["connections"] == 0
        peer = PysherPeer("127.0.0.1", port, KEY, SECRET).connect()
    # Stopped: pysher got pusher:error 4200, which tells it to reconnect at once.
    try:
        peer.log.wait_for(lambda e: e["event"] == "pusher:error" and e["data"]["code"] == 4200)
        with EmbeddedServer(port=port, key=KEY, secret=SECRET) as second:
            wait_until(lambda: len(peer.socket_ids) == 2, timeout=20, what="pysher to reconnect")
            assert second.stats()["connections"] == 1
    finally:
        peer.close()


def test_slow_reader_is_dropped_and_the_others_keep_being_served() -> None:
    options = ServerOptions(max_buffer_bytes=256 * 1024)
    limits = PUSHER_LIMITS.replace(max_batch_size=10)
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=options, limits=limits) as server:
        fast = PysherPeer("127.0.0.1", server.port, KEY, SECRET).connect()
        try:
            fast.subscribe("feed", "tick", "done")
            slow = _stalled_subscriber(server.port, "feed")
            wait_until(lambda: server.call(lambda: server.core.subscription_count("feed")) == 2)
            payload = "x" * 9000
            batch = json.dumps({"batch": [{"channel": "feed", "name": "tick", "data": payload}] * 10}).encode()
            sent = 0
            while server.call(lambda: server.core.subscription_count("feed")) == 2:
                assert sent < 100 * 1024 * 1024, "the stalled client was never dropped"
                _post(server, f"/apps/{APP_ID}/batch_events", batch)
                sent += len(batch)
            _post(
                server,
                f"/apps/{APP_ID}/events",
                json.dumps({"name": "done", "channel": "feed", "data": "end"}).encode(),
            )
            assert fast.log.wait_for(lambda e: e["event"] == "done", timeout=60)["data"] == "end"
            assert server.stats()["connections"] == 1
            slow.close()
        finally:
            fast.close()


def _stalled_subscriber(port: int, channel: str) -> socket.socket:
    """A WebSocket client that subscribes and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        (
            f"GET /app/{KEY} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    received = b""
    while b"connection_established" not in received:
        chunk = sock.recv(4096)
        assert chunk, "server closed the stalled client during the handshake"
        received += chunk
    text = json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}).encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(text))
    sock.sendall(bytes([0x81, 0x80 | len(text)]) + mask + masked)
    return sock


def _post(server: EmbeddedServer, path: str, body: bytes) -> None:
    query = sign_request(KEY, SECRET, "POST", path, {}, body)
    reply = requests.post(server.url + path, params=query, data=body, timeout=30)
    assert reply.status_code == 200, reply.text


def test_command_line_prints_settings_and_stops_on_sigterm(tmp_path: Any) -> None:
    env = {
        **os.environ,
        "PUSHBRIDGE_SERVER_PORT": "0",
        "PUSHBRIDGE_SERVER_APP_ID": "777",
        "PUSHBRIDGE_SERVER_KEY": "cli-key",
        "PUSHBRIDGE_SERVER_SECRET": "cli-secret",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pushbridge.server", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert '"APP_ID": "777"' in output
        assert '"KEY": "cli-key"' in output
        assert '"BACKEND": "embedded"' in output
        assert "PUSHBRIDGE_URL=http://cli-key:cli-secret@127.0.0.1:" in output
        assert 'cluster: "local"' in output
        assert "forceTLS: false" in output
        port = int(output.split("PUSHBRIDGE_URL=http://cli-key:cli-secret@127.0.0.1:")[1].split("/")[0])
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()["ok"] is True
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0, rest
        assert "Shutting down" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_management_command_uses_the_projects_credentials(tmp_path: Any) -> None:
    (tmp_path / "cmd_settings.py").write_text(
        "SECRET_KEY = 'x'\n"
        "INSTALLED_APPS = ['pushbridge']\n"
        "PUSHBRIDGE = {'default': {'BACKEND': 'soketi', 'APP_ID': '555', 'KEY': 'cmd-key', 'SECRET': 'cmd-secret',"
        " 'HOST': '127.0.0.1', 'PORT': 6001}}\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cmd_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), root, os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "pushbridge_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "PUSHBRIDGE_URL=http://cmd-key:cmd-secret@127.0.0.1:" in output, output
        port = int(output.split("@127.0.0.1:")[1].split("/")[0])
        body = json.dumps({"name": "e", "channel": "c", "data": "{}"}).encode()
        query = sign_request("cmd-key", "cmd-secret", "POST", "/apps/555/events", {}, body)
        reply = requests.post(f"http://127.0.0.1:{port}/apps/555/events", params=query, data=body, timeout=10)
        assert reply.json() == {}
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_no_connection_is_accepted_while_shutting_down() -> None:
    """Clients told 4200 reconnect at once; they must be refused, not accepted and then aborted."""

    async def scenario() -> None:
        server = EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET)
        await server.start()
        url = server.ws_url
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url)
            await receive_json(ws)  # connection_established
            stopping = asyncio.create_task(server.stop())
            assert (await receive_json(ws))["data"]["code"] == 4200
            with pytest.raises(aiohttp.ClientError):
                second = await session.ws_connect(url)
                await receive_json(second)
            await ws.close()
            await stopping

    run(scenario())
