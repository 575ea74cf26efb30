"""The node's Redis I/O on a real Redis: what it does when Redis has forgotten it."""

from __future__ import annotations

import asyncio
import uuid

import redis

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
