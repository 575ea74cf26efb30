"""The bus of a node in a cluster on Redis: local answers at once, the rest through Redis.

Sans I/O, like the rest of the core: :class:`RedisBus` answers the core from this node's
state plus its :class:`~.cluster_view.ClusterView` of the other nodes, and queues what Redis
must carry in an :class:`~.cluster_outbox.Outbox` that :class:`~.redis_link.RedisLink` drains
(in order, pipelined). What
arrives from Redis goes through :meth:`RedisBus.receive`; the outputs it causes go to the
callback given to :meth:`attach`.

* A published event reaches this node's subscribers at once and goes to Redis carrying its
  frame; every other node writes that frame to its own subscribers as is. The events queued
  together leave together: one ``PUBLISH`` (one ``pubs`` message) for a run of them.
* Channel counts and presence members are announced as ops (one Redis script per batch):
  Redis decides which of them start or end something for the whole cluster, and the node
  whose script did sends the webhook, so each webhook goes out once per cluster.
* ``pusher_internal:member_added`` / ``member_removed`` reach this node's subscribers when a
  user appears in or disappears from the union of this node's members and the other nodes'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pushbridge.engine.bus import ChannelInfo, Kick, LocalBus, member_added_fanout, member_removed_fanout
from pushbridge.engine.cluster_outbox import Entry, Outbox, Publish, QueuedEvent, StoreCached
from pushbridge.engine.cluster_view import ClusterView, MemberChange, Op
from pushbridge.engine.cluster_wire import BATCH_KIND, Keys, events_of, parse, terminate_message
from pushbridge.engine.codec import decode, encode
from pushbridge.engine.codes import TERMINATED_BY_APP, UNAUTHORIZED
from pushbridge.engine.outputs import Output, WebhookEvent
from pushbridge.engine.state import AppState, CachedEvent, Connection
from pushbridge.limits import is_cache_channel


class RedisBus:
    """A :class:`~.bus.Bus` shared by the nodes of a cluster, through Redis."""

    def __init__(self, node_id: str, keys: Keys, clock: Callable[[], float] = time.monotonic) -> None:
        self.node_id = node_id
        self.keys = keys
        self.view = ClusterView(node_id)
        self._local = LocalBus()
        self._clock = clock
        self._deliver: Callable[[list[Output]], None] = lambda outputs: None
        self._kick: Kick = lambda conn, code, message: []
        self.states: Mapping[str, AppState] = {}
        #: What Redis must carry; its ``wake`` is the link's writer's.
        self.outbox = Outbox(node_id)

    # -- the Bus interface ------------------------------------------------------------------------

    def attach(self, deliver: Callable[[list[Output]], None]) -> None:
        self._deliver = deliver

    def bind(self, states: Mapping[str, AppState], kick: Kick) -> None:
        self.states = states
        self._kick = kick

    def publish(self, state: AppState, channel: str, frame: str, exclude: str | None) -> list[Output]:
        app_id = state.config.app_id
        cache_ttl: int | None = None
        if is_cache_channel(channel):
            cached = state.cache.get(channel)
            if cached is not None and cached.frame is frame:
                cache_ttl = max(1, round(cached.expires - self._clock()))
                self.outbox.put(StoreCached(self.keys.cache(app_id, channel), frame, cache_ttl * 1000))
        self.outbox.put(QueuedEvent(app_id, (channel, exclude, cache_ttl, frame)))
        return self._local.publish(state, channel, frame, exclude)

    def occupied(self, state: AppState, channel: str) -> list[Output]:
        self.outbox.op(state.config.app_id, ("c", channel, 1))
        return []

    def vacated(self, state: AppState, channel: str) -> list[Output]:
        self.outbox.op(state.config.app_id, ("c", channel, 0))
        return []

    def subscribers_changed(self, state: AppState, channel: str) -> None:
        self.outbox.count_changed(state.config.app_id, channel)

    def member_added(self, state: AppState, channel: str, user_id: str, info: Any, conn: Connection) -> list[Output]:
        self.outbox.op(state.config.app_id, ("+", channel, user_id, encode(info)))
        if self.view.has_member(state.config.app_id, channel, user_id):
            return []
        return member_added_fanout(state, channel, user_id, info, conn)

    def member_removed(self, state: AppState, channel: str, user_id: str) -> list[Output]:
        self.outbox.op(state.config.app_id, ("-", channel, user_id))
        if self.view.has_member(state.config.app_id, channel, user_id):
            return []
        return member_removed_fanout(state, channel, user_id)

    def members(self, state: AppState, channel: str) -> Mapping[str, Any]:
        remote = self.view.members(state.config.app_id, channel)
        local = self._local.members(state, channel)
        return {**remote, **local} if remote else local

    def channel_info(self, state: AppState, channel: str) -> ChannelInfo:
        local = self._local.channel_info(state, channel)
        remote = self.view.subscriptions(state.config.app_id, channel)
        if not remote:
            return local
        return ChannelInfo(
            occupied=True,
            subscription_count=local.subscription_count + remote,
            user_count=len(self.members(state, channel)),
        )

    def channels(self, state: AppState, prefix: str) -> list[str]:
        names = dict.fromkeys(self._local.channels(state, prefix))
        names.update((name, None) for name in self.view.channels(state.config.app_id) if name.startswith(prefix))
        return list(names)

    def users(self, state: AppState, channel: str) -> list[str]:
        return list(self.members(state, channel))

    def connections(self, state: AppState) -> int:
        return len(state.connections) + self.view.connections(state.config.app_id)

    def terminate(self, state: AppState, user_id: str) -> list[Output]:
        self.outbox.put(Publish(terminate_message(self.node_id, state.config.app_id, user_id)))
        return []

    # -- for the link -----------------------------------------------------------------------------

    def take_outbox(self) -> list[Entry]:
        """Everything queued for Redis, in order (see :class:`~.cluster_outbox.Outbox`)."""
        return self.outbox.take(self.states)

    def announce_connections(self) -> None:
        """Queue an announcement for every app whose connection count changed since the last one."""
        self.outbox.announce_connections(self.states)

    def resync(self) -> None:
        """Announce this node's whole state again (after Redis had forgotten it)."""
        self.outbox.resync(self.states)

    def load_node(
        self, node: str, app_id: str, subscriptions: Mapping[str, str], members: Mapping[str, str], connections: int
    ) -> None:
        """Take in what Redis says node ``node`` holds for app ``app_id`` (when this node starts)."""
        ops: list[Op] = [("c", channel, int(count)) for channel, count in subscriptions.items()]
        for field, info in members.items():
            channel, _, user_id = field.partition("\n")
            ops.append(("+", channel, user_id, info))
        self._apply(node, app_id, ops, connections, reset=True)

    def forget_all_but(self, nodes: Collection[str]) -> None:
        """Forget the other nodes that are not among ``nodes`` (Redis no longer holds them)."""
        for node in self.view.nodes() - set(nodes):
            self._node_gone(node)

    def load_cached(self, app_id: str, channel: str, frame: str, ttl_ms: int) -> None:
        """Take in a cache channel's last event kept in Redis (when this node starts)."""
        state = self.states.get(app_id)
        if state is not None and ttl_ms > 0:
            self._store_cached(state, channel, frame, ttl_ms / 1000)

    def webhooks(self, hooks_json: str) -> None:
        """Send the webhooks a Redis script found to be this node's to send."""
        outputs: list[Output] = []
        for hook in decode(hooks_json):
            app_id, name, channel, *user = hook
            state = self.states.get(app_id)
            if state is None or not state.config.webhooks:
                continue
            event: dict[str, Any] = {"name": name, "channel": channel}
            if user:
                event["user_id"] = user[0]
            outputs.append(WebhookEvent(state.config, event))
        if outputs:
            self._deliver(outputs)

    def receive(self, message: str) -> None:
        """A message arrived on the cluster's pub/sub channel."""
        header, body = parse(message)
        kind, node = header[0], header[1]
        if kind == "gone":
            self._node_gone(node)
            return
        if node == self.node_id:
            return
        state = self.states.get(header[2])
        if state is None:  # An app this node does not host.
            return
        if kind == "pub":
            _, _, _, channel, exclude, cache_ttl = header
            outputs = self._event(state, channel, exclude, cache_ttl, body)
        elif kind == BATCH_KIND:
            outputs = []
            for channel, exclude, cache_ttl, frame in events_of(header, body):
                outputs += self._event(state, channel, exclude, cache_ttl, frame)
        elif kind == "state":
            _, _, app_id, connections, reset = header
            outputs = self._apply(node, app_id, decode(body), connections, reset)
        elif kind == "term":
            outputs = []
            for conn in list(state.users.get(header[3], ())):
                outputs += self._kick(conn, UNAUTHORIZED, TERMINATED_BY_APP)
        else:
            raise ValueError(f"Unknown cluster message kind {kind!r}")
        if outputs:
            self._deliver(outputs)

    # -- inner workings ---------------------------------------------------------------------------

    def _event(
        self, state: AppState, channel: str, exclude: str | None, cache_ttl: int | None, frame: str
    ) -> list[Output]:
        if cache_ttl is not None:
            self._store_cached(state, channel, frame, cache_ttl)
        return self._local.publish(state, channel, frame, exclude)

    def _store_cached(self, state: AppState, channel: str, frame: str, ttl: float) -> None:
        data = decode(frame).get("data")
        state.cache[channel] = CachedEvent(frame, data if isinstance(data, str) else encode(data), self._clock() + ttl)

    def _apply(self, node: str, app_id: str, ops: list[Op], connections: int | None, reset: bool) -> list[Output]:
        return self._changes_seen(app_id, self.view.apply(node, app_id, ops, connections, reset))

    def _node_gone(self, node: str) -> None:
        if node == self.node_id:
            # Redis forgot this node (it missed its heartbeats): announce everything again.
            self.resync()
            return
        outputs: list[Output] = []
        for app_id, changes in self.view.forget(node).items():
            outputs += self._changes_seen(app_id, changes)
        if outputs:
            self._deliver(outputs)

    def _changes_seen(self, app_id: str, changes: list[MemberChange]) -> list[Output]:
        """Frames for this node's subscribers when members appear on or leave the other nodes."""
        state = self.states.get(app_id)
        if state is None or not changes:
            return []
        outputs: list[Output] = []
        for change in changes:
            channel = state.channels.get(change.channel)
            if channel is None or change.user_id in channel.members:
                continue  # Nobody here to tell, or the user is here anyway.
            if change.joined:
                outputs += member_added_fanout(state, change.channel, change.user_id, change.info, None)
            else:
                outputs += member_removed_fanout(state, change.channel, change.user_id)
        return outputs
