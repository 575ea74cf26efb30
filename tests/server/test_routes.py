"""Which endpoint answers which request, without an aiohttp application's router."""

from __future__ import annotations

import pytest
import requests
from aiohttp.test_utils import make_mocked_request

from pushbridge.engine.routes import websocket_key
from tests.server.conftest import KEY


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("GET", "/app/app-key", "app-key"),
        ("GET", "/app/app-key?protocol=7&client=js", "app-key"),
        ("HEAD", "/app/app-key", "app-key"),
        ("GET", "/app/k%20y", "k y"),
        ("POST", "/app/app-key", None),
        ("OPTIONS", "/app/app-key", None),
        ("GET", "/app/", None),
        ("GET", "/app/app-key/", None),
        ("GET", "/app/a/b", None),
        ("GET", "/apps/1/events", None),
        ("GET", "/application", None),
    ],
)
def test_only_get_on_app_and_one_segment_is_the_websocket(method: str, path: str, key: str | None) -> None:
    assert websocket_key(make_mocked_request(method, path)) == key


@pytest.mark.peers
def test_the_websocket_path_without_an_upgrade_says_how_to_connect(server) -> None:
    reply = requests.get(f"{server.url}/app/{KEY}", timeout=10)
    assert reply.status_code == 400
    assert "connect with a Pusher client" in reply.json()["error"]
    # Another method on that path is an HTTP API request, answered (with an error) by the API.
    other = requests.post(f"{server.url}/app/{KEY}", timeout=10)
    assert other.status_code == 404
    assert "error" in other.json()
