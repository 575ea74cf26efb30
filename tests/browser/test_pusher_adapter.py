"""pushbridge-pusher.js: the page configuration turned into pusher-js and Laravel Echo options.

Real, unmodified pusher-js and Laravel Echo from npm, in chromium, on pages rendered by a real
Django site (``{% pushbridge_config %}``), authorised by pushbridge's own auth views (CSRF on),
connected to the embedded server; events come from the official ``pusher`` SDK.
"""

from __future__ import annotations

from collections.abc import Callable

import pusher
import pytest

from pushbridge.server import EmbeddedServer
from tests.browser.conftest import PUSHER_JS, ShimPage

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not PUSHER_JS.exists(), reason="pusher-js is not installed (run: npm ci --prefix tests/node)"),
]

OpenPage = Callable[..., ShimPage]
Name = Callable[[str], str]


def test_options_translate_the_page_config(open_django_page: OpenPage, push_server: EmbeddedServer) -> None:
    page = open_django_page("pusher-js", user="olga")
    result = page.js(
        """() => {
            const config = PushBridgePusher.readConfig();
            const attempt = (f) => { try { f(); return null; } catch (e) { return e.message; } };
            return {
                config: config,
                options: PushBridgePusher.options(config),
                echo: PushBridgePusher.echoOptions(config, {namespace: ''}),
                overridden: PushBridgePusher.options(config, {enabledTransports: ['ws']}).enabledTransports,
                noKey: attempt(() => PushBridgePusher.options({wsHost: 'x'})),
                noPusher: attempt(() => PushBridgePusher.fromPage(undefined)),
            };
        }"""
    )
    token, header = result["config"]["csrfToken"], result["config"]["csrfHeaderName"]
    assert token
    assert header.lower() == "x-csrftoken"  # Django's CSRF_HEADER_NAME, as the tag renders it
    options = result["options"]
    assert options == {
        "cluster": "pushbridge",
        "wsHost": "127.0.0.1",
        "wsPort": push_server.port,
        "forceTLS": False,
        "enabledTransports": ["ws", "wss"],
        "channelAuthorization": {
            "endpoint": "/pushbridge/auth/",
            "transport": "ajax",
            "headers": {header: token},
        },
        "userAuthentication": {
            "endpoint": "/pushbridge/user-auth/",
            "transport": "ajax",
            "headers": {header: token},
        },
    }
    assert result["echo"] == {"broadcaster": "pusher", "key": "browser-key", "namespace": "", **options}
    assert result["overridden"] == ["ws"]
    assert '"key"' in result["noKey"]
    assert "Pusher class" in result["noPusher"]


def test_pusher_js_with_the_django_auth_views(open_django_page: OpenPage, sdk: pusher.Pusher, name: Name) -> None:
    page = open_django_page("pusher-js", user="alice")
    private, room = name("private-orders-"), name("presence-room-")
    page.js(
        """([priv, room]) => {
            const pjs = window.pjs = PushBridgePusher.fromPage(Pusher);
            pjs.subscribe(priv).bind('created', (d, m) => record(priv, 'created', d));
            pjs.subscribe(room);
            pjs.user.bind('notify', (d) => record('user', 'notify', d));
            pjs.signin();
        }""",
        [private, room],
    )
    page.wait(
        "([a, b]) => pjs.channel(a).subscribed && pjs.channel(b).subscribed && pjs.user.user_data", [private, room]
    )
    me = page.js("(room) => pjs.channel(room).members.me", room)
    user_id = page.js("() => pjs.user.user_data.id")
    assert me == {"id": user_id, "info": {"name": "Alice"}}  # from the presence callback

    sdk.trigger(private, "created", {"id": 7})
    sdk.send_to_user(user_id, "notify", {"unread": 1})
    assert page.wait(f"() => got('{private}|created').length && got('{private}|created')") == [
        {"data": {"id": 7}, "metadata": None}
    ]
    assert page.wait("() => got('user|notify').length && got('user|notify')")[0]["data"] == {"unread": 1}


def test_laravel_echo_with_the_django_auth_views(open_django_page: OpenPage, sdk: pusher.Pusher, name: Name) -> None:
    alice = open_django_page("echo", user="alice")
    private, room, forbidden = name("orders."), name("room."), name("forbidden.")
    alice.js(
        """([priv, room, forbidden]) => {
            const echo = window.echo = new Echo.default(PushBridgePusher.echoOptions(PushBridgePusher.readConfig()));
            echo.private(priv).listen('.order.shipped', (d) => record(priv, 'shipped', d));
            echo.join(room).here((members) => { window.here = members; })
                .joining((member) => record(room, 'joining', member));
            echo.private(forbidden).error((error) => { window.refused = error; });
        }""",
        [private, room, forbidden],
    )
    alice.wait(
        "([a, b]) => echo.connector.pusher.channel('private-' + a).subscribed && window.here",
        [private, room],
    )
    assert alice.js("() => window.here") == [{"name": "Alice"}]
    refused = alice.wait("() => window.refused")
    assert refused["status"] == 403

    bob = open_django_page("echo", user="bob")
    bob.js(
        "(room) => { window.echo = new Echo.default(PushBridgePusher.echoOptions(PushBridgePusher.readConfig()));"
        " echo.join(room).here((m) => { window.here = m; }); }",
        room,
    )
    assert sorted(m["name"] for m in bob.wait("() => window.here")) == ["Alice", "Bob"]
    assert alice.wait(f"() => got('{room}|joining').length && got('{room}|joining')")[0]["data"] == {"name": "Bob"}

    sdk.trigger(f"private-{private}", "order.shipped", {"id": 3})
    assert alice.wait(f"() => got('{private}|shipped').length && got('{private}|shipped')")[0]["data"] == {"id": 3}
