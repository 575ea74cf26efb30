"""Fixtures for the browser tests: real chromium, the real embedded server, a tiny test site.

Three processes' worth of parts, all on 127.0.0.1:

* the embedded Pusher-protocol server (:class:`pushbridge.server.EmbeddedServer`) in a thread;
* :class:`StandInSite`, an ``http.server`` in a thread that plays the Django project: it serves
  ``pushbridge.js`` (through the ``static/pushbridge`` symlink, as collectstatic would see it),
  test pages carrying the ``pushbridge-config`` JSON script, auth endpoints that sign with
  :mod:`pushbridge.signing` and refuse requests without the CSRF header, and a JSON echo view;
* Debian's chromium, driven by Playwright's sync API.

Identity works like a Django session: each page load sets a ``pb_user`` cookie (one browser
context per user), and the auth endpoints read it back, which also proves the shim sends
credentials. Tests never sleep: they wait for conditions in the page with generous timeouts.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pusher
import pytest

from pushbridge.server import EmbeddedServer
from pushbridge.signing import sign_channel, sign_user
from tests.browser.live_django import DjangoSite
from tests.chromium import launched_chromium

REPO = Path(__file__).resolve().parents[2]
#: Served through the symlink on purpose: what Django's static finders see is what we test.
STATIC_DIR = REPO / "pushbridge" / "static" / "pushbridge"
PUSHER_JS = REPO / "tests" / "node" / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js"

APP_ID = "123456"  # numeric: the official pusher SDK refuses anything else
KEY = "browser-key"
SECRET = "browser-secret"
#: Generous on purpose: a loaded 2-core CI machine must not turn slowness into failures.
WAIT_MS = 20_000


# -- the test site ----------------------------------------------------------------------------


@dataclass
class AuthRequest:
    """One request an auth endpoint received, kept so tests can check what the shim sent."""

    path: str
    fields: dict[str, str]
    headers: dict[str, str]
    user: str


@dataclass
class StandInSite:
    """Plays the Django project: static files, pages, auth endpoints and a JSON view."""

    push_port: int
    csrf_token: str = field(default_factory=lambda: secrets.token_hex(16))
    auth_requests: list[AuthRequest] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def page_url(
        self, user: str = "anon", *, path: str = "/page", port: int | None = None, csrf: str = "cookie"
    ) -> str:
        """URL of a test page for ``user``; ``port`` points it at another push server."""
        query = f"user={user}&csrf={csrf}"
        if port is not None:
            query += f"&port={port}"
        return f"{self.url}{path}?{query}"

    def auth_for(self, channel: str) -> list[AuthRequest]:
        return [request for request in self.auth_requests if request.fields.get("channel_name") == channel]

    def config(self, port: int, csrf: str) -> dict[str, Any]:
        """What ``{% pushbridge_js %}`` would render into the ``pushbridge-config`` script."""
        config: dict[str, Any] = {
            "key": KEY,
            "wsHost": "127.0.0.1",
            "wsPort": port,
            "wssPort": None,
            "forceTLS": False,
            "channelAuthorization": {"endpoint": "/auth/channel"},
            "userAuthentication": {"endpoint": "/auth/user"},
            "csrfHeaderName": "X-CSRFToken",
        }
        if csrf == "config":
            config["csrfToken"] = self.csrf_token
        return config

    def start(self) -> StandInSite:
        # A handler class per site, so the request handlers can reach this site's state.
        handler = type("Handler", (_Handler,), {"site": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, name="browser-test-site", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pushbridge browser test</title>
<script type="application/json" id="pushbridge-config">{config}</script>
{scripts}
<script>
  // What the tests read back: every bound event, keyed "channel|event", in arrival order.
  window.received = {{}};
  window.watch = function (channel, event) {{
    var key = channel.name + "|" + event;
    window.received[key] = window.received[key] || [];
    channel.bind(event, function (data, metadata) {{
      window.received[key].push({{data: data, metadata: metadata === undefined ? null : metadata}});
    }});
  }};
  window.got = function (key) {{ return window.received[key] || []; }};
  // Opt-in WebSocket instrumentation for the liveness tests: records every frame the page
  // sends, can swallow outgoing pings, and can make every socket opened so far deaf.
  window.instrumentWebSocket = function () {{
    window.sentFrames = [];
    window.swallowPings = false;
    window.deafBelow = 0;
    var opened = 0;
    class Instrumented extends WebSocket {{
      constructor(url, protocols) {{ super(url, protocols); this.serial = ++opened; }}
      send(data) {{
        window.sentFrames.push(JSON.parse(data).event);
        if (window.swallowPings && data.indexOf('"pusher:ping"') > -1) return;
        super.send(data);
      }}
      set onmessage(fn) {{
        var socket = this;
        super.onmessage = function (event) {{ if (socket.serial >= window.deafBelow) fn(event); }};
      }}
      get onmessage() {{ return super.onmessage; }}
    }}
    window.WebSocket = Instrumented;
    window.deafenOpenSockets = function () {{ window.deafBelow = opened + 1; }};
  }};
</script>
</head><body>{body}</body></html>
"""

MODULE_BODY = """<script type="module">
  import PushBridge, { PushBridge as Named } from "/static/pushbridge.mjs";
  window.moduleCheck = {same: PushBridge === Named, global: PushBridge === window.PushBridge,
                        version: PushBridge.VERSION};
  window.pb = PushBridge.fromPage();
</script>"""


class _Handler(BaseHTTPRequestHandler):
    site: StandInSite

    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest output clean; failures are diagnosed from the page state instead."""

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, cookies: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (cookies or {}).items():
            self.send_header("Set-Cookie", f"{name}={value}; Path=/; SameSite=Lax")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _cookies(self) -> dict[str, str]:
        jar = SimpleCookie(self.headers.get("Cookie", ""))
        return {name: morsel.value for name, morsel in jar.items()}

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _csrf_ok(self) -> bool:
        return self.headers.get("X-CSRFToken") == self.site.csrf_token

    # -- GET: static files and pages ---------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        if url.path.startswith("/static/"):
            self._static(url.path.removeprefix("/static/"))
        elif url.path in ("/page", "/module", "/pusherjs"):
            self._page(url.path, query)
        else:
            self._send(404, b"not found", "text/plain")

    def _static(self, name: str) -> None:
        files = {
            "pushbridge.js": STATIC_DIR / "pushbridge.js",
            "pushbridge.mjs": STATIC_DIR / "pushbridge.mjs",
            "pusher.min.js": PUSHER_JS,
        }
        path = files.get(name)
        if path is None or not path.exists():
            self._send(404, b"not found", "text/plain")
            return
        # Module scripts are refused by browsers unless served with a JavaScript MIME type.
        self._send(200, path.read_bytes(), "text/javascript; charset=utf-8")

    def _page(self, path: str, query: dict[str, str]) -> None:
        csrf = query.get("csrf", "cookie")
        config = self.site.config(int(query.get("port", self.site.push_port)), csrf)
        scripts = '<script src="/static/pushbridge.js"></script>'
        body = ""
        if path == "/module":
            scripts = ""
            body = MODULE_BODY
        elif path == "/pusherjs":
            scripts = '<script src="/static/pusher.min.js"></script>' + scripts
        # "</" cannot end the JSON script early; json.dumps output never contains it here.
        html = PAGE.format(config=json.dumps(config), scripts=scripts, body=body)
        cookies = {"pb_user": query.get("user", "anon")}
        if csrf == "cookie":
            cookies["csrftoken"] = self.site.csrf_token
        self._send(200, html.encode(), "text/html; charset=utf-8", cookies)

    # -- POST: auth endpoints and a JSON view -------------------------------------------------

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/echo":
            self._echo(body)
        elif path in ("/auth/channel", "/auth/user"):
            self._auth(path, body)
        else:
            self._send(404, b"not found", "text/plain")

    def _auth(self, path: str, body: bytes) -> None:
        fields = {name: values[-1] for name, values in parse_qs(body.decode()).items()}
        user = self._cookies().get("pb_user", "anon")
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.site.auth_requests.append(AuthRequest(path, fields, headers, user))
        if not self._csrf_ok():
            self._json(HTTPStatus.FORBIDDEN, {"error": "CSRF token missing or incorrect."})
            return
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "expected a form body"})
            return
        socket_id = fields.get("socket_id", "")
        if path == "/auth/user":
            user_data = json.dumps({"id": user, "user_info": {"name": user.title()}})
            self._json(200, {"auth": sign_user(KEY, SECRET, socket_id, user_data), "user_data": user_data})
            return
        channel = fields.get("channel_name", "")
        if "forbidden" in channel:
            self._json(HTTPStatus.FORBIDDEN, {"error": f"{user} may not join {channel}"})
        elif channel.startswith("presence-"):
            channel_data = json.dumps({"user_id": user, "user_info": {"name": user.title()}})
            auth = sign_channel(KEY, SECRET, socket_id, channel, channel_data)
            self._json(200, {"auth": auth, "channel_data": channel_data})
        else:
            self._json(200, {"auth": sign_channel(KEY, SECRET, socket_id, channel)})

    def _echo(self, body: bytes) -> None:
        if not self._csrf_ok():
            self._json(HTTPStatus.FORBIDDEN, {"error": "CSRF token missing or incorrect."})
            return
        data = json.loads(body or b"null")
        if isinstance(data, dict) and data.get("fail"):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "failure requested", "field": "fail"})
            return
        self._json(
            200,
            {
                "body": data,
                "socket_id": self.headers.get("X-Socket-ID"),
                "content_type": self.headers.get("Content-Type"),
            },
        )


# -- a page with helpers ------------------------------------------------------------------------


class ShimPage:
    """A Playwright page plus the few waits and reads every test needs."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, arg: Any = None, timeout: int = WAIT_MS) -> Any:
        """Wait until ``expression`` (a JS function of ``arg``) is truthy in the page."""
        return self.page.wait_for_function(expression, arg=arg, timeout=timeout).json_value()

    def connect(self, **overrides: Any) -> str:
        """Build ``window.pb`` from the page's config script; return its socket_id once connected."""
        self.js("(overrides) => { window.pb = PushBridge.fromPage(undefined, overrides); }", overrides)
        return str(self.wait("() => window.pb.connection.state === 'connected' && window.pb.socket_id"))

    def subscribe(self, channel: str, *events: str) -> None:
        """Subscribe, watch ``events`` on the channel, and wait for subscription_succeeded."""
        self.js(
            """([name, events]) => {
                const channel = window.pb.subscribe(name);
                for (const event of events) window.watch(channel, event);
            }""",
            [channel, list(events)],
        )
        self.wait("(name) => window.pb.channel(name).subscribed", channel)

    def received(self, channel: str, event: str) -> list[Any]:
        return list(self.js("(key) => window.got(key).map((entry) => entry.data)", f"{channel}|{event}"))

    def wait_received(self, channel: str, event: str, count: int = 1) -> list[Any]:
        self.wait("([key, count]) => window.got(key).length >= count", [f"{channel}|{event}", count])
        return self.received(channel, event)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def push_server() -> Iterator[EmbeddedServer]:
    """One embedded server for the session; tests keep apart by using unique channel names."""
    server = EmbeddedServer(port=0, app_id=APP_ID, key=KEY, secret=SECRET)
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def site(push_server: EmbeddedServer) -> Iterator[StandInSite]:
    test_site = StandInSite(push_port=push_server.port).start()
    yield test_site
    test_site.stop()


@pytest.fixture
def sdk(push_server: EmbeddedServer) -> pusher.Pusher:
    """The official pusher-http-python SDK publishing to the embedded server."""
    return sdk_for(push_server)


def sdk_for(server: EmbeddedServer) -> pusher.Pusher:
    return pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=server.port, ssl=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one module at a time (see ``tests.chromium``)."""
    with launched_chromium() as instance:
        yield instance


@pytest.fixture
def open_page(browser: Any, site: StandInSite) -> Iterator[Callable[..., ShimPage]]:
    """Factory: ``open_page("alice")`` loads a test page in a fresh context (own cookies)."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_(user: str = "anon", **kwargs: Any) -> ShimPage:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: errors.append(f"{user}: {error}"))
        page.goto(site.page_url(user, **kwargs))
        return ShimPage(page)

    yield open_
    for context in contexts:
        context.close()
    # A throwing callback is rethrown asynchronously by the shim; none may go unnoticed.
    assert errors == [], f"uncaught errors in the pages: {errors}"


@pytest.fixture
def name() -> Callable[[str], str]:
    """Unique channel names, so tests sharing the session's server never see each other."""
    suffix = uuid.uuid4().hex[:10]
    return lambda prefix: f"{prefix}{suffix}"


@pytest.fixture(scope="session")
def django_site(push_server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DjangoSite]:
    """The real Django site of ``tests.browser.django_site``, sending to the session's push server."""
    site = DjangoSite(push_port=push_server.port, directory=tmp_path_factory.mktemp("django-site")).start()
    yield site
    site.stop()


@pytest.fixture
def open_django_page(browser: Any, django_site: DjangoSite) -> Iterator[Callable[..., ShimPage]]:
    """Factory: ``open_django_page("pusher-js", user="alice")`` loads a page of the Django site
    for that client in a fresh context, logged in as ``user``. Uncaught page errors fail the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_(client: str = "shim", user: str | None = None, channel: str | None = None) -> ShimPage:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: errors.append(f"{client}/{user}: {error}"))
        page.goto(django_site.page_url(client, user, channel))
        return ShimPage(page)

    yield open_
    for context in contexts:
        context.close()
    assert errors == [], f"uncaught errors in the pages: {errors}"
