"""The bus: where a published event fans out, and where channel state is shared and queried.

The core keeps the connections of this node in :class:`~pushbridge.engine.state.AppState`.
What a cluster of nodes must agree on goes through a :class:`Bus` instead:

* fan-out of a published event (or a client event, or a presence change) to every subscriber;
* channel occupancy (``channel_occupied`` / ``channel_vacated``) and presence membership
  (a user on two sockets is one member, ``member_added`` once, ``member_removed`` when the
  last socket leaves), with the webhooks they cause;
* the HTTP API's queries: which channels exist, their counts, a presence channel's users.

The core tells the bus what happened on this node (a channel got its first local subscriber,
a user their first local socket in a presence channel...) and the bus answers with outputs.
:class:`LocalBus`, for a server of one process, answers at once from the node's own state.
A bus shared between processes answers what it can at once and hands later outputs (events
published on other nodes) to the callback given to :meth:`Bus.attach`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pushbridge.engine.codec import encode
from pushbridge.engine.outputs import Fanout, Output, WebhookEvent
from pushbridge.engine.state import AppState, Connection
from pushbridge.limits import SERVER_TO_USER_PREFIX


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What the HTTP API reports about one channel (``user_count`` is 0 unless presence)."""

    occupied: bool
    subscription_count: int
    user_count: int


#: The core's way to close a connection for a reason: ``pusher:error``, the close, forgetting it.
Kick = Callable[[Connection, int, str], list[Output]]


def member_added_fanout(
    state: AppState, channel: str, user_id: str, info: Any, exclude: Connection | None
) -> list[Output]:
    """``pusher_internal:member_added`` to this node's subscribers of ``channel`` but ``exclude``."""
    found = state.channels.get(channel)
    subscribers = found.subscribers if found is not None else {}
    if not subscribers or (exclude is not None and len(subscribers) == 1 and exclude in subscribers):
        return []
    frame = encode(
        {
            "event": "pusher_internal:member_added",
            "channel": channel,
            "data": encode({"user_id": user_id, "user_info": info}),
        }
    )
    return [Fanout(frame, tuple(subscribers), exclude=exclude)]


def member_removed_fanout(state: AppState, channel: str, user_id: str) -> list[Output]:
    """``pusher_internal:member_removed`` to this node's subscribers of ``channel``."""
    found = state.channels.get(channel)
    if found is None or not found.subscribers:
        return []
    frame = encode(
        {"event": "pusher_internal:member_removed", "channel": channel, "data": encode({"user_id": user_id})}
    )
    return [Fanout(frame, tuple(found.subscribers))]


class Bus(Protocol):
    """The interface between the protocol core and however many nodes serve an app."""

    def attach(self, deliver: Callable[[list[Output]], None]) -> None:
        """Receive the callback that carries out outputs the bus produces later, on its own."""

    def bind(self, states: Mapping[str, AppState], kick: Kick) -> None:
        """Receive this node's app states (by app id) and the core's way to close a connection.

        A bus shared between nodes needs them for what other nodes ask of this one.
        """

    def connections(self, state: AppState) -> int:
        """How many connections the app has (what a per-app connection cap counts)."""

    def terminate(self, state: AppState, user_id: str) -> list[Output]:
        """Close ``user_id``'s connections on the other nodes; the caller closes this node's."""

    def publish(self, state: AppState, channel: str, frame: str, exclude: str | None) -> list[Output]:
        """Deliver ``frame`` (encoded once) to every subscriber of ``channel`` but socket ``exclude``.

        ``#server-to-user-{id}`` channels reach the connections signed in as ``{id}``.
        """

    def occupied(self, state: AppState, channel: str) -> list[Output]:
        """``channel`` got its first subscriber on this node."""

    def vacated(self, state: AppState, channel: str) -> list[Output]:
        """``channel`` lost its last subscriber on this node."""

    def subscribers_changed(self, state: AppState, channel: str) -> None:
        """``channel`` gained or lost a subscriber on this node (its count is shared)."""

    def member_added(self, state: AppState, channel: str, user_id: str, info: Any, conn: Connection) -> list[Output]:
        """User ``user_id`` joined presence ``channel`` on its first socket on this node, ``conn``."""

    def member_removed(self, state: AppState, channel: str, user_id: str) -> list[Output]:
        """User ``user_id`` left presence ``channel`` with its last socket on this node."""

    def members(self, state: AppState, channel: str) -> Mapping[str, Any]:
        """The members of presence ``channel``: user id -> user info."""

    def channel_info(self, state: AppState, channel: str) -> ChannelInfo:
        """Counts of ``channel``."""

    def channels(self, state: AppState, prefix: str) -> list[str]:
        """Names of the occupied channels that start with ``prefix``."""

    def users(self, state: AppState, channel: str) -> list[str]:
        """User ids of the members of presence ``channel``."""


class LocalBus:
    """The bus of a server that is a single process: this node's state is the whole truth."""

    def attach(self, deliver: Callable[[list[Output]], None]) -> None:
        """Nothing happens here later: every answer is given at once."""

    def bind(self, states: Mapping[str, AppState], kick: Kick) -> None:
        """No other node ever asks anything of this one."""

    def connections(self, state: AppState) -> int:
        return len(state.connections)

    def terminate(self, state: AppState, user_id: str) -> list[Output]:
        return []

    def subscribers_changed(self, state: AppState, channel: str) -> None:
        """The counts are read from this node's state when asked."""

    def publish(self, state: AppState, channel: str, frame: str, exclude: str | None) -> list[Output]:
        if channel.startswith(SERVER_TO_USER_PREFIX):
            targets: dict[Connection, None] | None = state.users.get(channel[len(SERVER_TO_USER_PREFIX) :])
        else:
            found = state.channels.get(channel)
            targets = found.subscribers if found is not None else None
        if not targets:
            return []
        excluded = state.connections.get(exclude) if exclude else None
        return [Fanout(frame, tuple(targets), excluded)]

    def occupied(self, state: AppState, channel: str) -> list[Output]:
        config = state.config
        return [WebhookEvent(config, {"name": "channel_occupied", "channel": channel})] if config.webhooks else []

    def vacated(self, state: AppState, channel: str) -> list[Output]:
        config = state.config
        return [WebhookEvent(config, {"name": "channel_vacated", "channel": channel})] if config.webhooks else []

    def member_added(self, state: AppState, channel: str, user_id: str, info: Any, conn: Connection) -> list[Output]:
        outputs = member_added_fanout(state, channel, user_id, info, conn)
        config = state.config
        if config.webhooks:
            outputs.append(WebhookEvent(config, {"name": "member_added", "channel": channel, "user_id": user_id}))
        return outputs

    def member_removed(self, state: AppState, channel: str, user_id: str) -> list[Output]:
        outputs = member_removed_fanout(state, channel, user_id)
        config = state.config
        if config.webhooks:
            outputs.append(WebhookEvent(config, {"name": "member_removed", "channel": channel, "user_id": user_id}))
        return outputs

    def members(self, state: AppState, channel: str) -> Mapping[str, Any]:
        found = state.channels.get(channel)
        if found is None:
            return {}
        return {user_id: member.info for user_id, member in found.members.items()}

    def channel_info(self, state: AppState, channel: str) -> ChannelInfo:
        found = state.channels.get(channel)
        if found is None:
            return ChannelInfo(occupied=False, subscription_count=0, user_count=0)
        return ChannelInfo(occupied=True, subscription_count=len(found.subscribers), user_count=len(found.members))

    def channels(self, state: AppState, prefix: str) -> list[str]:
        return [name for name in state.channels if name.startswith(prefix)]

    def users(self, state: AppState, channel: str) -> list[str]:
        found = state.channels.get(channel)
        return list(found.members) if found is not None else []
