"""The writer's own Redis connection: one write per batch, replies in order, one deadline."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pushbridge.engine.redis_writer import CommandWriter
from tests.services.redis import RedisServer

T = TypeVar("T")


def run_with_writer(
    url: str,
    deadline: float,
    scenario: Callable[[CommandWriter, aioredis.Redis], Awaitable[T]],
    idle_check: float = 60.0,
) -> T:
    async def main() -> T:
        client = aioredis.Redis.from_url(url, decode_responses=True, protocol=2)
        writer = CommandWriter(client, deadline, idle_check)
        try:
            return await scenario(writer, client)
        finally:
            await writer.close()
            await client.aclose()

    return asyncio.run(main())


def test_replies_come_in_order_and_a_refused_command_costs_only_itself(redis_server: RedisServer) -> None:
    key = f"writer-{uuid.uuid4().hex[:8]}"

    async def scenario(writer: CommandWriter, client: aioredis.Redis) -> tuple[list[object], object]:
        replies = await writer.send(
            [
                ("SET", key, "1"),
                ("EVAL", "return redis.call('NOSUCHCOMMAND')", 0),
                ("INCR", key),
                ("PUBLISH", f"{key}:channel", "nobody listens"),
            ]
        )
        return replies, await client.get(key)

    replies, stored = run_with_writer(redis_server.url, 5.0, scenario)
    assert replies[0] == "OK"
    assert isinstance(replies[1], ResponseError)
    assert replies[2:] == [2, 0]
    assert stored == "2"


def test_a_connection_redis_closed_while_idle_is_opened_again_before_the_batch(redis_server: RedisServer) -> None:
    """A Redis ``timeout``, a restart or a proxy closes an idle connection: nothing is lost."""
    key = f"writer-{uuid.uuid4().hex[:8]}"

    async def scenario(writer: CommandWriter, client: aioredis.Redis) -> tuple[list[object], object]:
        (own_id,) = await writer.send([("CLIENT", "ID")])
        await client.execute_command("CLIENT", "KILL", "ID", own_id)
        await asyncio.sleep(0.3)  # longer than the idle check below
        replies = await writer.send([("SET", key, "after"), ("CLIENT", "ID")])
        return replies, await client.get(key)

    (ok, new_id), stored = run_with_writer(redis_server.url, 5.0, scenario, idle_check=0.1)
    assert ok == "OK"
    assert stored == "after"
    assert isinstance(new_id, int)


def test_a_connection_lost_mid_stream_raises_and_the_next_send_connects_again(redis_server: RedisServer) -> None:
    key = f"writer-{uuid.uuid4().hex[:8]}"

    async def scenario(writer: CommandWriter, client: aioredis.Redis) -> list[object]:
        (own_id,) = await writer.send([("CLIENT", "ID")])
        await client.execute_command("CLIENT", "KILL", "ID", own_id)
        with pytest.raises(RedisConnectionError):
            await writer.send([("SET", key, "lost")])
        return await writer.send([("SET", key, "after"), ("GET", key)])

    assert run_with_writer(redis_server.url, 5.0, scenario) == ["OK", "after"]


@pytest.fixture
def silent_peer() -> Iterator[str]:
    """A listening socket that never answers (the kernel completes the handshake): a hung Redis."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_no_reply_within_the_deadline_is_a_timeout_naming_it(silent_peer: str) -> None:
    async def scenario(writer: CommandWriter, client: aioredis.Redis) -> None:
        with pytest.raises(RedisTimeoutError, match=r"within 0\.2 seconds"):
            await writer.send([("PUBLISH", "channel", "message")])

    run_with_writer(silent_peer, 0.2, scenario)
