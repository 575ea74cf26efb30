"""The shim tells the page why Django refused it: the auth views' JSON reason, not only a status.

Against the real Django site (``tests.browser.django_site``, DEBUG on so the views give their
precise reasons) and pushbridge's own auth views, in chromium.
"""

from __future__ import annotations

from collections.abc import Callable

import pusher
import pytest

from tests.browser.conftest import ShimPage
from tests.browser.live_django import DjangoSite

pytestmark = pytest.mark.browser

OpenPage = Callable[..., ShimPage]
Name = Callable[[str], str]


def test_subscription_error_carries_the_reason_and_reaches_the_console(open_django_page: OpenPage, name: Name) -> None:
    page = open_django_page("shim", user="mallory")
    console: list[str] = []
    page.page.on("console", lambda message: console.append(message.text))
    page.js("() => { PushBridge.logToConsole = true; }")
    page.connect()
    channel = name("private-forbidden-")
    page.js("(n) => window.watch(window.pb.subscribe(n), 'pusher:subscription_error')", channel)
    [error] = page.wait_received(channel, "pusher:subscription_error")
    reason = f"The callback of pattern 'private-{{name:path}}' refused '{channel}'."
    assert error == {
        "type": "AuthError",
        "status": 403,
        "reason": reason,
        "error": f"Could not get auth info from your auth endpoint, status: 403: {reason}",
    }
    page.wait("() => true")  # console events are delivered asynchronously; one round trip settles them
    assert any(line.startswith("[pushbridge]") and reason in line for line in console), console


def test_anonymous_refusals_say_a_login_is_needed(open_django_page: OpenPage, name: Name) -> None:
    page = open_django_page("shim")  # nobody logged in
    page.connect()
    channel = name("private-orders-")
    page.js(
        """(n) => {
            window.watch(window.pb.subscribe(n), 'pusher:subscription_error');
            window.pb.user.bind('pusher:signin_error', (e) => { window.signin_error = e; });
            window.pb.signin();
        }""",
        channel,
    )
    [error] = page.wait_received(channel, "pusher:subscription_error")
    assert error["reason"] == f"Channel {channel!r} requires a logged-in user."
    signin = page.wait("() => window.signin_error")
    assert signin["status"] == 403
    assert signin["reason"] == "Signing in requires a logged-in user."


def test_auth_and_signin_are_retried_while_django_restarts(
    open_django_page: OpenPage, django_site: DjangoSite, sdk: pusher.Pusher, name: Name
) -> None:
    """A 503 (or no answer) is no refusal: the page is told, and the shim tries again."""
    page = open_django_page("shim", user="nina")
    page.connect()
    channel = name("private-retry-")
    django_site.fail_next("/pushbridge/auth/", 2)
    django_site.fail_next("/pushbridge/user-auth/", 1)
    page.js(
        """(n) => {
            const c = window.pb.subscribe(n);
            window.watch(c, 'pusher:subscription_error');
            window.watch(c, 'update');
            window.pb.user.bind('pusher:signin_error', (e) => record('user', 'signin_error', e));
            window.pb.signin();
        }""",
        channel,
    )
    page.wait("(n) => window.pb.channel(n).subscribed && window.pb.user.user_data", channel)
    errors = page.received(channel, "pusher:subscription_error")
    assert [(error["status"], error["reason"]) for error in errors] == [(503, "Restarting, try again.")] * 2
    assert [entry["data"]["status"] for entry in page.js("() => got('user|signin_error')")] == [503]
    sdk.trigger(channel, "update", {"n": 1})
    assert page.wait_received(channel, "update") == [{"n": 1}]
