"""Helpers that drive real, unmodified peers against the embedded server.

Every helper records what its peer saw in an :class:`EventLog` and lets the test wait for a
matching entry with a generous timeout. Waiting never throws entries away (events on different
channels arrive in no promised order), and nothing here asserts on timing.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pysher
from pysher.channel import Channel

WAIT = 10.0  # seconds: generous, for a loaded 2-core machine.
NODE_DIR = Path(__file__).resolve().parents[1] / "node"


class EventLog:
    """A thread-safe list of observations with blocking, non-destructive waits."""

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def add(self, item: dict[str, Any]) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def items(self) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._items)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT, what: str = ""
    ) -> dict[str, Any]:
        """Return the first entry matching ``predicate``, waiting up to ``timeout`` for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for item in self._items:
                    if predicate(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"Timed out waiting for {what or predicate}; saw {self._items!r}")
                self._changed.wait(remaining)

    def wait_count(
        self, predicate: Callable[[dict[str, Any]], bool], count: int, timeout: float = WAIT
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [item for item in self._items if predicate(item)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"Expected {count} matching entries, saw {found!r} in {self._items!r}")
                self._changed.wait(remaining)

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._changed:
            return [item for item in self._items if predicate(item)]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    """Poll ``condition`` (e.g. the server's own counts) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}")
        time.sleep(0.02)


# -- pysher -----------------------------------------------------------------------------------


class _KeepFirst(dict):  # type: ignore[type-arg]
    """pysher's channel registry, keeping the Channel registered (and bound) before subscribe."""

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self:
            super().__setitem__(key, value)


class PysherPeer:
    """A pysher client pointed at the embedded server (the protocol:
    https://pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol/)."""

    def __init__(self, host: str, port: int, key: str, secret: str, user_data: dict[str, Any] | None = None) -> None:
        self.log = EventLog()
        self.client = pysher.Pusher(
            key,
            custom_host=host,
            port=port,
            secure=False,
            secret=secret,
            user_data=user_data,
            log_level=logging.WARNING,
            reconnect_interval=1,
        )
        self.client.channels = _KeepFirst()
        self.socket_ids: list[str] = []
        self.client.connection.bind("pusher:connection_established", self._established)
        self.client.connection.bind("pusher:error", lambda data: self.log.add({"event": "pusher:error", "data": data}))

    def _established(self, data: str) -> None:
        socket_id = json.loads(data)["socket_id"]
        self.socket_ids.append(socket_id)
        self.log.add({"event": "pusher:connection_established", "socket_id": socket_id})

    def connect(self) -> PysherPeer:
        self.client.connect()
        self.log.wait_for(lambda e: e["event"] == "pusher:connection_established", what="pysher handshake")
        return self

    @property
    def socket_id(self) -> str:
        return self.socket_ids[-1]

    def subscribe(self, channel: str, *events: str, wait: bool = True) -> Any:
        """Subscribe with bindings registered before the subscribe frame leaves."""
        log = self.log

        def record(event: str) -> Callable[[Any], None]:
            return lambda data=None: log.add({"event": event, "channel": channel, "data": data})

        # pysher sends pusher:subscribe before it registers its Channel object, and a local
        # server can answer first: register a bound Channel now and keep it (see _KeepFirst).
        channel_obj = Channel(channel, self.client.connection)
        self.client.channels.pop(channel, None)
        self.client.channels[channel] = channel_obj
        for event in (
            "pusher_internal:subscription_succeeded",
            "pusher:subscription_error",
            "pusher:cache_miss",
            "pusher_internal:member_added",
            "pusher_internal:member_removed",
            *events,
        ):
            channel_obj.bind(event, record(event))
        self.client.subscribe(channel)
        if wait:
            self.log.wait_for(
                lambda e: (
                    e.get("channel") == channel
                    and e["event"] in ("pusher_internal:subscription_succeeded", "pusher:subscription_error")
                ),
                what=f"subscription reply for {channel}",
            )
        return channel_obj

    def events(self, channel: str, event: str) -> list[dict[str, Any]]:
        return self.log.matching(lambda e: e.get("channel") == channel and e["event"] == event)

    def send(self, message: dict[str, Any] | str) -> None:
        """Send a raw frame through pysher's socket (for malformed-input tests)."""
        text = message if isinstance(message, str) else json.dumps(message)
        self.client.connection.socket.send(text)

    def close(self) -> None:
        self.client.disconnect(timeout=1)


# -- pusher-js in Node -------------------------------------------------------------------------


def node_available() -> bool:
    return shutil.which("node") is not None


class NodePeers:
    """One Node process running tests/node/driver.js: any number of pusher-js clients."""

    def __init__(self, host: str, port: int, key: str, secret: str, master_key_b64: str = "") -> None:
        if not (NODE_DIR / "node_modules" / "pusher-js").is_dir():
            raise RuntimeError(f"pusher-js is not installed: run `npm ci --prefix {NODE_DIR}` first.")
        self.log = EventLog()
        self._seq = 0
        self.process = subprocess.Popen(
            ["node", str(NODE_DIR / "driver.js"), host, str(port), key, secret, master_key_b64],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.log.wait_for(lambda e: e["type"] == "ready", what="node driver to start")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.strip()
            if line:
                try:
                    self.log.add(json.loads(line))
                except ValueError:
                    self.log.add({"type": "stdout", "line": line})

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def command(self, op: str, **fields: Any) -> None:
        self._seq += 1
        seq = self._seq
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, "seq": seq, **fields}) + "\n")
        self.process.stdin.flush()
        self.log.wait_for(lambda e: e["type"] == "ack" and e["seq"] == seq, what=f"driver ack of {op}")

    def connect(self, client: str) -> str:
        """Connect a pusher-js client; return its socket id once it is connected."""
        self.command("connect", client=client)
        entry = self.log.wait_for(
            lambda e: e["type"] == "state" and e["client"] == client and e["current"] == "connected",
            what=f"pusher-js {client} connected",
        )
        return str(entry["socket_id"])

    def subscribe(
        self,
        client: str,
        channel: str,
        *,
        user: dict[str, Any] | None = None,
        wait: bool = True,
        metadata_for: str | None = None,
    ) -> dict[str, Any] | None:
        self.command("subscribe", client=client, channel=channel, user=user, metadata_for=metadata_for)
        if not wait:
            return None
        return self.log.wait_for(
            lambda e: (
                e["type"] == "event"
                and e["client"] == client
                and e["channel"] == channel
                and e["event"] in ("pusher:subscription_succeeded", "pusher:subscription_error")
            ),
            what=f"{client} subscription to {channel}",
        )

    def wait_event(self, client: str, channel: str, event: str, **match: Any) -> dict[str, Any]:
        return self.log.wait_for(
            lambda e: (
                e["type"] == "event"
                and e["client"] == client
                and e["channel"] == channel
                and e["event"] == event
                and all(e.get(k) == v for k, v in match.items())
            ),
            what=f"{client} to receive {event} on {channel}",
        )

    def events(self, client: str, channel: str, event: str) -> list[dict[str, Any]]:
        return self.log.matching(
            lambda e: e["type"] == "event" and e["client"] == client and e["channel"] == channel and e["event"] == event
        )

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


# -- webhook receiver --------------------------------------------------------------------------


class WebhookReceiver:
    """A tiny HTTP server that records every POST (headers and raw body).

    ``fail_next`` makes it answer ``fail_status`` (500 unless changed) that many times first,
    to exercise the sender's retries.
    """

    def __init__(self) -> None:
        self.requests = EventLog()
        self.fail_next = 0
        self.fail_status = 500
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    receiver.requests.add({"failed": True, "body": body})  # before the sender can see the reply
                    self.send_response(receiver.fail_status)
                    self.end_headers()
                    return
                receiver.requests.add({"failed": False, "headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhooks"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> Iterator[dict[str, Any]]:
        for request in self.requests.items():
            if not request["failed"]:
                yield from json.loads(request["body"])["events"]

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events():
                if predicate(event):
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"No matching webhook event; saw {list(self.events())!r}")
            time.sleep(0.02)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
