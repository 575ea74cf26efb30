"""pushbridge.js in a real browser against the real embedded server.

Each test drives chromium pages through the shim's public API and checks what a page would
observe, with events published through the official ``pusher`` SDK. Ordering arguments replace
sleeps: to show that something did *not* arrive, a later marker event on the same connection is
awaited first (one WebSocket delivers in order).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pusher
import pytest

from pushbridge.server import EmbeddedServer, ServerOptions
from tests.browser.conftest import KEY, PUSHER_JS, SECRET, ShimPage, StandInSite, sdk_for

pytestmark = pytest.mark.browser

OpenPage = Callable[..., ShimPage]
Name = Callable[[str], str]


def test_public_channel_receives_parsed_events(open_page: OpenPage, sdk: pusher.Pusher, name: Name) -> None:
    page = open_page()
    page.connect()
    channel = name("news-")
    page.subscribe(channel, "headline", "raw")

    sdk.trigger(channel, "headline", {"title": "hello", "n": 1})
    sdk.trigger(channel, "raw", "not json")

    assert page.wait_received(channel, "headline") == [{"title": "hello", "n": 1}]
    assert page.wait_received(channel, "raw") == ["not json"]
    # Top-level bind() sees channel events too, as in pusher-js.
    page.js("() => { window.top_level = []; window.pb.bind('headline', (d) => window.top_level.push(d)); }")
    sdk.trigger(channel, "headline", {"title": "again"})
    assert page.wait("() => window.top_level.length === 1 && window.top_level") == [{"title": "again"}]
    assert page.js("() => window.pb.allChannels().map((c) => c.name)") == [channel]


def test_private_channel_auth_posts_form_with_csrf(
    open_page: OpenPage, site: StandInSite, sdk: pusher.Pusher, name: Name
) -> None:
    page = open_page("alice")
    socket_id = page.connect()
    channel = name("private-orders-")
    page.subscribe(channel, "created")

    [request] = site.auth_for(channel)
    assert request.fields == {"socket_id": socket_id, "channel_name": channel}
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.headers["x-csrftoken"] == site.csrf_token  # read from the csrftoken cookie
    assert request.user == "alice"  # credentials: "same-origin" sent the session cookie

    sdk.trigger(channel, "created", {"id": 7})
    assert page.wait_received(channel, "created") == [{"id": 7}]


def test_auth_refusal_and_api_misuse_are_reported(open_page: OpenPage, name: Name) -> None:
    page = open_page("mallory")
    page.connect()
    forbidden = name("private-forbidden-")
    page.js(
        """(n) => {
            window.pb.subscribe(n).bind('pusher:subscription_error', (e) => { window.sub_error = e; });
        }""",
        forbidden,
    )
    error = page.wait("() => window.sub_error")
    assert error["type"] == "AuthError"
    assert error["status"] == 403
    assert error["reason"] == f"mallory may not join {forbidden}"  # the view's JSON "error"
    assert page.js("(n) => window.pb.channel(n).subscribed", forbidden) is False

    messages = page.js(
        """(n) => {
            const attempt = (f) => { try { f(); return null; } catch (e) { return e.message; } };
            return {
                encrypted: attempt(() => window.pb.subscribe('private-encrypted-' + n)),
                publicTrigger: attempt(() => window.pb.subscribe('pub-' + n).trigger('client-x', {})),
                badName: attempt(() => window.pb.subscribe('private-' + n).trigger('hello', {})),
            };
        }""",
        name(""),
    )
    assert "pusher-js" in messages["encrypted"]
    assert "with-encryption" in messages["encrypted"]
    assert "private- and presence-" in messages["publicTrigger"]
    assert "does not start with 'client-'" in messages["badName"]


def test_presence_members(open_page: OpenPage, name: Name) -> None:
    channel = name("presence-room-")
    alice = open_page("alice")
    alice.connect()
    alice.subscribe(channel, "pusher:member_added", "pusher:member_removed")
    assert alice.js("(n) => window.pb.channel(n).members.count", channel) == 1
    assert alice.js("(n) => window.pb.channel(n).members.me", channel) == {"id": "alice", "info": {"name": "Alice"}}

    bob = open_page("bob")
    bob.connect()
    bob.subscribe(channel)
    members = bob.js(
        """(n) => {
            const members = window.pb.channel(n).members;
            const seen = [];
            members.each((member) => seen.push(member));
            return {count: members.count, me: members.me, seen: seen, alice: members.get('alice')};
        }""",
        channel,
    )
    assert members["count"] == 2
    assert members["me"] == {"id": "bob", "info": {"name": "Bob"}}
    assert sorted(m["id"] for m in members["seen"]) == ["alice", "bob"]
    assert members["alice"] == {"id": "alice", "info": {"name": "Alice"}}

    assert alice.wait_received(channel, "pusher:member_added") == [{"id": "bob", "info": {"name": "Bob"}}]
    assert alice.js("(n) => window.pb.channel(n).members.count", channel) == 2

    bob.page.context.close()  # closing the tab drops bob's only connection
    assert alice.wait_received(channel, "pusher:member_removed") == [{"id": "bob", "info": {"name": "Bob"}}]
    assert alice.js("(n) => window.pb.channel(n).members.count", channel) == 1


def test_client_events_reach_others_but_not_the_sender(open_page: OpenPage, name: Name) -> None:
    channel = name("presence-chat-")
    alice, bob = open_page("alice"), open_page("bob")
    for page in (alice, bob):
        page.connect()
        page.subscribe(channel, "client-typing", "client-ack")

    alice.js("(n) => window.pb.channel(n).trigger('client-typing', {text: 'hi'})", channel)
    bob.wait_received(channel, "client-typing")
    assert bob.js("(key) => window.got(key)", f"{channel}|client-typing") == [
        {"data": {"text": "hi"}, "metadata": {"user_id": "alice"}}
    ]
    # Bob answers; once the answer reaches alice, her own event would have arrived before it.
    bob.js("(n) => window.pb.channel(n).trigger('client-ack', {})", channel)
    alice.wait_received(channel, "client-ack")
    assert alice.received(channel, "client-typing") == []


def test_socket_id_exclusion(open_page: OpenPage, sdk: pusher.Pusher, name: Name) -> None:
    channel = name("feed-")
    sender, other = open_page(), open_page()
    sender_id = sender.connect()
    other.connect()
    for page in (sender, other):
        page.subscribe(channel, "update", "marker")

    sdk.trigger(channel, "update", {"v": 1}, socket_id=sender_id)
    sdk.trigger(channel, "marker", {})
    assert other.wait_received(channel, "update") == [{"v": 1}]
    sender.wait_received(channel, "marker")
    assert sender.received(channel, "update") == []


def test_signin_and_server_to_user_events(open_page: OpenPage, site: StandInSite, sdk: pusher.Pusher) -> None:
    page = open_page("carol")
    socket_id = page.connect()
    page.js(
        """() => {
            window.user_events = [];
            window.pb.user.bind('notify', (data) => window.user_events.push(data));
            window.pb.signin();
        }"""
    )
    page.wait("() => window.pb.user.user_data && window.pb.user.serverToUserChannel.subscribed")
    assert page.js("() => window.pb.user.user_data") == {"id": "carol", "user_info": {"name": "Carol"}}
    signins = [r for r in site.auth_requests if r.path == "/auth/user" and r.user == "carol"]
    assert signins[-1].fields == {"socket_id": socket_id}

    sdk.send_to_user("carol", "notify", {"unread": 3})
    assert page.wait("() => window.user_events.length === 1 && window.user_events") == [{"unread": 3}]


def test_post_sends_json_csrf_and_socket_id(open_page: OpenPage) -> None:
    page = open_page()
    socket_id = page.connect()
    reply = page.js("() => window.pb.post('/echo', {text: 'hi', n: [1, 2]})")
    assert reply == {"body": {"text": "hi", "n": [1, 2]}, "socket_id": socket_id, "content_type": "application/json"}

    failure = page.js(
        """() => window.pb.post('/echo', {fail: true}).then(
            () => null,
            (e) => ({isError: e instanceof Error, status: e.status, response: e.response, message: e.message})
        )"""
    )
    assert failure["isError"] is True
    assert failure["status"] == 400
    assert failure["response"] == {"error": "failure requested", "field": "fail"}


def test_state_changes(open_page: OpenPage) -> None:
    page = open_page()
    page.js(
        """() => {
            window.pb = PushBridge.fromPage();
            // connect() runs inside the constructor, so "connecting" is already the state here.
            window.states = [window.pb.connection.state];
            window.pb.connection.bind('state_change', (s) => window.states.push(s.previous + '>' + s.current));
        }"""
    )
    page.wait("() => window.pb.connection.state === 'connected'")
    page.js("() => window.pb.disconnect()")
    assert page.js("() => window.pb.socket_id") is None
    page.js("() => window.pb.connect()")
    page.wait("() => window.pb.connection.state === 'connected'")
    assert page.js("() => window.states") == [
        "connecting",
        "connecting>connected",
        "connected>disconnected",
        "disconnected>connecting",
        "connecting>connected",
    ]


def test_refused_connection_is_not_retried(open_page: OpenPage) -> None:
    """An unknown app key is refused with close code 4001 (4000-4099: do not reconnect)."""
    page = open_page()
    page.js(
        """() => {
            const config = JSON.parse(document.getElementById('pushbridge-config').textContent);
            window.pb = new PushBridge('no-such-key', {wsHost: config.wsHost, wsPort: config.wsPort, forceTLS: false});
            window.states = [window.pb.connection.state];
            window.errors = [];
            window.pb.connection.bind('state_change', (s) => window.states.push(s.current));
            window.pb.connection.bind('error', (e) => window.errors.push(e));
        }"""
    )
    page.wait("() => window.pb.connection.state === 'disconnected'")
    assert page.js("() => window.states") == ["connecting", "disconnected"]
    errors = page.js("() => window.errors.filter((e) => e.type === 'PusherError')")
    assert [error["data"]["code"] for error in errors] == [4001]


def test_unsubscribe_stops_delivery(open_page: OpenPage, sdk: pusher.Pusher, name: Name) -> None:
    page = open_page()
    page.connect()
    gone, kept = name("gone-"), name("kept-")
    page.subscribe(gone, "update")
    page.subscribe(kept, "update")
    page.js("(n) => window.pb.unsubscribe(n)", gone)
    assert page.js("(n) => window.pb.channel(n) === undefined", gone) is True

    # The server forgets the subscription too (the only subscriber left, so it is vacated).
    deadline = time.monotonic() + 10
    while sdk.channel_info(gone)["occupied"]:
        assert time.monotonic() < deadline, f"{gone} is still occupied after unsubscribe()"
        time.sleep(0.05)
    sdk.trigger([gone, kept], "update", {"v": 1})
    page.wait_received(kept, "update")
    assert page.received(gone, "update") == []


def test_reconnects_after_server_restart_with_fresh_auth(open_page: OpenPage, site: StandInSite, name: Name) -> None:
    """Stop the server, see the page give up on "connecting", restart it on the same port:
    the page comes back by itself and resubscribes with auth signed for its new socket_id."""
    server = EmbeddedServer(port=0, app_id="123456", key=KEY, secret=SECRET).start_in_thread()
    port = server.port
    try:
        page = open_page("dave", port=port)
        first_id = page.connect(unavailableTimeout=1500)
        public, private = name("live-"), name("private-live-")
        page.subscribe(public, "tick")
        page.subscribe(private, "tick")
        page.js(
            "() => { window.states = []; window.pb.connection.bind('state_change', (s) => states.push(s.current)); }"
        )

        server.stop()
        page.wait("() => window.pb.connection.state === 'unavailable'")
        assert page.js("(n) => window.pb.channel(n).subscribed", private) is False
        server = EmbeddedServer(port=port, app_id="123456", key=KEY, secret=SECRET).start_in_thread()

        second_id = page.wait("() => window.pb.connection.state === 'connected' && window.pb.socket_id")
        assert second_id != first_id
        page.wait("([a, b]) => window.pb.channel(a).subscribed && window.pb.channel(b).subscribed", [public, private])
        auth_socket_ids = [r.fields["socket_id"] for r in site.auth_for(private)]
        assert auth_socket_ids[0] == first_id
        assert auth_socket_ids[-1] == second_id
        assert len(set(auth_socket_ids)) == len(auth_socket_ids)  # every auth was signed afresh
        # Retries go on while "unavailable", without flapping back to "connecting". (A quick
        # reconnect to the server while it shuts down may add a connected/connecting pair first.)
        states = page.js("() => window.states")
        assert states[0] == "connecting"
        assert states[-2:] == ["unavailable", "connected"]

        publisher = sdk_for(server)
        publisher.trigger(public, "tick", {"n": 1})
        publisher.trigger(private, "tick", {"n": 2})
        assert page.wait_received(public, "tick") == [{"n": 1}]
        assert page.wait_received(private, "tick") == [{"n": 2}]
    finally:
        server.stop()


def test_client_pings_and_replaces_a_dead_link(open_page: OpenPage) -> None:
    """After activityTimeout of silence the shim pings; a pong keeps the socket. A socket that
    stays silent for pongTimeout after a ping is dropped and replaced, without help from the server."""
    page = open_page()
    page.js("() => window.instrumentWebSocket()")
    first_id = page.connect(activityTimeout=400, pongTimeout=1000)
    page.wait("() => window.sentFrames.filter((e) => e === 'pusher:ping').length >= 3")
    assert page.js("() => window.pb.socket_id") == first_id  # pongs answered the pings

    page.js("() => window.deafenOpenSockets()")  # the old socket now hears nothing, pongs included
    second_id = page.wait(
        "(old) => window.pb.connection.state === 'connected' && window.pb.socket_id !== old && window.pb.socket_id",
        first_id,
    )
    assert second_id != first_id


def test_answers_server_pings(open_page: OpenPage) -> None:
    """A server that hears nothing pings; the shim must pong or be closed with 4201."""
    options = ServerOptions(activity_timeout=1, pong_timeout=1.0, tick_interval=0.2)
    server = EmbeddedServer(port=0, app_id="123456", key=KEY, secret=SECRET, options=options).start_in_thread()
    try:
        page = open_page(port=server.port)
        page.js("() => { window.instrumentWebSocket(); window.swallowPings = true; }")
        socket_id = page.connect()
        # Each server ping comes after >= 1 s of client silence; three answered ones span
        # well past activity_timeout + pong_timeout, so the socket survived on pongs alone.
        page.wait("() => window.sentFrames.filter((e) => e === 'pusher:pong').length >= 3")
        assert page.js("() => window.pb.socket_id") == socket_id
    finally:
        server.stop()


def test_es_module_wrapper(browser: Any, site: StandInSite) -> None:
    context = browser.new_context()
    try:
        page = ShimPage(context.new_page())
        page.page.goto(site.page_url(path="/module"))
        assert page.wait("() => window.moduleCheck") == {"same": True, "global": True, "version": "0.1.0"}
        page.wait("() => window.pb.connection.state === 'connected'")
    finally:
        context.close()


def test_from_page_reads_the_json_config(open_page: OpenPage, site: StandInSite, name: Name) -> None:
    # No csrftoken cookie on this page: the token must come from the config script.
    page = open_page("erin", csrf="config")
    assert page.js("() => document.cookie.includes('csrftoken')") is False
    page.connect()
    config = page.js(
        "() => ({port: window.pb.config.wsPort, endpoint: window.pb.config.channelAuthorization.endpoint})"
    )
    assert config == {"port": site.push_port, "endpoint": "/auth/channel"}
    channel = name("private-config-")
    page.subscribe(channel)
    assert site.auth_for(channel)[0].headers["x-csrftoken"] == site.csrf_token


@pytest.mark.skipif(not PUSHER_JS.exists(), reason="pusher-js is not installed in tests/node (run npm ci there)")
def test_interoperates_with_pusher_js(
    browser: Any, site: StandInSite, push_server: EmbeddedServer, sdk: pusher.Pusher, name: Name
) -> None:
    """The shim and unmodified pusher-js share channels: same events, client events both ways."""
    context = browser.new_context()
    try:
        page = ShimPage(context.new_page())
        page.page.goto(site.page_url("frank", path="/pusherjs"))
        page.connect()
        public, private = name("shared-"), name("private-shared-")
        page.js(
            """([port, key, token, pub, priv]) => {
                window.pjs_events = [];
                const pjs = window.pjs = new Pusher(key, {
                    cluster: 'local', wsHost: '127.0.0.1', wsPort: port, forceTLS: false,
                    enabledTransports: ['ws'],
                    channelAuthorization: {endpoint: '/auth/channel', headers: {'X-CSRFToken': token}},
                });
                pjs.subscribe(pub).bind('news', (d) => window.pjs_events.push(['news', d]));
                pjs.subscribe(priv).bind('client-from-shim', (d) => window.pjs_events.push(['client', d]));
            }""",
            [push_server.port, KEY, site.csrf_token, public, private],
        )
        page.subscribe(public, "news")
        page.subscribe(private, "client-from-pusher-js")
        page.wait("([a, b]) => window.pjs.channel(a).subscribed && window.pjs.channel(b).subscribed", [public, private])

        sdk.trigger(public, "news", {"n": 1})
        assert page.wait_received(public, "news") == [{"n": 1}]
        page.wait("() => window.pjs_events.length === 1")

        page.js("(n) => window.pb.channel(n).trigger('client-from-shim', {a: 1})", private)
        page.js("(n) => window.pjs.channel(n).trigger('client-from-pusher-js', {b: 2})", private)
        assert page.wait_received(private, "client-from-pusher-js") == [{"b": 2}]
        assert page.wait("() => window.pjs_events.length === 2 && window.pjs_events") == [
            ["news", {"n": 1}],
            ["client", {"a": 1}],
        ]
    finally:
        context.close()


def test_unbind_forms_and_resubscription_events(open_page: OpenPage, sdk: pusher.Pusher, name: Name) -> None:
    """unbind(event, callback), unbind(event), unbind_global() and unbind_all() as in pusher-js
    (global callbacks run first); pusher:subscription_succeeded again after a reconnect."""
    page = open_page()
    page.connect()
    channel = name("binds-")
    page.js(
        """(n) => {
            window.log = [];
            const c = window.pb.subscribe(n);
            window.one = (d) => log.push('one:' + d.n);
            c.bind('tick', window.one);
            c.bind('tick', (d) => log.push('two:' + d.n));
            c.bind('tock', (d) => log.push('tock:' + d.n));
            c.bind_global((event, d) => { if (event !== 'pusher:subscription_succeeded') log.push('global:' + d.n); });
            c.bind('pusher:subscription_succeeded', () => log.push('succeeded'));
        }""",
        channel,
    )
    page.wait("(n) => window.pb.channel(n).subscribed", channel)

    def step(action: str, n: int) -> list[str]:
        page.js(action, channel)
        page.js("() => { window.log = []; }")
        sdk.trigger(channel, "tick", {"n": n})
        sdk.trigger(channel, "tock", {"n": n})
        page.wait(f"() => log.includes('tock:{n}')")  # tick was delivered before it, on the same socket
        return list(page.js("() => window.log"))

    assert step("() => null", 1) == ["global:1", "one:1", "two:1", "global:1", "tock:1"]
    assert step("(n) => window.pb.channel(n).unbind('tick', window.one)", 2) == [
        "global:2",
        "two:2",
        "global:2",
        "tock:2",
    ]
    assert step("(n) => window.pb.channel(n).unbind('tick')", 3) == ["global:3", "global:3", "tock:3"]
    assert step("(n) => window.pb.channel(n).unbind_global()", 4) == ["tock:4"]

    page.js("(n) => { window.log = []; window.pb.disconnect(); window.pb.connect(); }", channel)
    page.wait("() => window.log.includes('succeeded')")
    page.js(
        "(n) => { window.pb.channel(n).unbind_all(); window.pb.channel(n).bind('marker', () => log.push('marker')); }",
        channel,
    )
    sdk.trigger(channel, "tock", {"n": 5})
    sdk.trigger(channel, "marker", {})
    page.wait("() => window.log.includes('marker')")
    assert page.js("() => window.log") == ["succeeded", "marker"]
