"""Client events: ``client-*`` frames a subscriber sends to the others on its channel.

Pusher's rules (pusher.com/docs/channels/using_channels/events#triggering-client-events): only
on private and presence channels the sender is subscribed to, never echoed to the sender, at
most 10 a second per connection, with the sender's ``user_id`` on presence channels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pushbridge.engine.bus import Bus
from pushbridge.engine.codec import check_payload, encode, error_frame
from pushbridge.engine.codes import CLIENT_EVENT_REJECTED
from pushbridge.engine.drops import CLIENT_EVENT_REJECTED as REJECTED
from pushbridge.engine.drops import Drops
from pushbridge.engine.outputs import Output, SendFrame, WebhookEvent
from pushbridge.engine.state import Connection
from pushbridge.errors import PayloadTooLarge
from pushbridge.limits import channel_kind


class ClientEvents:
    """Checks a client event and hands it to the bus, and to the ``client_event`` webhook."""

    def __init__(self, bus: Bus, clock: Callable[[], float], drops: Drops) -> None:
        self._bus = bus
        self._clock = clock
        self._drops = drops

    def receive(self, conn: Connection, event: str, message: dict[str, Any]) -> list[Output]:
        """Handle client event ``event`` (the parsed frame is ``message``) from ``conn``."""
        config = conn.app.config
        limits = config.limits
        channel = message.get("channel")

        def reject(code: int | None, text: str) -> list[Output]:
            self._drops.count(REJECTED)
            where = channel if isinstance(channel, str) else None
            return [SendFrame(conn, error_frame(code, text, where))]

        if not config.client_events:
            return reject(None, "Client events are disabled for this app.")
        if not isinstance(channel, str) or channel not in conn.channels:
            return reject(None, f"Client event {event!r} rejected: the connection is not subscribed to {channel!r}.")
        if channel_kind(channel) not in ("private", "presence"):
            return reject(
                None,
                f"Client event {event!r} rejected: client events are only allowed on private and presence channels.",
            )
        if len(event) > limits.max_event_name_length:
            return reject(
                CLIENT_EVENT_REJECTED,
                f"Client event name is {len(event)} characters long; the limit is {limits.max_event_name_length}.",
            )
        now = self._clock()
        if now - conn.client_window >= 1.0:
            conn.client_window = now
            conn.client_window_count = 0
        conn.client_window_count += 1
        if conn.client_window_count > limits.max_client_events_per_second:
            return reject(
                CLIENT_EVENT_REJECTED,
                f"Client event rejected due to rate limit: at most {limits.max_client_events_per_second} "
                "client events per second per connection.",
            )
        data = message.get("data")
        data_text = data if isinstance(data, str) else encode(data)
        try:
            check_payload(limits, data_text, channel)
        except PayloadTooLarge as exc:
            return reject(CLIENT_EVENT_REJECTED, f"Client event rejected: {exc}")
        frame_message: dict[str, Any] = {"event": event, "channel": channel, "data": data}
        member_id = conn.channels[channel]
        if member_id is not None:
            frame_message["user_id"] = member_id
        outputs = self._bus.publish(conn.app, channel, encode(frame_message), conn.socket_id)
        if config.webhooks:
            hook: dict[str, Any] = {
                "name": "client_event",
                "channel": channel,
                "event": event,
                "data": data_text,
                "socket_id": conn.socket_id,
            }
            if member_id is not None:
                hook["user_id"] = member_id
            outputs.append(WebhookEvent(config, hook))
        return outputs
