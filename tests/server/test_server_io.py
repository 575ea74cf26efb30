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
import websocket
from aiohttp import web

from pushbridge.engine.executor import Peer
from pushbridge.engine.webhook_endpoints import WebhookEndpoint
from pushbridge.limits import PUSHER_LIMITS
from pushbridge.protocol import AppConfig
from pushbridge.server import (
    EmbeddedServer,
    ServerOptions,
    build_parser,
    hard_frame_limit,
    min_frame_bytes,
    server_from_args,
    websocket_text_frame,
)
from pushbridge.signing import sign_channel, sign_request
from tests.server.fakes import QuietWs, RecordingTransport
from tests.server.peers import PysherPeer, wait_until

KEY, SECRET, APP_ID = "io-key", "io-secret", "42"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


async def receive_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def _subscribed(
    session: aiohttp.ClientSession, server: EmbeddedServer, channel: str, count: int
) -> list[aiohttp.ClientWebSocketResponse]:
    """``count`` raw connections subscribed to ``channel`` (signed if it is private)."""
    sockets = []
    for _ in range(count):
        ws = await session.ws_connect(server.ws_url, autoclose=False)
        socket_id = json.loads((await receive_json(ws))["data"])["socket_id"]
        data = {"channel": channel}
        if channel.startswith("private-"):
            data["auth"] = sign_channel(server.app.key, server.app.secret, socket_id, channel)
        await ws.send_str(json.dumps({"event": "pusher:subscribe", "data": data}))
        assert (await receive_json(ws))["event"] == "pusher_internal:subscription_succeeded"
        sockets.append(ws)
    return sockets


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
    options = ServerOptions(max_frame_bytes=8192)
    limits = PUSHER_LIMITS.replace(max_payload_bytes=1024)  # needs frames of 6144 bytes: 8192 stays

    async def scenario() -> None:
        async with (
            EmbeddedServer(port=0, key=KEY, max_connections=2, options=options, limits=limits) as server,
            aiohttp.ClientSession() as session,
        ):
            assert server.options.max_frame_bytes == 8192
            first = await session.ws_connect(server.ws_url)
            second = await session.ws_connect(server.ws_url)
            await receive_json(first)
            await receive_json(second)
            third = await session.ws_connect(server.ws_url)
            error = await receive_json(third)
            assert error["data"]["code"] == 4100
            assert (await third.receive(timeout=10)).data == 4100
            # A message over the limit is refused with pusher:error 4301; the connection stays.
            await second.send_str(json.dumps({"event": "pusher:ping", "data": "x" * 9000}))
            error = await receive_json(second)
            assert error["event"] == "pusher:error"
            assert error["data"]["code"] == 4301
            assert "limit is 8192 bytes" in error["data"]["message"]
            await second.send_str('{"event":"pusher:ping"}')
            assert (await receive_json(second))["event"] == "pusher:pong"
            # One too big to read at all closes that connection (1009), after a pusher:error
            # that makes Pusher clients back off and reconnect, and only that connection.
            await second.send_str("x" * (200 * 1024))
            error = await receive_json(second)
            assert error["event"] == "pusher:error"
            assert error["data"]["code"] == 4100
            assert "Message too large" in error["data"]["message"]
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


def test_frame_limit_follows_the_payload_limit() -> None:
    big = PUSHER_LIMITS.replace(max_payload_bytes=200_000)
    assert EmbeddedServer(port=0, limits=big).options.max_frame_bytes == min_frame_bytes(big) > 400_000
    assert EmbeddedServer(port=0).options.max_frame_bytes == ServerOptions.max_frame_bytes
    server = server_from_args(build_parser().parse_args(["--max-payload-bytes", "200000", "--max-frame-bytes", "1"]))
    assert server.options.max_frame_bytes == min_frame_bytes(big)
    assert server.core.max_message_bytes == min_frame_bytes(big)
    assert hard_frame_limit(server.options.max_frame_bytes) > server.options.max_frame_bytes

    async def scenario() -> None:
        # A client event at the raised payload limit goes through end to end.
        async with (
            EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, limits=big) as server,
            aiohttp.ClientSession() as session,
        ):
            a, b = await _subscribed(session, server, "private-big", 2)
            data = "y" * 200_000
            await a.send_str(json.dumps({"event": "client-big", "channel": "private-big", "data": data}))
            assert (await receive_json(b))["data"] == data

    run(scenario())


def test_command_line_flags_set_the_per_connection_limits() -> None:
    args = ["--max-channels-per-connection", "5", "--max-messages-per-second", "7", "--max-messages-burst", "9"]
    limits = server_from_args(build_parser().parse_args(args)).app.limits
    assert (limits.max_channels_per_connection, limits.max_messages_per_second, limits.max_messages_burst) == (5, 7, 9)


def test_command_line_flags_set_the_limits_that_hold_under_attack() -> None:
    args = ["--header-timeout", "2.5", "--max-open-connections", "40", "--max-connections-per-address", "4"]
    args += ["--max-subscriptions-per-address", "9", "--trusted-proxy", "10.0.0.9", "--trusted-proxy", "::1"]
    server = server_from_args(build_parser().parse_args(args))
    assert server.options.header_timeout == 2.5
    admission = server.admission
    assert (admission.max_open, admission.per_address, admission.exempt) == (40, 4, {"10.0.0.9", "::1"})
    assert server.options.max_subscriptions_per_address == 9


def test_by_default_the_local_host_is_exempt_from_the_limits_per_address() -> None:
    admission = server_from_args(build_parser().parse_args([])).admission
    assert admission.exempt == {"127.0.0.1", "::1"}
    for _ in range(admission.per_address + 1):
        assert admission.admit("127.0.0.1") is None
    for _ in range(admission.per_address):
        assert admission.admit("127.0.0.2") is None
    assert (
        admission.admit("127.0.0.2")
        == f"Too many connections from 127.0.0.2: the limit is {admission.per_address} per address."
    )


def test_by_default_the_connection_cap_follows_the_descriptor_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    admission = server_from_args(build_parser().parse_args([])).admission
    assert admission.max_open == soft - max(32, soft // 10)
    assert admission.per_address == min(256, admission.max_open // 2)


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
            # The dropped client, reading again, finds pusher:error 4100 after the last event
            # (nothing follows it), then the close.
            frames = _read_until_close(slow)
            texts = [json.loads(payload) for opcode, payload in frames if opcode == 0x1]
            assert texts[-1]["event"] == "pusher:error", texts[-1]["event"]
            assert texts[-1]["data"]["code"] == 4100
            assert all(text["event"] in ("pusher_internal:subscription_succeeded", "tick") for text in texts[:-1])
            assert int.from_bytes(frames[-1][1][:2], "big") == 4100
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


def start_and_read_banner(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start a server process and read what it prints up to "Press Ctrl-C" (it listens by then)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    return process, "".join(lines)


def test_command_line_prints_settings_and_stops_on_sigterm(tmp_path: Any) -> None:
    env = {
        **os.environ,
        "PUSHBRIDGE_SERVER_PORT": "0",
        "PUSHBRIDGE_SERVER_APP_ID": "777",
        "PUSHBRIDGE_SERVER_KEY": "cli-key",
        "PUSHBRIDGE_SERVER_SECRET": "cli-secret",
    }
    process, output = start_and_read_banner([sys.executable, "-m", "pushbridge.server", "--log-level", "WARNING"], env)
    try:
        assert '"APP_ID": "777"' in output
        assert '"KEY": "cli-key"' in output
        assert '"BACKEND": "embedded"' in output
        assert "PUSHBRIDGE_URL=http://cli-key:cli-secret@127.0.0.1:" in output
        assert 'cluster: "local"' in output
        assert "forceTLS: false" in output
        port = int(output.split("PUSHBRIDGE_URL=http://cli-key:cli-secret@127.0.0.1:")[1].split("/")[0])
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()["ok"] is True
        client = websocket.create_connection(f"ws://127.0.0.1:{port}/app/cli-key?protocol=7", timeout=30)
        try:
            assert json.loads(client.recv())["event"] == "pusher:connection_established"
            process.send_signal(signal.SIGTERM)
            assert json.loads(client.recv()) == {
                "event": "pusher:error",
                "data": {"code": 4200, "message": "Server is shutting down; reconnect."},
            }
            opcode, payload = client.recv_data(control_frame=True)
            assert opcode == websocket.ABNF.OPCODE_CLOSE
            assert int.from_bytes(payload[:2], "big") == 4200
        finally:
            client.close()
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
    process, output = start_and_read_banner([sys.executable, "-m", "django", "pushbridge_server", "--port", "0"], env)
    try:
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


# -- input the core relays but UTF-8 cannot carry, and failures that must stay local --------------


def test_lone_surrogates_are_relayed_and_never_kill_a_connection() -> None:
    async def scenario() -> None:
        async with (
            EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET) as server,
            aiohttp.ClientSession() as session,
        ):
            a, b = await _subscribed(session, server, "private-s", 2)
            await a.send_str('{"event":"client-x","channel":"private-s","data":"\\ud800"}')
            assert await receive_json(b) == {"event": "client-x", "channel": "private-s", "data": "\ud800"}
            [c] = await _subscribed(session, server, "room", 1)
            await c.send_str('{"event":"pusher:subscribe","data":{"channel":"\\ud800"}}')
            assert (await receive_json(c))["event"] == "pusher:subscription_error"
            # Over HTTP: to subscribers, and to an empty cache channel whose frame later
            # subscribers get (a frame that cannot be sent would drop each of them).
            for channel in ("private-s", "cache-s"):
                body = ('{"name":"e","channel":"%s","data":"\\ud800"}' % channel).encode()  # noqa: UP031
                async with session.post(server.url + f"/apps/{APP_ID}/events", params=_signed(body), data=body) as r:
                    assert r.status == 200
                    assert await r.json() == {}
            for ws in (a, b):
                assert (await receive_json(ws))["data"] == "\ud800"
            for _ in range(2):
                [late] = await _subscribed(session, server, "cache-s", 1)
                assert await receive_json(late) == {"event": "e", "channel": "cache-s", "data": "\ud800"}
            for ws in (a, b, c):
                await ws.send_str('{"event":"pusher:ping"}')
                assert (await receive_json(ws))["event"] == "pusher:pong"

    run(scenario())


def _signed(body: bytes, path: str = f"/apps/{APP_ID}/events") -> dict[str, str]:
    return sign_request(KEY, SECRET, "POST", path, {}, body)


class Boom(Exception):
    """A bug somewhere in the core, as the I/O layer sees it."""


def test_an_unexpected_error_costs_one_connection_a_pusher_error_and_http_a_json_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        async with (
            EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET) as server,
            aiohttp.ClientSession() as session,
        ):
            receive = server.core.receive

            def buggy(conn: Any, text: str) -> Any:
                if "boom" in text:
                    raise Boom(text)
                return receive(conn, text)

            monkeypatch.setattr(server.core, "receive", buggy)
            victim, bystander = await _subscribed(session, server, "room", 2)
            await victim.send_str('{"event":"boom"}')
            error = await receive_json(victim)
            assert error["event"] == "pusher:error"
            assert error["data"]["code"] == 4100
            assert "Internal server error" in error["data"]["message"]
            assert (await victim.receive(timeout=10)).data == 4100
            await bystander.send_str('{"event":"pusher:ping"}')
            assert (await receive_json(bystander))["event"] == "pusher:pong"

            def broken(*args: Any) -> Any:
                raise Boom("http")

            monkeypatch.setattr(server.core, "http", broken)
            body = b'{"name":"e","channel":"room","data":"{}"}'
            async with session.post(server.url + f"/apps/{APP_ID}/events", params=_signed(body), data=body) as r:
                assert r.status == 500
                assert r.content_type == "application/json"
                assert "Internal server error" in (await r.json())["error"]

    run(scenario())


# -- slow readers ---------------------------------------------------------------------------------


def _unframe(frame: bytes) -> str:
    """The text of one unmasked WebSocket text frame as :func:`websocket_text_frame` builds it."""
    assert frame[0] == 0x81
    length = frame[1]
    start = 2 if length < 126 else 4 if length == 126 else 10
    return frame[start:].decode()


def test_a_laggard_dropped_during_a_fanout_gets_nothing_after_its_pusher_error() -> None:
    limit = 64 * 1024

    async def scenario() -> None:
        server = EmbeddedServer(app_id=APP_ID, key=KEY, secret=SECRET, options=ServerOptions(max_buffer_bytes=limit))
        core = server.core
        conn, _ = core.open(KEY, {})
        transport = RecordingTransport(limit, lambda: server.executor.overflowed(conn))
        conn.sink = Peer(QuietWs(), transport)  # type: ignore[arg-type]
        channels = [f"c{i}" for i in range(100)]
        for channel in channels:
            core.receive(conn, json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))
        transport.writes.clear()
        body = json.dumps({"name": "e", "channels": channels, "data": "x" * 10_000}).encode()
        query = "&".join(f"{k}={v}" for k, v in _signed(body).items())
        reply = core.http("POST", f"/apps/{APP_ID}/events?{query}", body)
        server.executor.apply(reply.outputs)
        await asyncio.gather(*server.executor.closing_tasks)
        assert conn.closed
        last = json.loads(_unframe(transport.writes[-1]))
        assert last["event"] == "pusher:error"
        assert last["data"]["code"] == 4100
        events = [json.loads(_unframe(w)) for w in transport.writes[:-1]]
        assert all(e["event"] == "e" for e in events)
        assert len(events) < len(channels)
        assert transport.get_write_buffer_size() < limit + 2 * len(transport.writes[0])

    run(scenario())


def _read_until_close(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Read (opcode, payload) frames from a server until its close frame arrives."""
    sock.settimeout(30)
    buffer = bytearray()
    frames: list[tuple[int, bytes]] = []
    while True:
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                break
            opcode, payload = buffer[0] & 0x0F, bytes(buffer[start : start + length])
            del buffer[: start + length]
            frames.append((opcode, payload))
            if opcode == 0x8:
                return frames
        chunk = sock.recv(1 << 20)
        assert chunk, f"connection ended without a close frame after {len(frames)} frames"
        buffer += chunk


# -- shutdown -------------------------------------------------------------------------------------


def test_a_handshake_under_way_when_shutdown_begins_is_refused_with_4200(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        server = EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET)
        await server.start()
        prepare = web.WebSocketResponse.prepare
        stopping: list[asyncio.Task[None]] = []

        async def prepare_while_stopping(self: web.WebSocketResponse, request: web.Request) -> Any:
            stopping.append(asyncio.ensure_future(server.stop()))
            while not server.stopping:
                await asyncio.sleep(0)
            return await prepare(self, request)

        monkeypatch.setattr(web.WebSocketResponse, "prepare", prepare_while_stopping)
        async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
            error = await receive_json(ws)
            assert error == {
                "event": "pusher:error",
                "data": {"code": 4200, "message": "Server is shutting down; reconnect."},
            }
            close = await ws.receive(timeout=10)
            assert close.type is aiohttp.WSMsgType.CLOSE
            assert close.data == 4200
        await stopping[0]
        assert server.core.stats()["connections"] == 0

    run(scenario())


# -- configuration --------------------------------------------------------------------------------


def test_webhook_configuration_is_derived_and_checked() -> None:
    single = EmbeddedServer(port=0, app_id="1", webhook_urls={"1": "http://127.0.0.1:9/hook"})
    assert single.webhooks == {"1": (WebhookEndpoint("http://127.0.0.1:9/hook"),)}
    assert single.app.webhooks
    assert not EmbeddedServer(port=0, app_id="1").app.webhooks
    apps = [AppConfig("a", "ka", "sa"), AppConfig("b", "kb", "sb", webhooks=True)]
    several = EmbeddedServer(port=0, apps=apps, webhook_urls={"a": "http://127.0.0.1:9/a"})
    assert [(app.app_id, app.webhooks) for app in several.apps] == [("a", True), ("b", False)]
    assert [(app.app_id, app.webhooks) for app in several.core.apps] == [("a", True), ("b", False)]
    with pytest.raises(ValueError, match=r"app id\(s\) \['c'\]"):
        EmbeddedServer(port=0, apps=apps, webhook_urls={"c": "http://127.0.0.1:9/c"})
    with pytest.raises(ValueError, match="webhook_urls"):
        EmbeddedServer(port=0, apps=apps, webhook_url="http://127.0.0.1:9/a")
    with pytest.raises(ValueError, match="app_webhooks"):
        EmbeddedServer(port=0, apps=apps, webhooks=[WebhookEndpoint("http://127.0.0.1:9/a")])
    with pytest.raises(ValueError, match=r"app id\(s\) \['c'\]"):
        EmbeddedServer(port=0, apps=apps, app_webhooks={"c": [WebhookEndpoint("http://127.0.0.1:9/c")]})
