"""Several webhook endpoints per app, each receiving only the event types it chose.

Real peers: pysher clients make the events (a presence subscription, a client event, leaving),
and three receivers stand for three endpoints: channel existence only, presence and client
events only, and everything (``webhook_url``, as before).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pushbridge.engine.webhook_endpoints import WebhookEndpoint, parse_webhook
from pushbridge.server import EmbeddedServer, build_parser, server_from_args
from tests.server.peers import PysherPeer, WebhookReceiver, wait_until

APP_ID, KEY, SECRET = "8080", "hooks-key", "hooks-secret"
EXISTENCE = frozenset({"channel_occupied", "channel_vacated"})
PRESENCE_AND_CLIENT = frozenset({"member_added", "member_removed", "client_event"})


@pytest.fixture
def receivers() -> Iterator[list[WebhookReceiver]]:
    made = [WebhookReceiver() for _ in range(3)]
    yield made
    for receiver in made:
        receiver.close()


def names(receiver: WebhookReceiver) -> list[str]:
    return [event["name"] for event in receiver.events()]


def test_each_endpoint_gets_only_the_event_types_it_chose(receivers: list[WebhookReceiver]) -> None:
    existence, presence, everything = receivers
    endpoints = [WebhookEndpoint(existence.url, EXISTENCE), WebhookEndpoint(presence.url, PRESENCE_AND_CLIENT)]
    server = EmbeddedServer(
        port=0, app_id=APP_ID, key=KEY, secret=SECRET, webhook_url=everything.url, webhooks=endpoints
    )
    with server:
        channel = "presence-hooks"
        alice = PysherPeer("127.0.0.1", server.port, KEY, SECRET, user_data={"user_id": "alice"}).connect()
        bob = PysherPeer("127.0.0.1", server.port, KEY, SECRET, user_data={"user_id": "bob"}).connect()
        try:
            alice.subscribe(channel)
            bob_channel = bob.subscribe(channel, "client-hi")
            bob_channel.trigger("client-hi", {"n": 1})
        finally:
            bob.close()
            alice.close()
        everything.wait_event(lambda e: e["name"] == "channel_vacated")
        wait_until(lambda: "channel_vacated" in names(existence), what="the existence endpoint's vacated event")
        wait_until(lambda: names(presence).count("member_removed") == 2, what="both members to leave")
    assert sorted(names(existence)) == ["channel_occupied", "channel_vacated"]
    assert sorted(names(presence)) == [
        "client_event",
        "member_added",
        "member_added",
        "member_removed",
        "member_removed",
    ]
    assert sorted(names(everything)) == sorted(names(existence) + names(presence))
    for receiver in receivers:  # every endpoint's posts are signed for the app
        for request in receiver.requests.items():
            assert request["headers"]["X-Pusher-Key"] == KEY


def test_the_command_line_takes_several_endpoints_and_keeps_webhook_url() -> None:
    args = ["--webhook-url", "http://h/all", "--webhook", "member_added,member_removed=http://h/presence?x=1"]
    args += ["--webhook", "https://h/also-all"]
    server = server_from_args(build_parser().parse_args(["--app-id", "9", *args]))
    assert server.webhooks == {
        "9": (
            WebhookEndpoint("http://h/all"),
            WebhookEndpoint("http://h/presence?x=1", frozenset({"member_added", "member_removed"})),
            WebhookEndpoint("https://h/also-all"),
        )
    }
    assert server.app.webhooks


def test_a_bad_endpoint_is_refused_with_the_value_and_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--webhook", "member_joined=http://h/x"])
    error = capsys.readouterr().err
    assert "['member_joined']" in error
    assert "'member_added'" in error
    assert "'cache_miss'" in error
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        parse_webhook("ftp://h/x")
