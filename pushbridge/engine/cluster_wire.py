"""The messages nodes send each other on the Redis pub/sub channel, and the Redis key names.

A message is a header (a JSON array, which never holds a raw newline), a newline, and a body.
An event's body is its frame exactly as the origin encoded it: the receiving node writes it to
its subscribers as is, so an event is encoded once per node and never re-serialized. The
messages:

* ``["pub", node, app_id, channel, exclude_socket_id, cache_ttl]`` + frame: an event for the
  subscribers of ``channel`` (``cache_ttl``: seconds it stays cached, cache channels only);
* ``["state", node, app_id, connections, reset]`` + JSON ops: ``node``'s channel counts and
  presence members changed (ops of :mod:`.cluster_view`); ``reset``: forget its old ones;
* ``["term", node, app_id, user_id]``: close that user's connections (``terminate_connections``);
* ``["gone", node]``: ``node`` left or was declared dead; its state is already out of Redis.

Key names, all under a prefix (``pushbridge`` by default), are listed in :class:`Keys`.
"""

from __future__ import annotations

from typing import Any

from pushbridge.engine.codec import decode, encode


def event_message(node: str, app_id: str, channel: str, exclude: str | None, cache_ttl: int | None, frame: str) -> str:
    return encode(["pub", node, app_id, channel, exclude, cache_ttl]) + "\n" + frame


def state_message(node: str, app_id: str, connections: int | None, reset: bool, ops_json: str) -> str:
    return encode(["state", node, app_id, connections, reset]) + "\n" + ops_json


def terminate_message(node: str, app_id: str, user_id: str) -> str:
    return encode(["term", node, app_id, user_id]) + "\n"


def parse(message: str) -> tuple[list[Any], str]:
    """Split a message into its header (a list starting with its kind and node) and its body.

    Raises ``ValueError`` for a message no node sent.
    """
    head, _, body = message.partition("\n")
    header = decode(head)
    if not isinstance(header, list) or len(header) < 2 or not all(isinstance(part, str) for part in header[:2]):
        raise ValueError(f"Not a pushbridge cluster message: {message[:80]!r}")
    return header, body


class Keys:
    """The Redis names of a cluster whose names start with ``prefix``.

    Kept in sync with the Lua scripts of :mod:`.redis_scripts`, which build the same names.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        #: The pub/sub channel every node listens to.
        self.bus = f"{prefix}:bus"
        #: Sorted set: node id -> when it is declared dead (Unix ms, by Redis's clock).
        self.nodes = f"{prefix}:nodes"

    def node_subscriptions(self, node: str, app_id: str) -> str:
        """Hash: channel -> that node's subscriptions."""
        return f"{self.prefix}:node:{node}:{app_id}:subs"

    def node_members(self, node: str, app_id: str) -> str:
        """Hash: ``channel\\nuser_id`` -> user info (JSON) of that node's members."""
        return f"{self.prefix}:node:{node}:{app_id}:members"

    def node_connections(self, node: str) -> str:
        """Hash: app id -> that node's connections."""
        return f"{self.prefix}:node:{node}:conns"

    def cache(self, app_id: str, channel: str) -> str:
        """String (with its time to live): the last event frame of a cache channel."""
        return f"{self.prefix}:app:{app_id}:cache:{channel}"

    def cache_pattern(self, app_id: str) -> str:
        return f"{self.prefix}:app:{app_id}:cache:*"
