"""The attacks a server exposed to the internet meets, reproduced at small scale.

Each test mounts one attack on a real server (in a thread, or its own process for the
descriptor limit) and proves that the server bounds it and that a fresh client is still
served. Attackers connect from 127.0.0.2 and fresh clients from 127.0.0.1: two addresses on
the loopback interface, so the limits per address can tell them apart.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushbridge.engine.log_limit import RateLimitFilter
from pushbridge.limits import PUSHER_LIMITS
from pushbridge.server import EmbeddedServer, ServerOptions
from tests.server.peers import PysherPeer, wait_until

KEY, SECRET, APP_ID = "hard-key", "hard-secret", "7"
ATTACKER = "127.0.0.2"


def attacker_socket(port: int, source: str = ATTACKER, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    return sock


def unfinished_requests(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each send the start of a request and never finish it."""
    socks = []
    for _ in range(count):
        sock = attacker_socket(port)
        sock.sendall(b"GET /app/" + KEY.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        socks.append(sock)
    return socks


class Ended:
    """Remembers, per socket, whether the server closed it and what it had sent before."""

    def __init__(self) -> None:
        self.received: dict[socket.socket, bytes] = {}
        self.closed: set[socket.socket] = set()

    def __call__(self, sock: socket.socket) -> bool:
        """Read what ``sock`` has without waiting; whether the server has closed it."""
        if sock in self.closed:
            return True
        sock.setblocking(False)
        try:
            while chunk := sock.recv(65536):
                self.received[sock] = self.received.get(sock, b"") + chunk
            self.closed.add(sock)
        except BlockingIOError:
            pass
        except ConnectionResetError:
            self.closed.add(sock)
        finally:
            sock.setblocking(True)
        return sock in self.closed

    def count(self, socks: list[socket.socket]) -> int:
        return sum(self(sock) for sock in socks)

    def replies(self, socks: list[socket.socket]) -> list[bytes]:
        """What the server sent to each closed socket that got anything."""
        return [self.received[sock] for sock in socks if self(sock) and self.received.get(sock)]


def fresh_client_is_served(port: int) -> None:
    peer = PysherPeer("127.0.0.1", port, KEY, SECRET).connect()
    try:
        peer.subscribe("public-fresh")
    finally:
        peer.close()


@pytest.fixture
def closing() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for sock in socks:
        sock.close()


# -- unfinished requests and the descriptor limit --------------------------------------------------


def test_unfinished_requests_from_one_address_cannot_take_every_descriptor(
    tmp_path: Path, closing: list[socket.socket]
) -> None:
    """The attack that locked clients out: more unfinished requests than the server has descriptors.

    The server runs as a real process with a limit of 256 descriptors and its default limits;
    the attacker opens 300 connections. The excess is turned away at once with a 503 naming
    the limit, the rest is closed by the header timeout, the refusals are logged a bounded
    number of times, and a pysher client is served throughout.
    """
    log = tmp_path / "server.log"
    argv = [sys.executable, "-m", "pushbridge.server", "--port", "0", "--app-id", APP_ID, "--key", KEY]
    argv += ["--secret", SECRET, "--header-timeout", "3", "--log-level", "WARNING"]

    def limit_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit_descriptors)
    try:
        wait_until(lambda: "Press Ctrl-C" in log.read_text(), what="the server's banner")
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text()).group(1))  # type: ignore[union-attr]
        closing += unfinished_requests(port, 300)
        fresh_client_is_served(port)
        # Cap 256 - 32 = 224 descriptors; one address may hold half: 112.
        ended = Ended()
        wait_until(lambda: ended.count(closing) >= 300 - 112, what="refusals")
        refused = ended.replies(closing)
        assert len(refused) == 300 - 112
        assert all(r.startswith(b"HTTP/1.1 503") and b"the limit is 112 per address" in r for r in refused)
        # The 112 admitted connections never finished their request: the header timeout ends them.
        wait_until(lambda: ended.count(closing) == 300, timeout=20, what="timeouts")
        fresh_client_is_served(port)
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(30)
    lines = log.read_text().splitlines()
    refusal_lines = [line for line in lines if "Refused a connection" in line]
    assert 1 <= len(refusal_lines) <= 10, refusal_lines
    assert len(log.read_bytes()) < 20_000


def test_the_connection_cap_turns_the_excess_away_and_the_header_timeout_frees_the_rest(
    closing: list[socket.socket],
) -> None:
    options = ServerOptions(max_open_connections=50, max_connections_per_address=0, header_timeout=1.0)
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=options) as server:
        closing += unfinished_requests(server.port, 60)
        ended = Ended()
        wait_until(lambda: ended.count(closing) >= 10, what="refusals")
        refused = ended.replies(closing)
        assert len(refused) == 10
        assert all(b"Too many open connections: the server allows 50" in r for r in refused)
        wait_until(lambda: ended.count(closing) == 60, what="the header timeout")
        timed_out = [r for r in ended.replies(closing) if r not in refused]
        assert len(timed_out) == 50
        assert all(r.startswith(b"HTTP/1.1 408") and b"did not arrive within 1.0 s" in r for r in timed_out)
        wait_until(lambda: server.call(lambda: server.admission.open) == 0, what="the slots to be freed")
        fresh_client_is_served(server.port)


def test_an_http_api_body_that_trickles_in_gets_408(closing: list[socket.socket]) -> None:
    options = ServerOptions(header_timeout=1.0)
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=options) as server:
        sock = attacker_socket(server.port)
        closing.append(sock)
        sock.sendall(f"POST /apps/{APP_ID}/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode())
        response = sock.recv(65536)
        assert response.startswith(b"HTTP/1.1 408")
        assert b"did not arrive within 1.0 s" in response
        fresh_client_is_served(server.port)


# -- a client that pings but never reads -----------------------------------------------------------


def websocket_handshake(sock: socket.socket) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /app/{KEY}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")


def masked_ping(payload: bytes) -> bytes:
    mask = os.urandom(4)
    return bytes((0x89, 0x80 | len(payload))) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_client_that_pings_but_never_reads_is_dropped_at_the_buffer_limit(closing: list[socket.socket]) -> None:
    """Pongs obey the slow-client buffer limit: the server's memory for this client stays bounded."""
    limits = PUSHER_LIMITS.replace(max_messages_per_second=10**9, max_messages_burst=10**9)
    options = ServerOptions(max_buffer_bytes=64 * 1024)
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, limits=limits, options=options) as server:
        sock = attacker_socket(server.port, rcvbuf=4096)
        closing.append(sock)
        websocket_handshake(sock)
        wait_until(lambda: server.stats()["connections"] == 1, what="the attacker's connection")
        batch = masked_ping(b"p" * 125) * 100
        dropped = False
        for _ in range(5000):  # Up to 500,000 pings: 65 MB of pongs, far beyond every buffer.
            try:
                sock.sendall(batch)
            except OSError:  # The server gave up on it and closed the socket.
                dropped = True
                break
            if server.stats()["connections"] == 0:
                dropped = True
                break
        assert dropped
        wait_until(lambda: server.stats()["connections"] == 0, what="the attacker to be forgotten")
        fresh_client_is_served(server.port)


# -- budgets per address ----------------------------------------------------------------------------


def test_connections_per_address_are_limited_and_other_addresses_still_get_in(
    closing: list[socket.socket],
) -> None:
    options = ServerOptions(max_connections_per_address=5)
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=options) as server:
        closing += [attacker_socket(server.port) for _ in range(8)]
        for sock in closing[:5]:
            websocket_handshake(sock)
        ended = Ended()
        wait_until(lambda: ended.count(closing) >= 3, what="refusals")
        assert [ended(sock) for sock in closing] == [False] * 5 + [True] * 3
        fresh_client_is_served(server.port)


def test_a_trusted_proxy_is_exempt_from_the_limits_per_address(closing: list[socket.socket]) -> None:
    options = ServerOptions(max_connections_per_address=2, trusted_proxies=frozenset({ATTACKER}))
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=options) as server:
        closing += [attacker_socket(server.port) for _ in range(4)]
        for sock in closing:
            websocket_handshake(sock)
        wait_until(lambda: server.stats()["connections"] == 4, what="four connections through the proxy")


# -- logging under attack ---------------------------------------------------------------------------


def test_repeated_log_messages_are_rate_limited_and_the_drops_are_counted() -> None:
    now = [0.0]
    limiter = RateLimitFilter(burst=3, window=10.0, clock=lambda: now[0])

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("pushbridge.server", logging.WARNING, __file__, 1, message, ("x",), None)

    passed = [limiter.filter(record("Refused %s")) for _ in range(1000)]
    assert passed.count(True) == 3
    assert limiter.filter(record("Another %s"))  # other messages keep their own allowance
    now[0] = 10.0
    later = record("Refused %s")
    assert limiter.filter(later)
    assert later.getMessage() == "Refused x (997 similar messages suppressed)"
