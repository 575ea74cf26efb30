"""Recovery of missed events in chromium: the shim and pushbridge-pusher.js (pusher-js, Echo).

The pages come from the real Django site of ``tests.browser.django_site``; its stand-in
history follows the history contract (envelope, positions, ``GET ?channel&since``, resync
past the window of 20, 403/404 JSON). Events are published through it: ``send=False``
records an event without sending it, as when a page is offline or a relay has not sent yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pusher
import pytest

from tests.browser.conftest import PUSHER_JS, ShimPage
from tests.browser.live_django import DjangoSite

pytestmark = pytest.mark.browser

OpenPage = Callable[..., ShimPage]
Name = Callable[[str], str]


def shim_page(open_django_page: OpenPage, channel: str, *, user: str = "hana", since: bool = False) -> ShimPage:
    """A shim page subscribed to ``channel`` (since its render-time position if ``since``), recording "update"."""
    page = open_django_page("shim", user=user, channel=channel)
    page.connect()
    page.js(
        """([name, since]) => {
            const channel = window.pb.subscribe(name, since ? {since: window.renderPosition} : undefined);
            window.watch(channel, 'update');
            window.watch(channel, 'pushbridge:resync');
            window.watch(channel, 'pushbridge:history_error');
        }""",
        [channel, since],
    )
    page.wait("(name) => window.pb.channel(name).subscribed", channel)
    return page


def page_with_one_event(open_django_page: OpenPage, django_site: DjangoSite, channel: str, first: int = 1) -> ShimPage:
    """A shim page subscribed to ``channel`` that has received one event ({"n": first}): its
    position is known, so a reconnect recovers from there."""
    page = shim_page(open_django_page, channel)
    django_site.publish(channel, "update", {"n": first})
    assert values(page, channel, 1) == [first]
    return page


def values(page: ShimPage, channel: str, count: int) -> list[Any]:
    return [item["n"] for item in page.wait_received(channel, "update", count)]


def reconnect(page: ShimPage, channel: str, missed: Callable[[], None]) -> None:
    """Drop the page's connection, run ``missed`` meanwhile, and reconnect (a fresh socket)."""
    page.js("() => window.pb.disconnect()")
    missed()
    page.js("() => window.pb.connect()")
    page.wait("(name) => window.pb.channel(name).subscribed", channel)


def test_envelope_is_unwrapped_and_other_channels_are_untouched(
    open_django_page: OpenPage, django_site: DjangoSite, sdk: pusher.Pusher, name: Name
) -> None:
    channel, plain = name("hist-"), name("plain-")
    page = shim_page(open_django_page, channel)
    page.subscribe(plain, "update")
    page.js("(name) => { window.global = []; window.pb.bind('update', (d) => window.global.push(d)); }", channel)
    django_site.publish(channel, "update", {"n": 1})
    django_site.publish(channel, "update", {"n": 2})
    assert page.wait_received(channel, "update", 2) == [{"n": 1}, {"n": 2}]
    assert page.js("(name) => window.pb.channel(name).position", channel) == 2

    # Not an envelope (no id): delivered exactly as sent, like every event of a channel without history.
    lookalike = {"pushbridge": {"position": 1}, "data": {"n": 3}}
    sdk.trigger(plain, "update", lookalike)
    assert page.wait_received(plain, "update") == [lookalike]
    assert page.js("(name) => window.pb.channel(name).position", plain) is None
    assert page.js("() => window.global") == [{"n": 1}, {"n": 2}, lookalike]  # top-level bind: unwrapped too


def test_reconnect_delivers_missed_events_in_order_before_live_ones(
    open_django_page: OpenPage, django_site: DjangoSite, name: Name
) -> None:
    channel = name("private-hist-")
    page = page_with_one_event(open_django_page, django_site, channel)

    django_site.delay_history(1.5)  # the live event below arrives while the fetch is in flight
    try:
        reconnect(page, channel, lambda: [django_site.publish(channel, "update", {"n": n}) for n in (2, 3)])
        page.wait("(name) => window.pb.channel(name)._recovery.recovering", channel)
        django_site.publish(channel, "update", {"n": 4})
        assert values(page, channel, 4) == [1, 2, 3, 4]
    finally:
        django_site.delay_history(0)

    # Duplicates are dropped: the relay sends an event again, a later one arrives, nothing repeats.
    third = django_site.publish(channel, "update", {"n": 5})
    django_site.send(channel, third["id"])
    django_site.publish(channel, "update", {"n": 6})
    assert values(page, channel, 6) == [1, 2, 3, 4, 5, 6]
    assert page.js("(name) => window.pb.channel(name).position", channel) == 6


def test_unsubscribe_during_recovery_delivers_nothing_more(
    open_django_page: OpenPage, django_site: DjangoSite, name: Name
) -> None:
    channel = name("hist-gone-")
    page = page_with_one_event(open_django_page, django_site, channel)
    django_site.delay_history(1.5)
    try:
        reconnect(page, channel, lambda: django_site.publish(channel, "update", {"n": 2}))
        page.wait("(name) => window.pb.channel(name)._recovery.recovering", channel)
        page.js("(name) => window.pb.unsubscribe(name)", channel)
        # The fetch's reply has come back (the browser's resource timing says so) ...
        page.wait(
            """() => performance.getEntriesByType('resource')
                .some((e) => e.name.includes('/history/') && e.name.includes('since=1') && e.responseEnd > 0)"""
        )
    finally:
        django_site.delay_history(0)
    assert page.received(channel, "update") == [{"n": 1}]  # ... and delivered nothing


def test_since_closes_the_render_to_subscribe_gap(
    open_django_page: OpenPage, django_site: DjangoSite, name: Name
) -> None:
    channel = name("hist-render-")
    before = django_site.publish(channel, "update", {"n": 1}, send=False)  # committed, not sent yet
    page = open_django_page("shim", user="ivan", channel=channel)  # renders position 1
    assert page.js("() => window.renderPosition") == 1
    django_site.publish(channel, "update", {"n": 2}, send=False)  # after the render, before subscribing
    page.connect()
    page.js("""(name) => window.watch(window.pb.subscribe(name, {since: window.renderPosition}), 'update')""", channel)
    assert values(page, channel, 1) == [2]
    django_site.send(channel, before["id"])  # the relay sends the pre-render event late: not again
    django_site.publish(channel, "update", {"n": 3})
    assert values(page, channel, 2) == [2, 3]


def test_gap_older_than_the_window_emits_one_resync(
    open_django_page: OpenPage, django_site: DjangoSite, name: Name
) -> None:
    channel = name("hist-window-")
    page = page_with_one_event(open_django_page, django_site, channel, first=0)

    def miss_many() -> None:
        for n in range(1, 26):  # 25 missed; the window keeps 20
            django_site.publish(channel, "update", {"n": n}, send=False)

    reconnect(page, channel, miss_many)
    [resync] = page.wait_received(channel, "pushbridge:resync")
    assert resync == {"since": 1, "position": 26}
    django_site.publish(channel, "update", {"n": 26})
    assert values(page, channel, 2) == [0, 26]  # nothing from the lost stretch, live ones go on
    assert len(page.received(channel, "pushbridge:resync")) == 1


def test_history_fetch_is_retried_while_the_server_fails(
    open_django_page: OpenPage, django_site: DjangoSite, name: Name
) -> None:
    channel = name("hist-retry-")
    page = page_with_one_event(open_django_page, django_site, channel)
    django_site.fail_next("/history/", 2)  # a restarting server: 503, 503, then the history
    reconnect(page, channel, lambda: django_site.publish(channel, "update", {"n": 2}))
    django_site.publish(channel, "update", {"n": 3})
    assert values(page, channel, 3) == [1, 2, 3]
    assert page.received(channel, "pushbridge:history_error") == []


def test_history_failure_is_reported_and_live_events_go_on(
    open_django_page: OpenPage, django_site: DjangoSite, name: Name
) -> None:
    channel = name("plain-")  # the stand-in keeps no history for it: 404 with a reason
    page = page_with_one_event(open_django_page, django_site, channel)
    reconnect(page, channel, lambda: None)
    [error] = page.wait_received(channel, "pushbridge:history_error")
    assert error["type"] == "HistoryError"
    assert error["status"] == 404
    assert error["reason"] == f"Channel {channel!r} has no history."
    django_site.publish(channel, "update", {"n": 2})
    assert values(page, channel, 2) == [1, 2]


@pytest.mark.skipif(not PUSHER_JS.exists(), reason="pusher-js is not installed (run: npm ci --prefix tests/node)")
@pytest.mark.parametrize("client", ["pusher-js", "echo"])
def test_pusher_js_and_echo_recover_through_with_history(
    open_django_page: OpenPage, django_site: DjangoSite, name: Name, client: str
) -> None:
    channel = name("private-hist-")
    django_site.publish(channel, "update", {"n": 1}, send=False)  # already on the page
    page = open_django_page(client, user="judy", channel=channel)
    django_site.publish(channel, "update", {"n": 2}, send=False)  # in the render-to-subscribe gap
    page.js(
        """([name, client]) => {
            window.pjs = client === 'echo'
                ? new Echo.default(PushBridgePusher.echoOptions(PushBridgePusher.readConfig())).connector.pusher
                : PushBridgePusher.fromPage(Pusher);
            const channel = window.history_channel = PushBridgePusher.withHistory(
                window.pjs, name, {since: window.renderPosition});
            channel.bind('update', (data) => record(name, 'update', data));
        }""",
        [channel, client],
    )
    assert [
        e["data"]["n"] for e in page.wait(f"() => got('{channel}|update').length >= 1 && got('{channel}|update')")
    ] == [2]
    django_site.publish(channel, "update", {"n": 3})
    page.wait(f"() => got('{channel}|update').length >= 2")

    page.js("() => window.pjs.disconnect()")
    django_site.publish(channel, "update", {"n": 4})
    django_site.publish(channel, "update", {"n": 5})
    page.js("() => window.pjs.connect()")
    page.wait(f"() => got('{channel}|update').length >= 4")  # recovered after pusher-js resubscribed
    django_site.publish(channel, "update", {"n": 6})
    received = page.wait(f"() => got('{channel}|update').length >= 5 && got('{channel}|update')")
    assert [entry["data"]["n"] for entry in received] == [2, 3, 4, 5, 6]
    assert page.js("() => window.history_channel.position") == 6
