"""CORS on the HTTP side: a browser page on another origin may call ``/health`` and the API.

Checked with real chromium: a page served from one origin fetches from the server on another
(a signed ``POST`` with a JSON body, which makes chromium send a preflight first). Without the
headers chromium blocks the response, which the test with a restricted origin shows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from pushbridge.server import EmbeddedServer, ServerOptions
from pushbridge.signing import sign_request
from tests.chromium import launched_chromium

APP_ID, KEY, SECRET = "5150", "cors-key", "cors-secret"
ALLOWED = "https://app.example"


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another origin</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def other_origin() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as launched:
        yield launched


def signed_events_url(server: EmbeddedServer, body: bytes) -> str:
    path = f"/apps/{APP_ID}/events"
    return f"{server.url}{path}?{urlencode(sign_request(KEY, SECRET, 'POST', path, {}, body))}"


def test_health_and_api_answers_carry_cors_headers_and_preflights_are_answered() -> None:
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET) as server:
        health = requests.get(f"{server.url}/health", headers={"Origin": ALLOWED}, timeout=10)
        assert health.headers["Access-Control-Allow-Origin"] == "*"
        refused = requests.post(f"{server.url}/apps/{APP_ID}/events", data=b"{}", timeout=10)
        assert refused.status_code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == "*"
        preflight = requests.options(
            f"{server.url}/apps/{APP_ID}/events",
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
            timeout=10,
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert preflight.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
        assert preflight.headers["Access-Control-Allow-Headers"] == "content-type"


def test_only_the_configured_origins_are_allowed() -> None:
    options = ServerOptions(cors_origins=frozenset({ALLOWED}))
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=options) as server:
        allowed = requests.get(f"{server.url}/ready", headers={"Origin": ALLOWED}, timeout=10)
        assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert allowed.headers["Vary"] == "Origin"
        other = requests.get(f"{server.url}/ready", headers={"Origin": "https://evil.example"}, timeout=10)
        assert "Access-Control-Allow-Origin" not in other.headers


FETCH = """async ([url, init]) => {
    try {
        const response = await fetch(url, init);
        return {status: response.status, body: await response.json()};
    } catch (error) {
        return {error: String(error)};
    }
}"""


def test_chromium_on_another_origin_reads_health_and_publishes_through_the_api(browser: Any, other_origin: str) -> None:
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET) as server:
        page = browser.new_page()
        try:
            page.goto(other_origin)
            health = page.evaluate(FETCH, [f"{server.url}/health", {}])
            assert health["status"] == 200
            assert health["body"]["ok"] is True
            body = json.dumps({"name": "from-browser", "channel": "public", "data": "{}"}).encode()
            init = {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": body.decode()}
            published = page.evaluate(FETCH, [signed_events_url(server, body), init])
            assert published == {"status": 200, "body": {}}
        finally:
            page.close()


def test_chromium_is_blocked_from_an_origin_that_is_not_allowed(browser: Any, other_origin: str) -> None:
    options = ServerOptions(cors_origins=frozenset({ALLOWED}))
    with EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET, options=options) as server:
        page = browser.new_page()
        try:
            page.goto(other_origin)
            blocked = page.evaluate(FETCH, [f"{server.url}/health", {}])
            assert "Failed to fetch" in blocked["error"]
        finally:
            page.close()
