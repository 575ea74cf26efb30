"""The messages nodes send each other on the Redis pub/sub channel, and the Redis key names.

A message is a header (a JSON array, which never holds a raw newline), a newline, and a body.
An event's body is its frame exactly as the origin encoded it: the receiving node writes it to
its subscribers as is, so an event is encoded once per node and never re-serialized. The
messages:

* ``["pub", node, app_id, channel, exclude_socket_id, cache_ttl]`` + frame: an event for the
  subscribers of ``channel`` (``cache_ttl``: seconds it stays cached, cache channels only);
* ``["pubs", node, app_id, [[channel, exclude_socket_id, cache_ttl], ...]]`` + the frames, one
  a line: several events of one app in the order they were published, each as a ``pub``
  would carry it. A batch costs one ``PUBLISH`` and one message to read on every node instead
  of one per event. Frames are compact JSON, which never holds a raw newline; an event whose
  frame did (none of ours) goes alone, as a ``pub``;
* ``["state", node, app_id, connections, reset]`` + JSON ops: ``node``'s channel counts and
  presence members changed (ops of :mod:`.cluster_view`); ``reset``: forget its old ones;
* ``["term", node, app_id, user_id]``: close that user's connections (``terminate_connections``);
* ``["gone", node]``: ``node`` left or was declared dead; its state is already out of Redis.

Rolling upgrades: ``pubs`` is newer than the other kinds, and a node of an older release
would drop it as unknown. So every node advertises in Redis the kinds it reads
(:data:`READS`, next to its place among the live nodes), and a batch goes through a script
(:data:`~.redis_scripts.PUBLISH_EVENTS`) that publishes it as is only while every live node
advertises ``pubs``; otherwise the script publishes its events one ``pub`` each.

Key names, all under a prefix (``pushbridge`` by default), are listed in :class:`Keys`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pushbridge.engine.codec import decode, encode

#: The message kinds this release reads, as advertised in Redis (space-separated).
READS = "pub pubs state term gone"
#: The kind a node must read before anyone sends it batches.
BATCH_KIND = "pubs"
#: After a node that does not read batches was last seen live, batches stay off for this
#: many node timeouts (it may be back from a hang, listening, before its next heartbeat).
LEGACY_LINGER = 3

#: One event of a batch: channel, socket id excluded, cache time to live, frame.
Event = tuple[str, str | None, int | None, str]


def event_message(node: str, app_id: str, channel: str, exclude: str | None, cache_ttl: int | None, frame: str) -> str:
    return encode(["pub", node, app_id, channel, exclude, cache_ttl]) + "\n" + frame


def events_message(node: str, app_id: str, events: Sequence[Event]) -> str:
    """One ``pubs`` message for ``events`` (none of whose frames may hold a newline)."""
    entries = [[channel, exclude, cache_ttl] for channel, exclude, cache_ttl, _ in events]
    return encode([BATCH_KIND, node, app_id, entries]) + "\n" + "\n".join(frame for *_, frame in events)


def events_of(header: list[Any], body: str) -> list[Event]:
    """The events of a ``pubs`` message, all checked before any is delivered.

    Raises ``ValueError`` naming what is wrong: a batch is delivered whole or not at all.
    """
    entries = header[3] if len(header) == 4 else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"A {BATCH_KIND} message needs a non-empty list of entries, not {entries!r:.80}")
    frames = body.split("\n")
    if len(frames) != len(entries):
        raise ValueError(f"A {BATCH_KIND} message has {len(entries)} entries but {len(frames)} frames")
    events: list[Event] = []
    for entry, frame in zip(entries, frames, strict=True):
        if not (
            isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], str)
            and (entry[1] is None or isinstance(entry[1], str))
            and (entry[2] is None or (type(entry[2]) is int and entry[2] > 0))
        ):
            raise ValueError(f"Not a [channel, exclude, cache_ttl] entry: {entry!r:.80}")
        events.append((entry[0], entry[1], entry[2], frame))
    return events


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
    if header[0] != "gone" and (len(header) < 3 or not isinstance(header[2], str)):
        raise ValueError(f"A {header[0]!r} message names no app: {message[:80]!r}")
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
        #: Hash: node id -> the message kinds it reads (:data:`READS`); nodes of releases
        #: before batches have no field.
        self.reads = f"{prefix}:reads"
        #: String with a time to live: set while a node that does not read batches was seen.
        self.legacy = f"{prefix}:legacy"

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
