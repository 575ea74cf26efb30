"""What Soketi's own settings do to pushbridge (docs/soketi.md says which to change, and why).

Soketi's defaults switch off signin and client events: ``send_to_user()`` and
``terminate_user_connections()`` are accepted and reach nobody, client events are refused with
4301, and ``pushbridge_check`` warns about both. With signin on, Soketi closes a connection that
has not signed in within ``userAuthenticationTimeout`` with 4009, which pusher-js does not
reconnect from.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

import pushbridge
from tests.server.peers import NodePeers, node_available
from tests.soketi.conftest import KEY, MASTER_KEY, SECRET, settings_for
from tests.soketi.launcher import SoketiNode, app, soketi_installed

pytestmark = pytest.mark.peers

#: An app as Soketi's documentation shows it: credentials only, every switch at its default.
DEFAULT_APP = {"id": "app-id", "key": KEY, "secret": SECRET}


@pytest.fixture(scope="module")
def soketi_defaults() -> Iterator[SoketiNode]:
    if not soketi_installed():
        pytest.skip("Soketi is not installed: ./scripts/test installs it (npm ci --prefix tests/soketi)")
    node = SoketiNode([DEFAULT_APP]).start()
    yield node
    node.close()


@pytest.fixture
def js_peers_of(request: pytest.FixtureRequest) -> Iterator[object]:
    if not node_available():
        pytest.skip("node is not installed; the pusher-js tests need Node 20")
    drivers: list[NodePeers] = []

    def make(node: SoketiNode) -> NodePeers:
        driver = NodePeers("127.0.0.1", node.port, KEY, SECRET, MASTER_KEY)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.close()


def test_defaults_switch_off_signin_and_client_events(soketi_defaults, js_peers_of):
    peers = js_peers_of(soketi_defaults)
    peers.connect("a")
    peers.connect("b")
    peers.command("signin", client="a", user={"id": "ann"})
    channel = "private-defaults"
    peers.subscribe("a", channel)
    peers.subscribe("b", channel)
    peers.command("trigger", client="a", channel=channel, event="client-typing", data={})
    refused = peers.log.wait_for(lambda e: e["type"] == "error" and e["client"] == "a", what="4301 refusal")
    assert refused["data"]["data"]["code"] == 4301
    with override_settings(PUSHBRIDGE={"default": settings_for(soketi_defaults)}):
        pushbridge.send_to_user("ann", "notice", {})  # accepted by the HTTP API...
        pushbridge.terminate_user_connections("ann")
        pushbridge.trigger(channel, "after", {})  # (a later event, to know the first had its chance)
        peers.wait_event("a", channel, "after")
    assert not [e for e in peers.log.items() if e["type"] == "user_event"]  # ...and reaches nobody
    assert not [e for e in peers.log.items() if e["type"] == "state" and e["previous"] == "connected"]
    assert not peers.events("b", channel, "client-typing")


def test_check_warns_when_signin_and_client_events_are_off(soketi_defaults):
    out, err = StringIO(), StringIO()
    with override_settings(PUSHBRIDGE={"default": settings_for(soketi_defaults)}):
        call_command("pushbridge_check", stdout=out, stderr=err)
    assert "credentials accepted" in out.getvalue()
    assert "signin is off on the server, so send_to_user() and terminate_user_connections() reach nobody" in (
        err.getvalue()
    )
    assert "client events are refused (4301: The app does not have client messaging enabled.)" in err.getvalue()


def test_check_is_quiet_when_everything_is_on(soketi):
    out, err = StringIO(), StringIO()
    with override_settings(PUSHBRIDGE={"default": settings_for(soketi)}):
        call_command("pushbridge_check", stdout=out, stderr=err)
    assert "credentials accepted" in out.getvalue()
    assert err.getvalue() == ""


def test_signin_timeout_closes_connections_that_do_not_sign_in(js_peers_of):
    if not soketi_installed():
        pytest.skip("Soketi is not installed")
    node = SoketiNode([app()], {"userAuthenticationTimeout": 3000}).start()
    try:
        peers = js_peers_of(node)
        peers.connect("anonymous")
        peers.connect("member")
        peers.command("signin", client="member", user={"id": "ann"})
        closed = peers.log.wait_for(
            lambda e: e["type"] == "error" and e["client"] == "anonymous", what="the unsigned connection to be closed"
        )
        assert closed["data"]["data"] == {"code": 4009, "message": "Connection not authorized within timeout."}
        peers.log.wait_for(
            lambda e: e["type"] == "state" and e["client"] == "anonymous" and e["current"] != "connected"
        )
        with override_settings(PUSHBRIDGE={"default": settings_for(node)}):
            pushbridge.send_to_user("ann", "still-here", {})
        peers.log.wait_for(lambda e: e["type"] == "user_event" and e["event"] == "still-here")
        states = [e["current"] for e in peers.log.items() if e["type"] == "state" and e["client"] == "anonymous"]
        assert "connected" not in states[states.index("connected") + 1 :]  # pusher-js gave up: no reconnect
    finally:
        node.close()
