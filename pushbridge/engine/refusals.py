"""A refused subscription: the reason, and the ``pusher:subscription_error`` frame that says it."""

from __future__ import annotations

from pushbridge.engine.codec import encode
from pushbridge.engine.outputs import SendFrame
from pushbridge.engine.state import Connection


class SubscriptionRefused(Exception):
    """Raised while checking a subscription; becomes a ``pusher:subscription_error``."""

    def __init__(self, type_: str, message: str, status: int) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status


def subscription_error(conn: Connection, channel: str, type_: str, message: str, status: int) -> SendFrame:
    """A refused subscription: the connection stays open (Soketi's shape, which pusher-js re-emits)."""
    frame = encode(
        {
            "event": "pusher:subscription_error",
            "channel": channel,
            "data": {"type": type_, "error": message, "status": status},
        }
    )
    return SendFrame(conn, frame)
