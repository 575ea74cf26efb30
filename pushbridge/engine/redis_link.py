"""The I/O of a cluster node: redis-py's asyncio client carrying a :class:`~.redis_bus.RedisBus`.

Three tasks per node:

* the writer drains the bus's outbox into one round trip at a time on a connection of its own
  (:class:`~.redis_writer.CommandWriter`: ``PUBLISH`` for a lone event, a Lua script per
  batch of events and per batch of state changes), so commands keep their order and batch
  themselves while a round trip is under way;
* the reader feeds every message of the cluster's pub/sub channel to the bus;
* the heartbeat renews this node's deadline every ``node_timeout / 4`` seconds and reaps the
  nodes past theirs. A node that dies (``kill -9``, a lost machine) is therefore forgotten by
  the others within ``node_timeout * 1.25`` seconds: its members leave, its channels vacate,
  with the webhooks that implies, sent once by the node that reaped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from pushbridge.engine import redis_scripts
from pushbridge.engine.cluster_outbox import Publish, PublishEvents, StoreCached, Sync
from pushbridge.engine.cluster_settings import DEFAULT_NODE_TIMEOUT, ClusterUnavailable, redacted_url
from pushbridge.engine.cluster_wire import LEGACY_LINGER, READS
from pushbridge.engine.redis_bus import RedisBus
from pushbridge.engine.redis_writer import Command, CommandWriter

logger = logging.getLogger("pushbridge.server")


class RedisLink:
    """Connects a :class:`RedisBus` to Redis at ``url``; ``on_round_trip`` gets each round trip's seconds."""

    def __init__(
        self,
        bus: RedisBus,
        url: str,
        *,
        node_timeout: float = DEFAULT_NODE_TIMEOUT,
        on_round_trip: Callable[[float], None] | None = None,
    ) -> None:
        if node_timeout <= 0:
            raise ValueError(f"node_timeout must be positive seconds, not {node_timeout!r}.")
        self.bus = bus
        self.url = url
        self.node_timeout = node_timeout
        self.on_round_trip = on_round_trip
        self._redis: aioredis.Redis | None = None
        self._writer: CommandWriter | None = None
        self._pubsub: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._resync_needed = False
        self._prefix = bus.keys.prefix
        # Whole milliseconds, at least one: Redis refuses an expiry of 0 ("PX 0").
        self._ttl_ms = str(max(1, int(node_timeout * 1000)))
        self._linger_ms = str(max(1, int(node_timeout * 1000 * LEGACY_LINGER)))

    @property
    def heartbeat_interval(self) -> float:
        return self.node_timeout / 4

    async def start(self) -> None:
        """Join the cluster: register this node, read what the others hold, start the tasks.

        An unreachable Redis is a :class:`ClusterUnavailable` naming the URL (without its password).
        """
        # RESP2 unless the URL asks otherwise (redis-py 8 defaults to RESP3): every node reads
        # every event, and redis-py reads a RESP2 pub/sub message straight, where a RESP3 one
        # goes through its push-message handling. bench/redis_round_trip.py compares the two.
        client = aioredis.Redis.from_url(self.url, decode_responses=True, protocol=2)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise ClusterUnavailable(f"Cannot reach Redis at {redacted_url(self.url)}: {exc}") from exc
        self._redis = client
        # A round trip slower than the node timeout fails: by then the others have forgotten this node.
        self._writer = CommandWriter(client, self.node_timeout)
        self._join = client.register_script(redis_scripts.JOIN)
        self._heartbeat = client.register_script(redis_scripts.HEARTBEAT)
        await self._register()
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.bus.keys.bus)
        await self._load_cluster()
        self.bus.outbox.wake = self._wakeup.set
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="pushbridge-redis-writer"),
            asyncio.create_task(self._read_forever(), name="pushbridge-redis-reader"),
            asyncio.create_task(self._beat_forever(), name="pushbridge-redis-heartbeat"),
        ]

    async def stop(self) -> None:
        """Leave the cluster: send what is queued, release this node's state, disconnect."""
        client = self._redis
        if client is None:
            return
        writer, reader, heartbeat = self._tasks
        # The writer and the heartbeat finish the round trip under way rather than being
        # cancelled in the middle of one (redis-py may not let a cancellation through then).
        self._stopping.set()
        self._wakeup.set()
        await _finish([writer, heartbeat], self.node_timeout)
        try:
            await self._drain()
            await self._leave()
        except (RedisError, OSError) as exc:
            logger.warning("Leaving the cluster cleanly failed (%s); the others will reap this node.", exc)
        await _finish([reader], 0)
        self._tasks = []
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        if self._writer is not None:
            await self._writer.close()
        await client.aclose()
        self._redis = None
        self._writer = None

    # -- the three tasks ------------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._stopping.is_set():
                return  # stop() sends what is left itself.
            try:
                await self._drain()
            except (RedisError, OSError) as exc:
                # What was queued is lost (as events are when a single server is down); Redis
                # gets this node's whole state again once it answers.
                logger.warning("Redis write failed: %s", exc)
                self._resync_needed = True
                await asyncio.sleep(self.heartbeat_interval)
            except Exception:
                logger.exception("Redis write failed")

    async def _read_forever(self) -> None:
        bus = self.bus
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                if self._stopping.is_set():
                    return
                logger.warning("Redis subscription lost (%s); reconnecting.", exc)
                self._resync_needed = True
                await self._resubscribe()
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                bus.receive(message["data"])
            except ValueError as exc:
                logger.warning("Dropped a malformed cluster message (%s): %.200r", exc, message.get("data"))
            except Exception:
                logger.exception("A cluster message could not be handled: %.200r", message.get("data"))

    async def _beat_forever(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.heartbeat_interval)
                return
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                logger.warning("Redis heartbeat failed: %s", exc)
                self._resync_needed = True
            except Exception:
                logger.exception("Redis heartbeat failed")

    async def _resubscribe(self) -> None:
        """Listen again once Redis answers, then read the cluster's state afresh.

        Messages sent while this node was not listening are lost, so what the other nodes
        hold is read from Redis again, after subscribing: a change made since comes as a
        message. Nodes that Redis no longer holds (reaped meanwhile, or a Redis that restarted
        empty and that they have not rejoined yet) are forgotten until they announce themselves.
        """
        client = self._redis
        assert client is not None
        while not self._stopping.is_set():
            await asyncio.sleep(self.heartbeat_interval)
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            try:
                self._pubsub = client.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.subscribe(self.bus.keys.bus)
                await self._load_cluster()
            except (RedisError, OSError) as exc:
                logger.debug("Redis still unreachable: %s", exc)
                continue
            logger.warning("Redis subscription back; the cluster's state was read again.")
            return

    # -- round trips --------------------------------------------------------------------------------

    async def _register(self) -> None:
        """Put this node among the live ones, with the message kinds it reads (``JOIN``)."""
        await self._join(args=[self._prefix, self.bus.node_id, self._ttl_ms, READS])

    async def _beat(self) -> None:
        started = time.perf_counter()
        alive, hooks = await self._heartbeat(
            args=[self._prefix, self.bus.node_id, self._ttl_ms, READS, self._linger_ms]
        )
        self._round_trip(started)
        self.bus.webhooks(hooks)
        if not alive or self._resync_needed:
            if not alive:
                logger.warning("Redis had forgotten node %s; announcing its state again.", self.bus.node_id)
            self._resync_needed = False
            self.bus.resync()
        self.bus.announce_connections()

    async def _leave(self) -> None:
        """Release this node's state in Redis (``LEAVE``) and send the webhooks that causes.

        Through the writer, under its deadline: a Redis that hangs cannot hold up a stop.
        """
        assert self._writer is not None
        (hooks,) = await self._writer.send([_eval(redis_scripts.LEAVE, self._prefix, self.bus.node_id)])
        if isinstance(hooks, Exception):
            raise hooks
        self.bus.webhooks(hooks)

    async def _drain(self) -> None:
        """Send the outbox in one round trip; handle what the state scripts answer."""
        writer = self._writer
        entries = self.bus.take_outbox()
        if writer is None or not entries:
            return
        commands: list[Command] = []
        syncs: list[int] = []
        batches: list[int] = []
        channel = self.bus.keys.bus
        for index, entry in enumerate(entries):
            if isinstance(entry, Publish):
                commands.append(("PUBLISH", channel, entry.message))
            elif isinstance(entry, PublishEvents):
                commands.append(_eval(redis_scripts.PUBLISH_EVENTS, self._prefix, self._linger_ms, entry.message))
                batches.append(index)
            elif isinstance(entry, StoreCached):
                commands.append(("SET", entry.key, entry.frame, "PX", entry.ttl_ms))
            elif isinstance(entry, Sync):
                reset = "1" if entry.reset else "0"
                node, app_id = self.bus.node_id, entry.app_id
                args = (self._prefix, node, app_id, entry.connections, entry.ops_json, entry.message, reset)
                commands.append(_eval(redis_scripts.SYNC, *args))
                syncs.append(index)
        started = time.perf_counter()
        results = await writer.send(commands)
        self._round_trip(started)
        for index in batches:
            if isinstance(results[index], Exception):
                logger.warning("Publishing a batch of events failed: %s", results[index])
        forgotten = False
        for index in syncs:
            result = results[index]
            if isinstance(result, Exception):
                logger.warning("A cluster state update failed: %s", result)
                self._resync_needed = True
            elif result == -1:
                forgotten = True
            else:
                self.bus.webhooks(result)
        if forgotten:
            logger.warning("Redis had forgotten node %s; announcing its state again.", self.bus.node_id)
            await self._register()
            self.bus.resync()

    async def _load_cluster(self) -> None:
        """Read what the other nodes hold, and the cache channels' last events."""
        client = self._redis
        assert client is not None
        keys = self.bus.keys
        app_ids = list(self.bus.states)
        # The client decodes replies (decode_responses=True): every name and value is a str.
        nodes = cast("list[str]", await client.zrange(keys.nodes, 0, -1))
        self.bus.forget_all_but(nodes)
        for node in nodes:
            if node == self.bus.node_id:
                continue
            connections = cast("dict[str, str]", await client.hgetall(keys.node_connections(node)))
            for app_id in app_ids:
                subscriptions = cast("dict[str, str]", await client.hgetall(keys.node_subscriptions(node, app_id)))
                members = cast("dict[str, str]", await client.hgetall(keys.node_members(node, app_id)))
                self.bus.load_node(node, app_id, subscriptions, members, int(connections.get(app_id, 0)))
        for app_id in app_ids:
            prefix = keys.cache(app_id, "")
            async for key in client.scan_iter(match=keys.cache_pattern(app_id), count=1000):
                pipe = client.pipeline(transaction=False)
                pipe.get(key)
                pipe.pttl(key)
                frame, ttl_ms = await pipe.execute()
                if frame is not None:
                    self.bus.load_cached(app_id, key[len(prefix) :], frame, int(ttl_ms))

    def _round_trip(self, started: float) -> None:
        if self.on_round_trip is not None:
            self.on_round_trip(time.perf_counter() - started)


def _eval(script: str, *args: str | int) -> Command:
    """``EVAL`` with the script's text: Redis keeps it compiled, by its SHA1, and a Redis that
    lost it (a restart, ``SCRIPT FLUSH``) takes it again in place, so the script keeps its
    order among the other commands (``EVALSHA`` would fail there and need a second trip)."""
    return ("EVAL", script, 0, *args)


async def _finish(tasks: list[asyncio.Task[None]], timeout: float) -> None:
    """Let ``tasks`` end on their own within ``timeout`` seconds, then cancel what is left."""
    if timeout > 0:
        await asyncio.wait(tasks, timeout=timeout)
    for task in tasks:
        if not task.done():
            task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=1.0)
    if pending:
        logger.warning("Redis tasks %s did not stop.", [task.get_name() for task in pending])
