"""Prove an alias's app key the way a browser would: open a WebSocket with it.

The HTTP API authenticates with the key *and* the secret on hosted Pusher, but Soketi checks
only the secret there, so a signed request proves nothing about the key. Browsers connect
with the key alone, and the service answers either ``pusher:connection_established`` or a
``pusher:error`` (4001: unknown app key, 4003: app disabled...). This module opens that
connection, at the address the page configuration gives browsers (``{% pushbridge_js %}``,
``CLIENT_OPTIONS`` included), reads the first message and closes.

It needs ``websocket-client`` (``pip install "pushbridge[check]"``); ``trigger()`` never
imports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pushbridge import __version__
from pushbridge.errors import AuthenticationFailed, BackendError, BackendUnavailable, ConfigurationError

#: The Pusher protocol version announced, as pusher-js 8 does.
PROTOCOL = 7


def websocket_url(options: Mapping[str, Any]) -> str:
    """The URL pusher-js would open with these browser options (``wsHost``, ``wsPort``...)."""
    tls = bool(options.get("forceTLS", True))
    host = options.get("wsHost") or f"ws-{options.get('cluster', 'mt1')}.pusher.com"
    port = options.get("wssPort" if tls else "wsPort") or (443 if tls else 80)
    path = str(options.get("wsPath") or "")
    key = quote(str(options["key"]), safe="")
    query = f"protocol={PROTOCOL}&client=pushbridge-check&version={__version__}&flash=false"
    return f"{'wss' if tls else 'ws'}://{host}:{port}{path}/app/{key}?{query}"


def probe_key(options: Mapping[str, Any], *, alias: str, timeout: float = 5.0) -> str:
    """Connect as a browser with ``options``; return the socket id, or raise why it was refused.

    Raises :class:`AuthenticationFailed` (status ``None``: this is a WebSocket close code,
    named in the message) when the service refuses the key, and :class:`BackendUnavailable`
    when the WebSocket cannot be opened at all.
    """
    try:
        import websocket
    except ImportError:
        raise ConfigurationError(
            'Proving the app key needs websocket-client: pip install "pushbridge[check]".'
        ) from None
    url = websocket_url(options)
    try:
        connection = websocket.create_connection(url, timeout=timeout, enable_multithread=False)
    except (OSError, websocket.WebSocketException) as exc:
        raise BackendUnavailable(f"Could not open a WebSocket: {exc}", backend=alias, url=url) from None
    try:
        first = connection.recv()
    except (OSError, websocket.WebSocketException) as exc:
        raise BackendUnavailable(f"The WebSocket closed before a greeting: {exc}", backend=alias, url=url) from None
    finally:
        connection.close()
    return _socket_id(first, alias=alias, url=url, key=str(options["key"]))


def _socket_id(message: Any, *, alias: str, url: str, key: str) -> str:
    try:
        frame = json.loads(message)
        event, data = frame["event"], frame.get("data")
        data = json.loads(data) if isinstance(data, str) else data
    except (TypeError, ValueError, KeyError):
        raise BackendError(
            f"The WebSocket greeted with something else than Pusher's: {message!r}", backend=alias, url=url
        ) from None
    if event == "pusher:connection_established" and isinstance(data, dict) and data.get("socket_id"):
        return str(data["socket_id"])
    if event == "pusher:error" and isinstance(data, dict):
        code, reason = data.get("code"), data.get("message") or "no message"
        if code in (4001, 4003, 4009):  # unknown key, app disabled, unauthorised
            raise AuthenticationFailed(
                f"The app key {key!r} was refused by the WebSocket server ({code}: {reason}).", backend=alias, url=url
            )
        raise BackendError(f"The WebSocket server refused the connection ({code}: {reason}).", backend=alias, url=url)
    raise BackendError(f"Unexpected first WebSocket message: {message!r}", backend=alias, url=url)
