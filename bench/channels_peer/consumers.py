"""The consumer: the same minimal Pusher protocol the ceiling server speaks."""

from __future__ import annotations

import itertools
import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

_ids = itertools.count(1)
_dumps = json.JSONEncoder(separators=(",", ":")).encode


class PusherConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Joins one group per subscribed channel; forwards each group message's pre-encoded text.

    The view encodes each Pusher message once and the consumer sends that text as is: the
    same "encode once" advantage the ceiling has, so the peer is not handicapped by a
    per-subscriber ``json.dumps`` (which a typical Channels consumer would do).
    """

    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        await self.accept()
        number = next(_ids)
        established = {"socket_id": f"{number}.{number}", "activity_timeout": 120}
        await self.send(text_data=_dumps({"event": "pusher:connection_established", "data": _dumps(established)}))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            return
        message = json.loads(text_data)
        event = message.get("event")
        if event == "pusher:subscribe":
            channel = message["data"]["channel"]
            await self.channel_layer.group_add(channel, self.channel_name)
            self.groups_joined.append(channel)
            reply = {"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}"}
            await self.send(text_data=_dumps(reply))
        elif event == "pusher:ping":
            await self.send(text_data='{"event":"pusher:pong","data":"{}"}')

    async def disconnect(self, code: int) -> None:
        for channel in self.groups_joined:
            await self.channel_layer.group_discard(channel, self.channel_name)

    async def pusher_event(self, message: dict[str, Any]) -> None:
        """Handler of ``{"type": "pusher.event", "text": ...}`` group messages."""
        await self.send(text_data=message["text"])
