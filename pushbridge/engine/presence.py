"""Presence channels: who a subscriber says they are, and the frame that lists the members.

See pusher.com/docs/channels/using_channels/presence-channels: the auth token signs the
socket id, the channel and the exact ``channel_data`` text, which names the ``user_id`` and
may carry ``user_info`` (Pusher: at most 1 KB).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pushbridge.engine.codec import decode, encode
from pushbridge.engine.codes import CLIENT_EVENT_REJECTED
from pushbridge.engine.refusals import SubscriptionRefused
from pushbridge.engine.state import Connection
from pushbridge.engine.tokens import verify
from pushbridge.limits import Limits, is_presence
from pushbridge.signing import channel_string_to_sign


def presence_member(conn: Connection, channel: str, data: dict[str, Any]) -> tuple[str, Any]:
    """Verify a presence subscription and return the member's (user id, user info).

    Raises :class:`~pushbridge.errors.SignatureError` or :class:`SubscriptionRefused`.
    """
    config = conn.app.config
    channel_data = data.get("channel_data")
    if channel_data is None and conn.user_id is not None:
        # pusher-js with a signed-in user and an auth response without channel_data.
        verify(config, data.get("auth"), channel_string_to_sign(conn.socket_id, channel))
        check_member_info(config.limits, conn.user_info)
        return conn.user_id, conn.user_info
    if not isinstance(channel_data, str):
        raise SubscriptionRefused("AuthError", "Presence channels need 'channel_data', a JSON string.", 401)
    # Verify over the exact text received: a re-serialization would not match.
    verify(config, data.get("auth"), channel_string_to_sign(conn.socket_id, channel, channel_data))
    try:
        parsed = decode(channel_data)
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict) or "user_id" not in parsed:
        raise SubscriptionRefused("InvalidChannelData", "channel_data must be a JSON object with 'user_id'.", 400)
    user_id = parsed["user_id"]
    limits = config.limits
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)) or str(user_id) == "":
        raise SubscriptionRefused("InvalidChannelData", f"user_id {user_id!r} must be a non-empty string.", 400)
    user_id = str(user_id)
    if len(user_id) > limits.max_user_id_length:
        raise SubscriptionRefused(
            "InvalidChannelData",
            f"user_id is {len(user_id)} characters long; the limit is {limits.max_user_id_length}.",
            400,
        )
    info = parsed.get("user_info")
    check_member_info(limits, info)
    return user_id, info


def check_member_info(limits: Limits, info: Any) -> None:
    """Refuse a presence member whose ``user_info`` is over the size limit (Pusher: 1 KB)."""
    size = len(encode(info).encode("utf-8"))
    if size > limits.max_presence_member_bytes:
        raise SubscriptionRefused(
            "LimitReached",
            f"user_info is {size} bytes; the limit is {limits.max_presence_member_bytes} bytes.",
            CLIENT_EVENT_REJECTED,
        )


def succeeded_frame(channel: str, members: Mapping[str, Any]) -> str:
    """``pusher_internal:subscription_succeeded``; for presence, with the member list."""
    if is_presence(channel):
        presence = {"presence": {"ids": list(members), "hash": dict(members), "count": len(members)}}
        data = encode(presence)
    else:
        data = "{}"
    return encode({"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": data})
