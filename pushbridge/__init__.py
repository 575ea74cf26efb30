"""pushbridge: Pusher-style realtime for Django.

::

    import pushbridge
    pushbridge.trigger("room-42", "show-message", {"text": "hi"})

Where the event goes is one setting (``PUSHBRIDGE``, or the ``PUSHBRIDGE_URL`` environment
variable): hosted Pusher Channels, a Soketi cluster, the embedded pushbridge server, or the
in-memory fake whose ``pushbridge.outbox`` test suites read.
"""

from __future__ import annotations

from typing import Any

from pushbridge.api import (
    authenticate_channel,
    authenticate_user,
    channel_info,
    channel_users,
    channels,
    send_to_user,
    terminate_user_connections,
    trigger,
    trigger_batch,
    verify_webhook,
)
from pushbridge.async_api import (
    achannel_info,
    achannel_users,
    achannels,
    asend_to_user,
    aterminate_user_connections,
    atrigger,
    atrigger_batch,
)
from pushbridge.auth import channel
from pushbridge.defaults import VERSION as __version__
from pushbridge.dispatch import flush, muted
from pushbridge.errors import PushbridgeError
from pushbridge.events import Event

#: Events received by the memory backend, one record per channel (see backends.memory).
#: Like ``django.core.mail.outbox``: tests read and clear it.
outbox: list[Any] = []


def __getattr__(name: str) -> Any:
    # broadcasts() needs django.db.models and message_view() django.forms: imported on first
    # use, so that a script that only triggers stays light.
    if name == "broadcasts":
        from pushbridge.broadcast import broadcasts

        return broadcasts
    if name == "message_view":
        from pushbridge.views import message_view

        return message_view
    raise AttributeError(f"module 'pushbridge' has no attribute {name!r}")


__all__ = [
    "Event",
    "PushbridgeError",
    "__version__",
    "achannel_info",
    "achannel_users",
    "achannels",
    "asend_to_user",
    "aterminate_user_connections",
    "atrigger",
    "atrigger_batch",
    "authenticate_channel",
    "authenticate_user",
    "broadcasts",
    "channel",
    "channel_info",
    "channel_users",
    "channels",
    "flush",
    "message_view",
    "muted",
    "outbox",
    "send_to_user",
    "terminate_user_connections",
    "trigger",
    "trigger_batch",
    "verify_webhook",
]
