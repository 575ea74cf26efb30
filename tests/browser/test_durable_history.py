"""Recovery against pushbridge's real history: durable mode, the history endpoint, the position tag.

The browser site runs with ``chaos_settings`` (durable dispatch, history for ``chaos-*`` and
``private-chaos-*``) and sends to the session's embedded server. Pages render the channel's
position with ``{% pushbridge_position %}``; events are committed by the site's own
transactions (``trigger()`` in ``atomic()``), relayed after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pushbridge.server import EmbeddedServer
from tests.browser.conftest import PUSHER_JS, WAIT_MS, ShimPage
from tests.browser.live_django import DjangoSite

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def durable_site(push_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DjangoSite]:
    site = DjangoSite(
        push_port=push_server.port,
        directory=tmp_path_factory.mktemp("durable-site"),
        settings="tests.browser.django_site.chaos_settings",
    ).start()
    yield site
    site.stop()


def commit(site: DjangoSite, channel: str, seq: int) -> None:
    """One committed transaction that calls trigger(channel, "note.triggered", {seq})."""
    item = {"channel": channel, "seq": seq, "kind": "trigger", "savepoint_rolls_back": False}
    assert site.post("/chaos/step/", {"step": seq, "items": [item], "rolls_back": False}) == {"committed": True}


def open_durable_page(browser: Any, site: DjangoSite, client: str, channel: str) -> ShimPage:
    context = browser.new_context()
    page = ShimPage(context.new_page())
    page.page.set_default_timeout(WAIT_MS)
    page.page.goto(site.page_url(client, user="kim", channel=channel, kind="durable"))
    return page


def seqs(page: ShimPage, channel: str, count: int) -> list[int]:
    key = f"{channel}|note.triggered"
    entries = page.wait("([key, n]) => got(key).length >= n && got(key)", [key, count])
    return [entry["data"]["seq"] for entry in entries]


SUBSCRIBE = {
    "shim": """(name) => {
        window.pb = PushBridge.fromPage();
        window.channel = window.pb.subscribe(name, {since: window.renderPosition});
        window.channel.bind('note.triggered', (d) => record(name, 'note.triggered', d));
    }""",
    "pusher-js": """(name) => {
        window.pb = PushBridgePusher.fromPage(Pusher);
        window.channel = PushBridgePusher.withHistory(window.pb, name, {since: window.renderPosition});
        window.channel.bind('note.triggered', (d) => record(name, 'note.triggered', d));
    }""",
}


@pytest.mark.parametrize(("client", "prefix"), [("shim", "chaos-render-"), ("pusher-js", "private-chaos-render-")])
def test_render_gap_and_reconnect_against_the_real_history(
    browser: Any, durable_site: DjangoSite, client: str, prefix: str
) -> None:
    if client == "pusher-js" and not PUSHER_JS.exists():
        pytest.skip("pusher-js is not installed (run: npm ci --prefix tests/node)")
    channel = prefix + uuid.uuid4().hex[:10]
    commit(durable_site, channel, 1)  # before the render: its effect is on the page already
    page = open_durable_page(browser, durable_site, client, channel)
    try:
        assert page.js("() => window.renderPosition") == 1
        commit(durable_site, channel, 2)  # after the render, before the subscription: must arrive once
        page.js(SUBSCRIBE[client], channel)
        assert seqs(page, channel, 1) == [2]

        page.js("() => window.pb.disconnect()")
        commit(durable_site, channel, 3)  # while the page is away
        page.js("() => window.pb.connect()")
        assert seqs(page, channel, 2) == [2, 3]
        commit(durable_site, channel, 4)
        assert seqs(page, channel, 3) == [2, 3, 4]
        assert page.js("() => window.channel.position") == 4
    finally:
        page.page.context.close()
