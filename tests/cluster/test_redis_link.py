"""The node's Redis I/O on a real Redis: what it does when Redis has forgotten it."""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from collections.abc import Callable

import pytest
import redis
from redis.exceptions import RedisError

from pushbridge.engine.cluster_wire import READS, Keys
from pushbridge.engine.core import PusherCore
from pushbridge.engine.redis_bus import RedisBus
from pushbridge.engine.redis_link import RedisLink
from pushbridge.protocol import AppConfig
from tests.server.test_protocol import KEY, SECRET, connect, subscribe
from tests.services.redis import RedisServer


def test_a_forgotten_node_registers_again_with_what_it_reads_and_announces_its_state(
    redis_server: RedisServer,
) -> None:
    prefix = f"link-{uuid.uuid4().hex[:8]}"
    bus = RedisBus("node-b", Keys(prefix))
    core = PusherCore([AppConfig("app-1", KEY, SECRET)], bus=bus)
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        link = RedisLink(bus, redis_server.url, node_timeout=30)
        await link.start()
        try:
            conn = connect(core)
            subscribe(core, conn, "room")
            await link._drain()
            client.zrem(f"{prefix}:nodes", "node-b")
            client.hdel(f"{prefix}:reads", "node-b")
            client.delete(f"{prefix}:node:node-b:app-1:subs")
            subscribe(core, conn, "lobby")
            await link._drain()  # the update answers "forgotten": register again, queue a resync
            await link._drain()  # the resync goes out
            seen["live"] = client.zscore(f"{prefix}:nodes", "node-b") is not None
            seen["reads"] = client.hget(f"{prefix}:reads", "node-b")
            seen["subs"] = client.hgetall(f"{prefix}:node:node-b:app-1:subs")
        finally:
            await link.stop()

    try:
        asyncio.run(scenario())
    finally:
        client.close()
    assert seen == {"live": True, "reads": READS, "subs": {"room": "1", "lobby": "1"}}


def test_a_hung_redis_costs_a_write_at_most_the_node_timeout(redis_factory: Callable[[], RedisServer]) -> None:
    """SIGSTOP stands for a Redis that stops answering: the write fails within ``node_timeout``."""
    redis_server = redis_factory()
    bus = RedisBus("node-h", Keys(f"hang-{uuid.uuid4().hex[:8]}"))
    core = PusherCore([AppConfig("app-1", KEY, SECRET)], bus=bus)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        link = RedisLink(bus, redis_server.url, node_timeout=0.5)
        await link.start()
        assert redis_server.process is not None
        try:
            conn = connect(core)
            subscribe(core, conn, "room")
            await link._drain()  # the writer's connection is open before Redis hangs
            redis_server.process.send_signal(signal.SIGSTOP)
            subscribe(core, conn, "lobby")
            try:
                await link._drain()
            except RedisError as exc:
                seen["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
            await link.stop()

    asyncio.run(scenario())
    # The node's own deadline, not redis-py's 5 s socket timeout ("Timeout reading from ...").
    assert seen == {"error": "TimeoutError: Redis did not answer within 0.5 seconds"}


def test_a_hung_redis_cannot_hold_up_a_stop(
    redis_factory: Callable[[], RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    """Leaving the cluster goes through the writer's deadline, not redis-py's socket timeout."""
    redis_server = redis_factory()
    bus = RedisBus("node-s", Keys(f"stop-{uuid.uuid4().hex[:8]}"))
    PusherCore([AppConfig("app-1", KEY, SECRET)], bus=bus)

    async def scenario() -> None:
        link = RedisLink(bus, redis_server.url, node_timeout=0.5)
        await link.start()
        await link._drain()
        assert redis_server.process is not None
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            await link.stop()
        finally:
            redis_server.process.send_signal(signal.SIGCONT)

    with caplog.at_level(logging.WARNING, logger="pushbridge.server"):
        asyncio.run(scenario())
    assert "Leaving the cluster cleanly failed (Redis did not answer within 0.5 seconds)" in caplog.text
