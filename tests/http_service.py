"""Real local HTTP services for the HTTP backend's tests, on free loopback ports.

* ``api_server``: pytest-httpserver (a werkzeug server) that answers what a test tells it to
  and logs every request it got, for URLs, signing, bodies, statuses and headers. werkzeug
  closes the connection after every reply.
* :func:`raw_service`: the standard library's HTTP server, keep-alive like Pusher and Soketi,
  answering each request with bytes the test wrote: for what a well-behaved server never
  sends (broken chunks, a closed connection, a reply that stalls), and to count connections.
* :func:`refused_port` and :func:`unanswered_port`: where connecting is refused, or hangs
  until the connect timeout (a full accept queue drops the SYN, as an unreachable host does).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

#: A complete keep-alive reply with an empty JSON object.
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture(scope="session")
def _api_server_process() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def api_server(_api_server_process: HTTPServer) -> Iterator[HTTPServer]:
    """The API server, with no expectations and an empty log; a request it did not expect fails the test."""
    server = _api_server_process
    server.clear()
    yield server
    server.check_handler_errors()
    server.clear()


@dataclass
class RawService:
    """What :func:`raw_service` saw: each request's client port (one per connection), method and path."""

    replies: list[bytes]
    hold: float
    barrier: threading.Barrier | None
    port: int = 0
    requests: list[tuple[int, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def connections(self) -> int:
        return len({client_port for client_port, _, _ in self.requests})

    def next_reply(self) -> bytes:
        with self.lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class _RawHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the Pusher API and Soketi answer
    service: RawService

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.service.lock:
            self.service.requests.append((self.client_address[1], self.command, self.path))
        if self.service.barrier is not None:
            self.service.barrier.wait(10)  # every request of a wave in flight at once
        reply = self.service.next_reply()
        if not reply:
            self.close_connection = True  # closed without a word
            return
        self.wfile.write(reply)
        self.wfile.flush()
        if self.service.hold:
            time.sleep(self.service.hold)  # a reply that stalls part way
            self.close_connection = True

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def raw_service(*replies: bytes, hold: float = 0.0, wave: int = 0, port: int = 0) -> Iterator[RawService]:
    """Answer requests with ``replies`` in turn (the last one repeats); ``b""`` closes unanswered.

    ``hold`` keeps the connection open that long after writing the reply, then closes it;
    ``wave`` makes each request wait until that many are in flight together; ``port`` 0 is a free one.
    """
    service = RawService(list(replies or (OK,)), hold, threading.Barrier(wave) if wave else None)
    handler = type("RawHandler", (_RawHandler,), {"service": service})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    service.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


def refused_port() -> int:
    """A loopback port nothing listens on, so connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full: connecting hangs until the client's connect timeout."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        filler.connect(("127.0.0.1", port))  # takes the one place in the queue; never accepted
        yield port
