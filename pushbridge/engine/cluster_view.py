"""What this node knows about the other nodes of a cluster: their subscriptions, members, connections.

Every node tells the others, through Redis, each change of its own channel counts and
presence members (see :mod:`.cluster_wire`). Each node keeps the result here, so that the
questions the core asks synchronously -- the members list of a ``subscription_succeeded``, a
channel's counts for the HTTP API, the per-app connection cap -- are answered at once, without
a round trip to Redis. All nodes read the same stream of changes in the same order (Redis
delivers a pub/sub channel's messages in one order to every subscriber), so their views agree
once the stream has been read.

A member is tracked per node: a user on two other nodes stays in the view until both let go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pushbridge.engine.codec import decode

#: A change of a node's channel count: ``("c", channel, count)``. A member joining that node:
#: ``("+", channel, user_id, user_info as JSON text)``; leaving it: ``("-", channel, user_id)``.
Op = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class MemberChange:
    """A user appeared in (``joined``) or disappeared from the other nodes of a presence channel."""

    channel: str
    user_id: str
    info: Any
    joined: bool


class RemoteApp:
    """One app as seen on the other nodes."""

    __slots__ = ("connections", "members", "subscriptions")

    def __init__(self) -> None:
        #: channel -> node -> subscriptions on that node
        self.subscriptions: dict[str, dict[str, int]] = {}
        #: channel -> user id -> node -> user info
        self.members: dict[str, dict[str, dict[str, Any]]] = {}
        #: node -> connections on that node
        self.connections: dict[str, int] = {}

    def set_count(self, node: str, channel: str, count: int) -> None:
        nodes = self.subscriptions.get(channel)
        if count > 0:
            if nodes is None:
                nodes = self.subscriptions[channel] = {}
            nodes[node] = count
        elif nodes is not None:
            nodes.pop(node, None)
            if not nodes:
                del self.subscriptions[channel]

    def add_member(self, node: str, channel: str, user_id: str, info: Any) -> MemberChange | None:
        users = self.members.setdefault(channel, {})
        nodes = users.get(user_id)
        if nodes is None:
            users[user_id] = {node: info}
            return MemberChange(channel, user_id, info, joined=True)
        nodes[node] = info
        return None

    def remove_member(self, node: str, channel: str, user_id: str) -> MemberChange | None:
        users = self.members.get(channel)
        nodes = users.get(user_id) if users is not None else None
        if users is None or nodes is None or node not in nodes:
            return None
        info = nodes.pop(node)
        if nodes:
            return None
        del users[user_id]
        if not users:
            del self.members[channel]
        return MemberChange(channel, user_id, info, joined=False)

    def forget(self, node: str) -> list[MemberChange]:
        """Drop everything ``node`` held; return the members who are gone with it."""
        self.connections.pop(node, None)
        for channel in [name for name, nodes in self.subscriptions.items() if node in nodes]:
            self.set_count(node, channel, 0)
        changes: list[MemberChange] = []
        for channel, users in list(self.members.items()):
            for user_id in [uid for uid, nodes in users.items() if node in nodes]:
                change = self.remove_member(node, channel, user_id)
                if change is not None:
                    changes.append(change)
        return changes


class ClusterView:
    """The other nodes' state, per app, kept from the changes they announce."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._apps: dict[str, RemoteApp] = {}

    def app(self, app_id: str) -> RemoteApp:
        found = self._apps.get(app_id)
        if found is None:
            found = self._apps[app_id] = RemoteApp()
        return found

    def apply(
        self, node: str, app_id: str, ops: Iterable[Op], connections: int | None, reset: bool = False
    ) -> list[MemberChange]:
        """Apply what ``node`` announced for app ``app_id``; ``reset``: its state starts over.

        Returns the members who appeared in or disappeared from the other nodes.
        """
        if node == self.node_id:
            return []
        app = self.app(app_id)
        changes = app.forget(node) if reset else []
        for op in ops:
            kind = op[0]
            change: MemberChange | None = None
            if kind == "c":
                app.set_count(node, op[1], int(op[2]))
            elif kind == "+":
                change = app.add_member(node, op[1], op[2], decode(op[3]))
            elif kind == "-":
                change = app.remove_member(node, op[1], op[2])
            if change is not None:
                changes.append(change)
        if connections is not None:
            app.connections[node] = connections
        return _net(changes)

    def forget(self, node: str) -> dict[str, list[MemberChange]]:
        """``node`` is gone: drop its state; return the members gone with it, per app."""
        return {app_id: app.forget(node) for app_id, app in self._apps.items()}

    def nodes(self) -> set[str]:
        """Every node this view holds something of."""
        found: set[str] = set()
        for app in self._apps.values():
            found.update(app.connections)
            for nodes in app.subscriptions.values():
                found.update(nodes)
            for users in app.members.values():
                for holders in users.values():
                    found.update(holders)
        return found

    def subscriptions(self, app_id: str, channel: str) -> int:
        app = self._apps.get(app_id)
        nodes = app.subscriptions.get(channel) if app is not None else None
        return sum(nodes.values()) if nodes else 0

    def channels(self, app_id: str) -> Iterable[str]:
        app = self._apps.get(app_id)
        return app.subscriptions.keys() if app is not None else ()

    def members(self, app_id: str, channel: str) -> dict[str, Any]:
        """User id -> user info of the members on other nodes."""
        app = self._apps.get(app_id)
        users = app.members.get(channel) if app is not None else None
        if not users:
            return {}
        return {user_id: next(iter(nodes.values())) for user_id, nodes in users.items()}

    def has_member(self, app_id: str, channel: str, user_id: str) -> bool:
        app = self._apps.get(app_id)
        users = app.members.get(channel) if app is not None else None
        return users is not None and user_id in users

    def connections(self, app_id: str) -> int:
        app = self._apps.get(app_id)
        return sum(app.connections.values()) if app is not None else 0


def _net(changes: list[MemberChange]) -> list[MemberChange]:
    """Drop a join and a leave of the same member that cancel out within one batch."""
    if len(changes) < 2:
        return changes
    last: dict[tuple[str, str], MemberChange] = {}
    firsts: dict[tuple[str, str], MemberChange] = {}
    for change in changes:
        key = (change.channel, change.user_id)
        firsts.setdefault(key, change)
        last[key] = change
    # A member who left and came back (or the reverse) within the batch: tell it as it ended,
    # unless it ended where it started, which changes nothing for a subscriber.
    return [change for key, change in last.items() if firsts[key].joined == change.joined]
