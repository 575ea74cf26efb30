"""``pusher:signin``: a connection proves who its user is (pusher.com/docs/channels/using_channels/user-authentication).

A refused sign-in closes the connection with 4009, as Pusher does: the client's credentials
are wrong and retrying at once would not help.
"""

from __future__ import annotations

from typing import Any

from pushbridge.engine.codec import decode, encode
from pushbridge.engine.codes import UNAUTHORIZED
from pushbridge.engine.connections import Connections
from pushbridge.engine.outputs import Output, SendFrame
from pushbridge.engine.state import Connection
from pushbridge.engine.tokens import verify
from pushbridge.errors import SignatureError, ValidationError
from pushbridge.signing import user_string_to_sign


def signin(connections: Connections, conn: Connection, data: Any) -> list[Output]:
    """Handle ``pusher:signin`` with (decoded) ``data``: ``pusher:signin_success`` or a 4009 close."""
    config = conn.app.config
    if not isinstance(data, dict) or not isinstance(data.get("user_data"), str):
        return connections.close(conn, UNAUTHORIZED, "pusher:signin needs 'auth' and 'user_data' (a JSON string).")
    user_data: str = data["user_data"]
    try:
        verify(config, data.get("auth"), user_string_to_sign(conn.socket_id, user_data))
    except SignatureError as exc:
        return connections.close(conn, UNAUTHORIZED, f"Sign-in refused: {exc.reason}")
    try:
        parsed = decode(user_data)
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        return connections.close(conn, UNAUTHORIZED, "Sign-in refused: user_data must be a JSON object.")
    try:
        user_id = config.limits.check_user_id(parsed.get("id"))
    except ValidationError as exc:
        return connections.close(conn, UNAUTHORIZED, f"Sign-in refused: {exc}")
    if conn.user_id is not None and conn.user_id != user_id:
        return connections.close(
            conn, UNAUTHORIZED, f"Sign-in refused: already signed in as {conn.user_id!r}, not {user_id!r}."
        )
    conn.user_id = user_id
    conn.user_info = parsed.get("user_info")
    conn.app.users.setdefault(user_id, {})[conn] = None
    return [SendFrame(conn, encode({"event": "pusher:signin_success", "data": {"user_data": user_data}}))]
