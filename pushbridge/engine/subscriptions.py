"""Subscribing and leaving: the checks a subscription passes, and what joining a channel changes.

Public channels need nothing; private ones a token over socket id and channel; presence ones
a token over the member data too (:mod:`.presence`); ``#server-to-user-{id}`` only the
connection signed in as ``{id}``. A refusal is a ``pusher:subscription_error`` and the
connection stays open. What the rest of the cluster must learn (occupancy, membership) is
told to the bus.
"""

from __future__ import annotations

from typing import Any

from pushbridge.engine.budget import SubscriptionBudget
from pushbridge.engine.bus import Bus
from pushbridge.engine.cache import CacheChannels
from pushbridge.engine.codec import encode, error_frame
from pushbridge.engine.codes import OVER_CAPACITY, UNAUTHORIZED
from pushbridge.engine.outputs import Output, SendFrame
from pushbridge.engine.presence import presence_member, succeeded_frame
from pushbridge.engine.refusals import SubscriptionRefused, subscription_error
from pushbridge.engine.state import Channel, Connection, Member
from pushbridge.engine.tokens import verify
from pushbridge.errors import InvalidChannel, SignatureError
from pushbridge.limits import SERVER_TO_USER_PREFIX, channel_kind, is_cache_channel, is_presence
from pushbridge.signing import channel_string_to_sign


class Subscriptions:
    """``pusher:subscribe`` and ``pusher:unsubscribe`` for every app."""

    def __init__(self, bus: Bus, cache: CacheChannels, budget: SubscriptionBudget) -> None:
        self._bus = bus
        self._cache = cache
        self.budget = budget

    def subscribe(self, conn: Connection, data: Any) -> list[Output]:
        """Handle ``pusher:subscribe`` with (decoded) ``data``."""
        if not isinstance(data, dict):
            return [SendFrame(conn, error_frame(None, "pusher:subscribe needs a data object with a channel."))]
        name = data.get("channel")
        if not isinstance(name, str):
            return [SendFrame(conn, error_frame(None, "pusher:subscribe needs a 'channel' string."))]
        config = conn.app.config
        try:
            config.limits.check_channel(name)
        except InvalidChannel as exc:
            return [subscription_error(conn, name, "InvalidChannel", str(exc), UNAUTHORIZED)]
        kind = channel_kind(name)
        if kind == "user":
            return self._subscribe_user_channel(conn, name)
        if name.startswith("#"):
            return [subscription_error(conn, name, "InvalidChannel", f"Channel {name!r} is reserved.", UNAUTHORIZED)]

        limit = config.limits.max_channels_per_connection
        if name not in conn.channels and len(conn.channels) >= limit:
            return [
                subscription_error(
                    conn,
                    name,
                    "LimitReached",
                    f"This connection is subscribed to {len(conn.channels)} channels, the limit; "
                    f"unsubscribe from one before subscribing to {name!r}.",
                    OVER_CAPACITY,
                )
            ]
        if name not in conn.channels:
            refusal = self.budget.refusal(conn)
            if refusal is not None:
                return [subscription_error(conn, name, "LimitReached", refusal, OVER_CAPACITY)]

        member_id: str | None = None
        member_info: Any = None
        try:
            if kind in ("private", "encrypted"):
                verify(config, data.get("auth"), channel_string_to_sign(conn.socket_id, name))
            elif kind == "presence":
                member_id, member_info = presence_member(conn, name, data)
        except SignatureError as exc:
            return [subscription_error(conn, name, "AuthError", exc.reason, 401)]
        except SubscriptionRefused as exc:
            return [subscription_error(conn, name, exc.type, exc.message, exc.status)]

        state = conn.app
        bus = self._bus
        channel = state.channels.get(name)
        if name in conn.channels and channel is not None:
            # Subscribing twice is harmless: confirm again, change nothing.
            return [SendFrame(conn, self._succeeded(conn, name))]
        if member_id is not None:
            max_members = config.limits.max_presence_members
            if bus.channel_info(state, name).user_count >= max_members and member_id not in bus.members(state, name):
                return [
                    subscription_error(
                        conn,
                        name,
                        "LimitReached",
                        f"Presence channel {name!r} already has {max_members} members, the limit.",
                        OVER_CAPACITY,
                    )
                ]
        outputs: list[Output] = []
        if channel is None:
            channel = state.channels[name] = Channel(name)
            outputs += bus.occupied(state, name)
        channel.subscribers[conn] = None
        bus.subscribers_changed(state, name)
        conn.channels[name] = member_id
        self.budget.charge(conn)
        added = False
        if member_id is not None:
            member = channel.members.get(member_id)
            if member is None:
                member = channel.members[member_id] = Member(member_info)
                added = True
            member.sockets.add(conn)
        outputs.append(SendFrame(conn, self._succeeded(conn, name)))
        if added and member_id is not None:
            outputs += bus.member_added(state, name, member_id, member_info, conn)
        if is_cache_channel(name):
            outputs += self._cache.replay(conn, name)
        return outputs

    def leave(self, conn: Connection, name: str) -> list[Output]:
        """Remove ``conn`` from one channel, telling the bus what that changed."""
        member_id = conn.channels.pop(name)
        self.budget.refund(conn)
        state = conn.app
        channel = state.channels.get(name)
        if channel is None:  # A #server-to-user- channel: nothing shared to update.
            return []
        channel.subscribers.pop(conn, None)
        self._bus.subscribers_changed(state, name)
        outputs: list[Output] = []
        if member_id is not None:
            member = channel.members.get(member_id)
            if member is not None:
                member.sockets.discard(conn)
                if not member.sockets:
                    del channel.members[member_id]
                    outputs += self._bus.member_removed(state, name, member_id)
        if not channel.subscribers:
            del state.channels[name]
            outputs += self._bus.vacated(state, name)
        return outputs

    def _succeeded(self, conn: Connection, name: str) -> str:
        members = self._bus.members(conn.app, name) if is_presence(name) else {}
        return succeeded_frame(name, members)

    def _subscribe_user_channel(self, conn: Connection, name: str) -> list[Output]:
        """``#server-to-user-{id}``: only the connection signed in as ``{id}`` may listen."""
        wanted = name[len(SERVER_TO_USER_PREFIX) :]
        if conn.user_id is None or conn.user_id != wanted:
            return [
                subscription_error(
                    conn,
                    name,
                    "AuthError",
                    f"Only a connection signed in as user {wanted!r} may subscribe to {name!r}.",
                    401,
                )
            ]
        # Delivery goes through the user's signed-in connections; the subscription is
        # remembered only so that unsubscribing is quiet and subscribing twice is harmless.
        if name not in conn.channels:
            refusal = self.budget.refusal(conn)
            if refusal is not None:
                return [subscription_error(conn, name, "LimitReached", refusal, OVER_CAPACITY)]
            self.budget.charge(conn)
        conn.channels[name] = None
        succeeded = {"event": "pusher_internal:subscription_succeeded", "channel": name, "data": "{}"}
        return [SendFrame(conn, encode(succeeded))]
