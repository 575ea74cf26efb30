"""Meet the service as a browser would: prove the app key, and see whether signin and client events work.

The HTTP API authenticates with the key *and* the secret on hosted Pusher, but Soketi checks
only the secret there, so a signed request proves nothing about the key. Browsers connect
with the key alone, and the service answers either ``pusher:connection_established`` or a
``pusher:error`` (4001: unknown app key, 4003: app disabled...). :func:`probe` opens that
connection, at the address the page configuration gives browsers (``{% pushbridge_js %}``,
``CLIENT_OPTIONS`` included), then signs in and sends a client event on a private channel,
because a server can switch both off without a word to the HTTP API (Soketi does by default:
``send_to_user()`` then reaches nobody).

It needs ``websocket-client`` (``pip install "pushbridge[check]"``); ``trigger()`` never
imports it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pushbridge import signing
from pushbridge.defaults import VERSION
from pushbridge.errors import AuthenticationFailed, BackendError, BackendUnavailable, ConfigurationError

#: The Pusher protocol version announced, as pusher-js 8 does.
PROTOCOL = 7
#: How long a signin may take to be answered once everything else has been (Redis round trips).
SIGNIN_GRACE = 1.0
#: The user the probe signs in as.
PROBE_USER = "pushbridge-check"


@dataclass(frozen=True)
class ProbeResult:
    socket_id: str
    #: The server answered ``pusher:signin`` with ``pusher:signin_success``.
    signin: bool
    #: ``None`` when client events were accepted, else the server's refusal.
    client_events_refused: str | None


def websocket_url(options: Mapping[str, Any]) -> str:
    """The URL pusher-js would open with these browser options (``wsHost``, ``wsPort``...)."""
    tls = bool(options.get("forceTLS", True))
    host = options.get("wsHost") or f"ws-{options.get('cluster', 'mt1')}.pusher.com"
    port = options.get("wssPort" if tls else "wsPort") or (443 if tls else 80)
    path = str(options.get("wsPath") or "")
    key = quote(str(options["key"]), safe="")
    query = f"protocol={PROTOCOL}&client=pushbridge-check&version={VERSION}&flash=false"
    return f"{'wss' if tls else 'ws'}://{host}:{port}{path}/app/{key}?{query}"


def probe(options: Mapping[str, Any], *, secret: str, alias: str, timeout: float = 5.0) -> ProbeResult:
    """Connect as a browser with ``options``; say what works, or raise why the key was refused.

    Raises :class:`AuthenticationFailed` (status ``None``: the reason is a WebSocket error
    code, named in the message) when the service refuses the key, and
    :class:`BackendUnavailable` when the WebSocket cannot be opened or stops answering.
    """
    try:
        import websocket
    except ImportError:
        raise ConfigurationError(
            'Proving the app key needs websocket-client: pip install "pushbridge[check]".'
        ) from None
    url = websocket_url(options)
    key = str(options["key"])
    try:
        connection = websocket.create_connection(url, timeout=timeout, enable_multithread=False)
    except (OSError, websocket.WebSocketException) as exc:
        raise BackendUnavailable(f"Could not open a WebSocket: {exc}", backend=alias, url=url) from None
    session = _Session(connection, alias=alias, url=url, timeout=timeout)
    try:
        socket_id = _socket_id(session.receive(), alias=alias, url=url, key=key)
        user_data = json.dumps({"id": PROBE_USER})
        session.send(
            "pusher:signin", {"auth": signing.sign_user(key, secret, socket_id, user_data), "user_data": user_data}
        )
        channel = f"private-pushbridge-check-{uuid.uuid4().hex[:8]}"
        session.send(
            "pusher:subscribe", {"channel": channel, "auth": signing.sign_channel(key, secret, socket_id, channel)}
        )
        session.until(lambda f: f.get("channel") == channel and f["event"] != "client-pushbridge-check")
        if not session.any("pusher_internal:subscription_succeeded"):
            raise BackendError(
                f"A private channel signed with the secret was refused: {session.seen[-1]!r}", backend=alias, url=url
            )
        session.send("client-pushbridge-check", {}, channel=channel)
        session.send("pusher:ping", {})
        session.until(lambda f: f["event"] == "pusher:pong")  # the client event was handled before it
        refusals = [f for f in session.seen if f["event"] == "pusher:error"]
        if not session.any("pusher:signin_success"):
            session.until(lambda f: f["event"] == "pusher:signin_success", timeout=SIGNIN_GRACE, required=False)
    finally:
        connection.close()
    return ProbeResult(
        socket_id=socket_id,
        signin=session.any("pusher:signin_success"),
        client_events_refused=_reason(refusals[0]) if refusals else None,
    )


class _Session:
    """One WebSocket with the frames read so far."""

    def __init__(self, connection: Any, *, alias: str, url: str, timeout: float) -> None:
        self.connection = connection
        self.alias, self.url, self.timeout = alias, url, timeout
        self.seen: list[dict[str, Any]] = []

    def send(self, event: str, data: Any, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            frame["channel"] = channel
        self.connection.send(json.dumps(frame))

    def receive(self, timeout: float | None = None) -> Any:
        import websocket

        self.connection.settimeout(self.timeout if timeout is None else timeout)
        try:
            return self.connection.recv()
        except (OSError, websocket.WebSocketException) as exc:
            raise BackendUnavailable(
                f"The WebSocket stopped answering: {exc!r}", backend=self.alias, url=self.url
            ) from None

    def until(self, found: Any, *, timeout: float | None = None, required: bool = True) -> None:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = _frame(self.receive(remaining))
            except BackendUnavailable:
                if required:
                    raise
                return
            self.seen.append(frame)
            if found(frame):
                return
        if required:
            raise BackendUnavailable("The WebSocket server did not answer in time.", backend=self.alias, url=self.url)

    def any(self, event: str) -> bool:
        return any(frame["event"] == event for frame in self.seen)


def _frame(message: Any) -> dict[str, Any]:
    try:
        frame = json.loads(message)
        data = frame.get("data")
        frame["data"] = json.loads(data) if isinstance(data, str) and data[:1] in "{[" else data
        str(frame["event"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return {"event": "(not Pusher's)", "data": message}
    return frame  # type: ignore[no-any-return]


def _reason(frame: Mapping[str, Any]) -> str:
    data = frame.get("data")
    if isinstance(data, Mapping):
        return f"{data.get('code')}: {data.get('message') or 'no message'}"
    return str(data)


def _socket_id(message: Any, *, alias: str, url: str, key: str) -> str:
    frame = _frame(message)
    event, data = frame["event"], frame.get("data")
    if event == "pusher:connection_established" and isinstance(data, dict) and data.get("socket_id"):
        return str(data["socket_id"])
    if event == "pusher:error" and isinstance(data, dict):
        code = data.get("code")
        if code in (4001, 4003, 4009):  # unknown key, app disabled, unauthorised
            raise AuthenticationFailed(
                f"The app key {key!r} was refused by the WebSocket server ({_reason(frame)}).", backend=alias, url=url
            )
        raise BackendError(f"The WebSocket server refused the connection ({_reason(frame)}).", backend=alias, url=url)
    raise BackendError(f"Unexpected first WebSocket message: {message!r}", backend=alias, url=url)
