"""The load generator: many lightweight Pusher-protocol WebSocket subscribers and one publisher.

The benchmark measures how fast a *server* fans one message out to N sockets, on a machine
with two cores: one for the server, one for the generator. Every cycle the generator spends
per received frame is a cycle that could make it, not the server, the bottleneck, so it is
built for the least work per delivery:

* No event loop library and no client library. One ``select.epoll`` loop, non-blocking
  sockets, and a frame walker that counts the text frames carrying the benchmark event without
  decoding them. An asyncio client (even on uvloop) pays a Python callback per readable socket,
  and a WebSocket library also decodes, validates and queues every message.
* Reads are batched: while a round runs, the loop sleeps ``batch_interval`` between sweeps, so
  one ``recv`` usually collects several frames from a socket. The server is never slowed by
  this (a socket's receive buffer holds hundreds of frames; the server's writes never block)
  and the end of a round is known to within one interval.

It still speaks correct WebSocket (RFC 6455: masked client frames, ping -> pong, close) and
correct Pusher protocol (waits for ``pusher:connection_established``, subscribes, waits for
``pusher_internal:subscription_succeeded``, answers ``pusher:ping``), so every server is driven
exactly as real clients drive it. The publisher shares the loop: a few keep-alive HTTP/1.1
connections, each with one signed ``batch_events`` request in flight, so the server always has
the next batch waiting.

Every wait takes a deadline; nothing here loops without one.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import select
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pushbridge.signing import sign_request

#: The event name every published benchmark event carries; frames are counted by finding it.
EVENT_NAME = "bench-fanout"
_EVENT_MARKER = f'"{EVENT_NAME}"'.encode()
_PING_MARKER = b'"pusher:ping"'
_ESTABLISHED_MARKER = b'"pusher:connection_established"'
_SUBSCRIBED_MARKER = b'"pusher_internal:subscription_succeeded"'
_ERROR_MARKER = b'"pusher:error"'

_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_RECV_BYTES = 256 * 1024


class LoadError(RuntimeError):
    """A connection or request failed in a way that invalidates the round."""


@dataclass(frozen=True)
class Credentials:
    app_id: str = "app-id"
    key: str = "app-key"
    secret: str = "app-secret"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """Return one masked client-to-server frame (RFC 6455 section 5.3 requires the mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    # XOR the whole payload at once through int arithmetic; payloads here are tiny.
    repeated = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    return header + mask + masked


def _json_frame(message: object) -> bytes:
    return client_frame(_OP_TEXT, json.dumps(message, separators=(",", ":")).encode())


class Subscriber:
    """One WebSocket connection speaking the client half of the Pusher protocol.

    :meth:`on_readable` is the hot path; everything else (handshake, subscribe, control
    frames) is rare and may be slow.
    """

    __slots__ = ("buffer", "delivered", "established", "failure", "on_dead", "sock", "subscribed", "upgraded")

    def __init__(self, sock: socket.socket, on_dead: Callable[[Subscriber], None]) -> None:
        self.sock = sock
        #: Called once the socket is finished, so the loop stops polling a dead descriptor.
        self.on_dead = on_dead
        self.buffer = bytearray()
        self.upgraded = False
        self.established = False
        self.subscribed = False
        self.delivered = 0
        self.failure: str | None = None

    def on_readable(self) -> int:
        """Read what is there; return the number of benchmark events it completed."""
        try:
            data = self.sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self.failure = f"recv failed: {exc}"
            self.on_dead(self)
            return 0
        if not data:
            self.failure = self.failure or "closed by the server"
            self.on_dead(self)
            return 0
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return 0
            status = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status:
                self.failure = f"handshake refused: {status!r}"
                return 0
            self.upgraded = True
            del buffer[: end + 4]
        # Walk every complete frame; drop what was consumed once, at the end.
        size = len(buffer)
        pos = 0
        counted = 0
        while size - pos >= 2:
            first = buffer[pos]
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buffer[pos + 2] << 8) | buffer[pos + 3]
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            # Server frames are never masked (RFC 6455 5.1): the payload is buffer[start:end].
            if first == 0x81 and buffer.find(_EVENT_MARKER, start, end) >= 0:
                counted += 1
            else:
                self._control(first & 0x0F, bytes(buffer[start:end]))
            pos = end
        if pos:
            del buffer[:pos]
        self.delivered += counted
        return counted

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == _OP_TEXT:
            if _PING_MARKER in payload:
                self.send(_json_frame({"event": "pusher:pong", "data": {}}))
            elif _ESTABLISHED_MARKER in payload:
                self.established = True
            elif _SUBSCRIBED_MARKER in payload:
                self.subscribed = True
            elif _ERROR_MARKER in payload:
                self.failure = f"pusher:error {payload[:200]!r}"
        elif opcode == _OP_PING:
            self.send(client_frame(_OP_PONG, payload))
        elif opcode == _OP_CLOSE:
            self.failure = f"closed by the server: {payload[:2].hex()} {payload[2:100]!r}"
        else:
            self.failure = f"unexpected frame opcode {opcode}"

    def send(self, data: bytes) -> None:
        """Send a small control message; these fit any socket buffer, so no queueing."""
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.failure = f"send failed: {exc}"

    def subscribe(self, channel: str) -> None:
        self.send(_json_frame({"event": "pusher:subscribe", "data": {"channel": channel}}))


def _settled(subscribers: Sequence[Subscriber], flag: str) -> bool:
    """True once every subscriber has ``flag`` set or has failed."""
    return all(getattr(s, flag) or s.failure for s in subscribers)


def connect_publisher(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class PublishConnection:
    """One HTTP/1.1 connection with at most one request in flight.

    Kept alive where the server allows it; a server that answers ``Connection: close`` (Soketi
    does, on every API response) gets a new connection for the next request, as any HTTP client
    would give it. The reconnect is part of that server's cost and is inside the clock.
    """

    __slots__ = ("address", "buffer", "close_requested", "loop", "pending", "sock")

    def __init__(self, sock: socket.socket, loop: LoadGenerator, address: tuple[str, int]) -> None:
        self.sock = sock
        self.loop = loop
        self.address = address
        self.buffer = bytearray()
        self.pending = False
        self.close_requested = False

    def send_next(self) -> None:
        request = self.loop.next_request()
        if request is None:
            return
        self.pending = True
        self.sock.setblocking(True)
        try:
            self.sock.sendall(request)
        finally:
            self.sock.setblocking(False)

    def on_readable(self) -> int:
        try:
            data = self.sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return 0
        if not data:
            raise LoadError("the publish connection was closed by the server")
        self.buffer += data
        while self.pending and self._complete_response():
            self.pending = False
            self.loop.responses += 1
            if self.close_requested:
                self._reconnect()
            self.send_next()
        return 0

    def _reconnect(self) -> None:
        self.loop._drop(self)
        self.sock = connect_publisher(self.address)
        self.buffer.clear()
        self.close_requested = False
        self.loop._register(self)

    def _complete_response(self) -> bool:
        """Consume one full response from the buffer if there is one; fail on any non-200."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(buffer[:end]).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
        body_start = end + 4
        if "content-length" in headers:
            body_end = body_start + int(headers["content-length"])
            if len(buffer) < body_end:
                return False
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            terminator = buffer.find(b"0\r\n\r\n", body_start)
            if terminator < 0:
                return False
            body_end = terminator + 5
        else:
            raise LoadError(f"response without Content-Length or chunked encoding: {head!r}")
        status = int(status_line.split()[1])
        if status != 200:
            raise LoadError(f"publish answered {status}: {bytes(buffer[body_start:body_end])[:300]!r}")
        self.close_requested = headers.get("connection", "").lower() == "close"
        del buffer[:body_end]
        return True


class LoadGenerator:
    """An epoll loop over subscribers of several servers and the publishers posting to them."""

    def __init__(self) -> None:
        self.epoll = select.epoll()
        self.handlers: dict[int, Subscriber | PublishConnection] = {}
        self.requests: list[bytes] = []
        self.responses = 0
        self.subscribers: list[Subscriber] = []

    def close(self) -> None:
        for handler in list(self.handlers.values()):
            self._drop(handler)
        self.epoll.close()
        for subscriber in self.subscribers:
            subscriber.sock.close()

    def _register(self, handler: Subscriber | PublishConnection) -> None:
        handler.sock.setblocking(False)
        fd = handler.sock.fileno()
        self.handlers[fd] = handler
        self.epoll.register(fd, select.EPOLLIN)

    def _forget(self, handler: Subscriber | PublishConnection) -> None:
        """Stop polling a socket the peer closed; keep it open so its failure can be reported."""
        fd = handler.sock.fileno()
        if self.handlers.pop(fd, None) is not None:
            self.epoll.unregister(fd)

    def _drop(self, handler: Subscriber | PublishConnection) -> None:
        fd = handler.sock.fileno()
        if fd in self.handlers:
            del self.handlers[fd]
            self.epoll.unregister(fd)
        handler.sock.close()

    # -- the loop -----------------------------------------------------------------------------

    def pump(self, done: Callable[[], bool], timeout: float, batch_interval: float = 0.0) -> bool:
        """Serve readable sockets until ``done()`` or ``timeout`` seconds; return ``done()``.

        ``batch_interval`` > 0 sleeps that long between sweeps so reads collect several frames.
        """
        deadline = time.perf_counter() + timeout
        poll = self.epoll.poll
        handlers = self.handlers
        while not done():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            for fd, _ in poll(min(remaining, 0.05)):
                handler = handlers.get(fd)
                if handler is not None:
                    handler.on_readable()
            if batch_interval:
                time.sleep(batch_interval)
        return True

    # -- subscribers --------------------------------------------------------------------------

    def connect(
        self, host: str, port: int, key: str, count: int, *, parallel: int = 64, timeout: float = 60.0
    ) -> list[Subscriber]:
        """Open ``count`` WebSocket connections, ``parallel`` handshakes at a time.

        Returns once each has received ``pusher:connection_established``. The bound on
        handshakes in flight keeps every server's accept backlog from overflowing.
        """
        path = f"/app/{key}?protocol=7&client=pushbridge-bench&version=0.1"
        opened: list[Subscriber] = []
        deadline = time.perf_counter() + timeout
        while len(opened) < count:
            batch = []
            for _ in range(min(parallel, count - len(opened))):
                sock = socket.create_connection((host, port), timeout=10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                )
                sock.sendall(request.encode())
                subscriber = Subscriber(sock, self._forget)
                self._register(subscriber)
                batch.append(subscriber)
            self.pump(functools.partial(_settled, batch, "established"), deadline - time.perf_counter())
            self._check(batch, "established", "connection_established")
            opened.extend(batch)
        self.subscribers.extend(opened)
        return opened

    def subscribe(self, subscribers: Sequence[Subscriber], channel: str, timeout: float = 60.0) -> None:
        """Subscribe each connection to ``channel`` and wait for every confirmation."""
        for subscriber in subscribers:
            subscriber.subscribe(channel)
        self.pump(functools.partial(_settled, subscribers, "subscribed"), timeout)
        self._check(subscribers, "subscribed", "subscription_succeeded")

    @staticmethod
    def _check(subscribers: Sequence[Subscriber], flag: str, what: str) -> None:
        failures = [s.failure for s in subscribers if s.failure]
        if failures:
            raise LoadError(f"{len(failures)} connections failed, e.g. {failures[0]}")
        missing = sum(1 for s in subscribers if not getattr(s, flag))
        if missing:
            raise LoadError(f"{missing} connections did not get {what} in time")

    def disconnect(self, subscribers: Sequence[Subscriber]) -> None:
        """Close cleanly (close frame, then FIN)."""
        for subscriber in subscribers:
            subscriber.send(client_frame(_OP_CLOSE, (1000).to_bytes(2, "big")))
            self._drop(subscriber)

    # -- publishing ---------------------------------------------------------------------------

    def next_request(self) -> bytes | None:
        return self.requests.pop() if self.requests else None

    def open_publishers(self, host: str, port: int, count: int) -> list[PublishConnection]:
        connections = []
        for _ in range(count):
            connection = PublishConnection(connect_publisher((host, port)), self, (host, port))
            self._register(connection)
            connections.append(connection)
        return connections

    def start_publishing(self, connections: Sequence[PublishConnection], requests: Sequence[bytes]) -> None:
        """Queue ``requests`` and put one in flight on each connection; the loop sends the rest."""
        if any(connection.pending for connection in connections):
            raise LoadError("a publish connection still has a request in flight")
        self.requests = list(reversed(requests))
        self.responses = 0
        for connection in connections:
            connection.send_next()

    def run_round(
        self,
        subscribers: Sequence[Subscriber],
        publish_to: tuple[str, int, int],
        requests: Sequence[bytes],
        expected: int,
        timeout: float,
        batch_interval: float,
    ) -> tuple[float, int, bool]:
        """Publish ``requests``, count deliveries until ``expected``; return (seconds, counted, complete).

        ``publish_to`` is (host, port, connections). The publish connections are opened before
        the clock starts and closed after the round, so no server's keep-alive timeout matters.
        The clock starts before the first request is written and stops at the sweep that
        counted the last delivery.
        """
        publishers = self.open_publishers(*publish_to)
        for subscriber in subscribers:
            subscriber.delivered = 0
        total = 0
        deadline_at = time.perf_counter() + timeout
        poll = self.epoll.poll
        handlers = self.handlers
        started = time.perf_counter()
        self.start_publishing(publishers, requests)
        while total < expected:
            now = time.perf_counter()
            if now >= deadline_at:
                for publisher in publishers:
                    self._drop(publisher)
                return now - started, total, False
            for fd, _ in poll(min(deadline_at - now, 0.05)):
                handler = handlers.get(fd)
                if handler is not None:
                    total += handler.on_readable()
            if batch_interval and total < expected:
                time.sleep(batch_interval)
        elapsed = time.perf_counter() - started
        # Let the last responses arrive so the next round starts with idle connections.
        self.pump(lambda: self.responses == len(requests), 30)
        for publisher in publishers:
            self._drop(publisher)
        if self.responses != len(requests):
            raise LoadError(f"only {self.responses} of {len(requests)} publish requests were answered")
        return elapsed, total, True


def event_bodies(channel: str, events: int, payload_bytes: int, batch_size: int = 10) -> list[bytes]:
    """Return the ``batch_events`` request bodies for ``events`` events, ``batch_size`` per request."""
    pad = "x" * max(0, payload_bytes - 24)
    bodies = []
    for first in range(0, events, batch_size):
        batch = [
            {"name": EVENT_NAME, "channel": channel, "data": json.dumps({"seq": seq, "pad": pad})}
            for seq in range(first, min(events, first + batch_size))
        ]
        bodies.append(json.dumps({"batch": batch}).encode())
    return bodies


def signed_requests(host: str, port: int, credentials: Credentials, bodies: Sequence[bytes]) -> list[bytes]:
    """Return complete raw HTTP requests, signed now (the signature holds a timestamp)."""
    path = f"/apps/{credentials.app_id}/batch_events"
    requests = []
    for body in bodies:
        query = sign_request(credentials.key, credentials.secret, "POST", path, body=body)
        query_text = "&".join(f"{name}={value}" for name, value in query.items())
        head = (
            f"POST {path}?{query_text} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests
