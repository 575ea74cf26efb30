"""What a cluster node must send to Redis, queued in the order it happened.

The core runs synchronously; Redis is across a network. So the bus only queues here, and the
link drains the queue into one round trip at a time: commands keep their order, and while one
round trip is under way the next batch gathers. State changes of one app that follow each
other share one :class:`Sync` (one Lua script run); a channel's subscriber count is read when
the batch leaves, not once per subscriber.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pushbridge.engine.cluster_view import Op
from pushbridge.engine.cluster_wire import Event, event_message, events_message, state_message
from pushbridge.engine.codec import encode
from pushbridge.engine.state import AppState


class Publish:
    """``PUBLISH`` ``message`` on the cluster's pub/sub channel."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class PublishEvents:
    """``message`` (a ``pubs`` batch of ``count`` events) through the script that checks every
    live node reads batches, and publishes the events one ``pub`` each if not."""

    __slots__ = ("count", "message")

    def __init__(self, message: str, count: int) -> None:
        self.message = message
        self.count = count


class QueuedEvent:
    """One event to publish (the bus's record; :meth:`Outbox.take` packs them into messages)."""

    __slots__ = ("app_id", "event")

    def __init__(self, app_id: str, event: Event) -> None:
        self.app_id = app_id
        self.event = event


#: A batch holds at most this many events, and frames of at most :data:`BATCH_CHARS`
#: characters (beyond one event), so that no node spends long on one message.
BATCH_EVENTS = 100
BATCH_CHARS = 256 * 1024


class StoreCached:
    """Keep a cache channel's last frame in Redis for nodes that start later."""

    __slots__ = ("frame", "key", "ttl_ms")

    def __init__(self, key: str, frame: str, ttl_ms: int) -> None:
        self.key = key
        self.frame = frame
        self.ttl_ms = ttl_ms


class Sync:
    """This node's ops for one app, in the order they happened (``reset``: its whole state)."""

    __slots__ = ("app_id", "connections", "message", "ops", "ops_json", "reset")

    def __init__(self, app_id: str, reset: bool = False) -> None:
        self.app_id = app_id
        self.ops: list[Op] = []
        self.reset = reset
        # Filled in when the outbox is taken: the node's connections then, the ops as JSON and
        # the state message that carries them to the other nodes.
        self.connections = 0
        self.ops_json = ""
        self.message = ""


Entry = Publish | PublishEvents | StoreCached | Sync


class Outbox:
    """The queue of one node; ``wake`` is called when it gets its first entry."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.wake: Callable[[], None] = lambda: None
        self._entries: list[Entry | QueuedEvent] = []
        #: Channels whose local subscriber count changed since the outbox was last taken.
        self._dirty: dict[str, dict[str, None]] = {}
        #: Connections per app as last announced.
        self._announced: dict[str, int] = {}

    def put(self, entry: Entry | QueuedEvent) -> None:
        if not self._entries:
            self.wake()
        self._entries.append(entry)

    def op(self, app_id: str, op: Op) -> None:
        """Queue a state change of app ``app_id``, in the batch of the changes just before it."""
        self._sync(app_id).ops.append(op)

    def count_changed(self, app_id: str, channel: str) -> None:
        """``channel``'s subscriber count changed: it is read and sent when the outbox is taken."""
        self._dirty.setdefault(app_id, {})[channel] = None
        self._sync(app_id)

    def announce_connections(self, states: Mapping[str, AppState]) -> None:
        """Queue an announcement for every app whose connection count changed since the last one."""
        for app_id, state in states.items():
            if self._announced.get(app_id, 0) != len(state.connections):
                self._sync(app_id)

    def resync(self, states: Mapping[str, AppState]) -> None:
        """Queue this node's whole state, replacing the changes not sent yet."""
        self._entries = [entry for entry in self._entries if not isinstance(entry, Sync)]
        self._dirty.clear()
        for app_id, state in states.items():
            entry = Sync(app_id, reset=True)
            for name, channel in state.channels.items():
                entry.ops.append(("c", name, len(channel.subscribers)))
                entry.ops.extend(
                    ("+", name, user_id, encode(member.info)) for user_id, member in channel.members.items()
                )
            self.put(entry)

    def take(self, states: Mapping[str, AppState]) -> list[Entry]:
        """Everything queued, in order, each :class:`Sync` with its state message and the
        events packed into messages (see :meth:`_pack`)."""
        entries, self._entries = self._entries, []
        dirty, self._dirty = self._dirty, {}
        # Counts as they are now go with each app's last entry: after every op queued before.
        last = {entry.app_id: entry for entry in entries if isinstance(entry, Sync)}
        taken: list[Entry] = []
        for entry in self._pack(entries):
            if not isinstance(entry, Sync):
                taken.append(entry)
                continue
            state = states.get(entry.app_id)
            if state is None:
                continue
            if last[entry.app_id] is entry:
                for channel in dirty.pop(entry.app_id, {}):
                    found = state.channels.get(channel)
                    entry.ops.append(("c", channel, len(found.subscribers) if found is not None else 0))
            entry.connections = self._announced[entry.app_id] = len(state.connections)
            entry.ops_json = encode(entry.ops)
            entry.message = state_message(self.node_id, entry.app_id, entry.connections, entry.reset, entry.ops_json)
            taken.append(entry)
        return taken

    def _pack(self, entries: list[Entry | QueuedEvent]) -> list[Entry]:
        """``entries`` with each run of events of one app as one message, in order.

        A run ends at any other entry but a :class:`StoreCached`, which goes out ahead of the
        run's message: every cached frame is still stored before its event is published.
        """
        packed: list[Entry] = []
        run: list[Event] = []
        run_app = ""
        run_chars = 0
        for entry in entries:
            if isinstance(entry, QueuedEvent):
                frame = entry.event[3]
                alone = "\n" in frame  # It cannot share a message body with other frames.
                full = len(run) >= BATCH_EVENTS or run_chars >= BATCH_CHARS
                if run and (alone or full or entry.app_id != run_app):
                    packed.append(self._message(run_app, run))
                    run, run_chars = [], 0
                if alone:
                    packed.append(self._message(entry.app_id, [entry.event]))
                    continue
                run.append(entry.event)
                run_app = entry.app_id
                run_chars += len(frame)
            elif isinstance(entry, StoreCached):
                packed.append(entry)
            else:
                if run:
                    packed.append(self._message(run_app, run))
                    run, run_chars = [], 0
                packed.append(entry)
        if run:
            packed.append(self._message(run_app, run))
        return packed

    def _message(self, app_id: str, run: list[Event]) -> Publish | PublishEvents:
        if len(run) == 1:
            return Publish(event_message(self.node_id, app_id, *run[0]))
        return PublishEvents(events_message(self.node_id, app_id, run), len(run))

    def _sync(self, app_id: str) -> Sync:
        last = self._entries[-1] if self._entries else None
        if isinstance(last, Sync) and last.app_id == app_id:
            return last
        entry = Sync(app_id)
        self.put(entry)
        return entry
