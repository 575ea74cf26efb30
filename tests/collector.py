"""A tiny HTTP server that plays a Pusher-style service: it records the data of every event."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    received: list[Any]
    delay: float

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)  # a slow service keeps a queue full while the test acts
        for item in body.get("batch", [body]):
            self.received.append(json.loads(item["data"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def collector(delay: float = 0.0) -> Iterator[tuple[int, list[Any]]]:
    """Yield the port and the list that fills with each event's decoded data, in arrival order."""
    received: list[Any] = []
    handler = type("Collector", (_Handler,), {"received": received, "delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def run_against_collector(script: str) -> tuple[subprocess.CompletedProcess[str], list[Any]]:
    """Run ``script`` in a new Python process (``sys.argv[1]`` is the collector's port), to its end."""
    with collector() as (port, received):
        result = subprocess.run(
            [sys.executable, "-c", script, str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).parent.parent,
        )
    return result, received
