"""The shim tells the page why Django refused it: the auth views' JSON reason, not only a status.

Against the real Django site (``tests.browser.django_site``, DEBUG on so the views give their
precise reasons) and pushbridge's own auth views, in chromium.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.conftest import ShimPage

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
