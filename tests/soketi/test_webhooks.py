"""One webhook shape: real webhooks from Soketi and from the embedded server into Django's view.

Each service posts to pushbridge's webhook view in a live Django server; pusher-js clients
cause every kind of event. The signals must receive the same types from both, and from a body
in hosted Pusher's documented shape (which cannot be reached from here): ``data`` of a client
event is JSON text, ``user_id`` a string, even when the service sent them otherwise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from pushbridge import signing
from pushbridge.server import EmbeddedServer
from pushbridge.signals import WEBHOOK_SIGNALS
from tests.server.peers import EventLog, NodePeers, node_available
from tests.soketi.conftest import KEY, MASTER_KEY, SECRET, settings_for
from tests.soketi.launcher import SoketiNode, app, soketi_installed

pytestmark = [pytest.mark.peers, pytest.mark.django_db(transaction=True)]

WEBHOOK_PATH = "/pushbridge/webhooks/"


@pytest.fixture(scope="module")
def soketi_with_webhooks(live_server: Any) -> Iterator[SoketiNode]:
    if not soketi_installed():
        pytest.skip("Soketi is not installed: ./scripts/test installs it (npm ci --prefix tests/soketi)")
    node = SoketiNode([app(webhook_url=live_server.url + WEBHOOK_PATH)]).start()
    yield node
    node.close()


@pytest.fixture(scope="module")
def embedded_with_webhooks(live_server: Any) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(port=0, app_id="app-id", key=KEY, secret=SECRET, webhook_url=live_server.url + WEBHOOK_PATH)
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture(params=["soketi", "embedded"])
def service(request: pytest.FixtureRequest) -> Iterator[int]:
    """The port of a service that posts its webhooks to the live server; ``default`` points at it."""
    if request.param == "soketi":
        node: SoketiNode = request.getfixturevalue("soketi_with_webhooks")
        port, entry = node.port, settings_for(node)
    else:
        server: EmbeddedServer = request.getfixturevalue("embedded_with_webhooks")
        port, entry = server.port, {"BACKEND": "embedded", "HOST": "127.0.0.1", "PORT": server.port}
    with override_settings(PUSHBRIDGE={"default": {**entry, "KEY": KEY, "SECRET": SECRET, "APP_ID": "app-id"}}):
        yield port


@pytest.fixture
def signals() -> Iterator[EventLog]:
    log = EventLog()
    receivers = {}
    for name, signal in WEBHOOK_SIGNALS.items():

        def receiver(sender: str, signal: Any, name: str = name, **kwargs: Any) -> None:
            log.add({**kwargs, "signal": name})

        receivers[name] = receiver
        signal.connect(receiver)
    yield log
    for name, signal in WEBHOOK_SIGNALS.items():
        signal.disconnect(receivers[name])


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**9}"


def test_every_signal_gets_the_same_types_from_each_service(service: int, signals: EventLog) -> None:
    if not node_available():
        pytest.skip("node is not installed; the pusher-js tests need Node 20")
    presence, cache = unique("presence-hooks"), unique("cache-hooks")
    peers = NodePeers("127.0.0.1", service, KEY, SECRET, MASTER_KEY)
    try:
        peers.connect("a")
        peers.connect("b")
        # A numeric user id, as an auth endpoint may well give (user.pk).
        peers.subscribe("a", presence, user={"user_id": 7, "user_info": {"name": "Ann"}})
        peers.subscribe("b", presence, user={"user_id": "bob", "user_info": {"name": "Bob"}})
        peers.wait_event("a", presence, "pusher:member_added")
        peers.command("trigger", client="a", channel=presence, event="client-wave", data={"hi": 1, "text": "é"})
        peers.command("trigger", client="b", channel=presence, event="client-note", data="plain text")
        peers.subscribe("a", cache)
        peers.command("unsubscribe", client="b", channel=presence)

        def seen(signal: str, **fields: Any) -> dict[str, Any]:
            return signals.wait_for(
                lambda e: e["signal"] == signal and all(e.get(k) == v for k, v in fields.items()),
                what=f"{signal} {fields}",
            )

        seen("channel_occupied", channel=presence)
        added = seen("member_added", channel=presence, user_id="7")
        wave = seen("client_event", channel=presence, event="client-wave")
        note = seen("client_event", channel=presence, event="client-note")
        seen("cache_miss", channel=cache)
        seen("member_removed", channel=presence, user_id="bob")
        peers.command("disconnect", client="a")
        vacated = seen("channel_vacated", channel=presence)
    finally:
        peers.close()

    assert json.loads(wave["data"]) == {"hi": 1, "text": "é"}
    assert isinstance(wave["data"], str)
    assert wave["user_id"] == "7"
    assert isinstance(wave["socket_id"], str)
    assert note["data"] == "plain text"
    assert note["user_id"] == "bob"
    for entry in (added, wave, vacated):
        assert isinstance(entry["time_ms"], int)
        assert isinstance(entry["payload"], dict)


def test_hosted_pushers_documented_shape_gets_the_same_types(signals: EventLog) -> None:
    """Pusher itself cannot be reached from the test machine: its documented body, signed."""
    events = [
        {"name": "member_added", "channel": "presence-x", "user_id": "7"},
        {
            "name": "client_event",
            "channel": "presence-x",
            "event": "client-wave",
            "data": '{"hi":1}',
            "socket_id": "123.456",
            "user_id": "7",
        },
    ]
    raw = json.dumps({"time_ms": int(time.time() * 1000), "events": events})
    entry = {"BACKEND": "pusher", "APP_ID": "1", "KEY": KEY, "SECRET": SECRET}
    with override_settings(PUSHBRIDGE={"default": entry}):
        response = Client().post(
            WEBHOOK_PATH,
            raw,
            content_type="application/json",
            headers={"X-Pusher-Key": KEY, "X-Pusher-Signature": signing.sign_webhook(SECRET, raw.encode())},
        )
    assert response.status_code == 200
    [added, wave] = signals.items()
    assert added["user_id"] == "7"
    assert (wave["data"], wave["user_id"], wave["socket_id"]) == ('{"hi":1}', "7", "123.456")
