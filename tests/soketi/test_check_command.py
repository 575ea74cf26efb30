"""``manage.py pushbridge_check`` against a real Soketi and the embedded server: every wrong credential fails.

Soketi's HTTP API checks only the secret, so the key is proven by a WebSocket opened with it,
as a browser would; a wrong key is refused with 4001.
"""

from __future__ import annotations

import sys
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from pushbridge.browser_probe import websocket_url
from tests.services.process import free_port
from tests.soketi.conftest import settings_for

pytestmark = pytest.mark.peers


def check() -> str:
    out = StringIO()
    call_command("pushbridge_check", stdout=out)
    return out.getvalue()


def test_right_credentials_pass_with_both_proofs(soketi):
    with override_settings(PUSHBRIDGE={"default": settings_for(soketi)}):
        output = check()
    assert "reachable, credentials accepted" in output
    assert f"the key by a WebSocket at ws://127.0.0.1:{soketi.port}/app/app-key" in output


@pytest.mark.parametrize(
    ("wrong", "reason"),
    [
        ({"KEY": "wrong-key"}, "The app key 'wrong-key' was refused by the WebSocket server (4001"),
        ({"SECRET": "wrong"}, "The secret authentication failed"),
        ({"APP_ID": "nope"}, "The app nope could not be found"),
    ],
)
def test_each_wrong_credential_fails_with_its_reason(soketi, wrong: dict[str, Any], reason: str):
    with (
        override_settings(PUSHBRIDGE={"default": settings_for(soketi, RETRIES=0, **wrong)}),
        pytest.raises(CommandError) as caught,
    ):
        check()
    assert reason in str(caught.value)
    assert "credentials accepted" not in str(caught.value)


def test_browsers_address_is_the_one_probed(soketi):
    # CLIENT_OPTIONS sends browsers elsewhere (here: nowhere): the check must go there too.
    entry = settings_for(soketi, CLIENT_OPTIONS={"wsPort": 9, "wsHost": "127.0.0.1"}, TIMEOUT=1)
    with (
        override_settings(PUSHBRIDGE={"default": entry}),
        pytest.raises(CommandError, match="Could not open a WebSocket"),
    ):
        check()


def test_embedded_server_key_is_proven_too(pushbridge_live_server):
    output = check()
    assert "credentials accepted" in output
    assert f"the key by a WebSocket at ws://127.0.0.1:{pushbridge_live_server.port}/app/" in output


def test_hosted_pusher_address() -> None:
    assert websocket_url({"key": "k", "cluster": "eu", "forceTLS": True, "wsHost": "ws-eu.pusher.com"}).startswith(
        "wss://ws-eu.pusher.com:443/app/k?protocol=7"
    )


def test_every_host_of_hosts_is_queried(soketi):
    both = [f"127.0.0.1:{soketi.port}", f"localhost:{soketi.port}"]
    with override_settings(PUSHBRIDGE={"default": settings_for(soketi, HOST=None, HOSTS=both)}):
        output = check()
    assert f"default: http://127.0.0.1:{soketi.port} reachable, secret accepted." in output
    assert f"default: http://localhost:{soketi.port} reachable, secret accepted." in output
    dead = f"127.0.0.1:{free_port()}"
    entry = settings_for(soketi, HOST=None, HOSTS=[f"127.0.0.1:{soketi.port}", dead], RETRIES=0)
    with override_settings(PUSHBRIDGE={"default": entry}), pytest.raises(CommandError) as caught:
        check()
    assert f"default: http://{dead}: " in str(caught.value)
    assert "Could not connect" in str(caught.value)


def test_without_websocket_client_the_check_says_what_to_install(soketi, monkeypatch):
    monkeypatch.setitem(sys.modules, "websocket", None)  # as if not installed
    with (
        override_settings(PUSHBRIDGE={"default": settings_for(soketi)}),
        pytest.raises(CommandError, match=r'needs websocket-client: pip install "pushbridge\[check\]"'),
    ):
        check()
