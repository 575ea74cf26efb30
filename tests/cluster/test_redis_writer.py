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


def run_with_writer(url: str, deadline: float, scenario: Callable[[CommandWriter, aioredis.Redis], Awaitable[T]]) -> T:
    async def main() -> T:
        client = aioredis.Redis.from_url(url, decode_responses=True, protocol=2)
        writer = CommandWriter(client, deadline)
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


def test_a_connection_redis_closed_is_opened_again_before_the_batch(redis_server: RedisServer) -> None:
    """A Redis ``timeout``, a restart or a proxy closes the connection between batches: nothing is lost."""
    key = f"writer-{uuid.uuid4().hex[:8]}"

    async def scenario(writer: CommandWriter, client: aioredis.Redis) -> tuple[list[object], object, object]:
        (old_id,) = await writer.send([("CLIENT", "ID")])
        await client.execute_command("CLIENT", "KILL", "ID", old_id)
        await asyncio.sleep(0.1)  # the event loop reads the close
        replies = await writer.send([("SET", key, "after"), ("CLIENT", "ID")])
        return replies, await client.get(key), old_id

    (ok, new_id), stored, old_id = run_with_writer(redis_server.url, 5.0, scenario)
    assert (ok, stored) == ("OK", "after")
    assert new_id != old_id


def test_a_connection_lost_during_a_round_trip_raises_and_the_next_send_connects_again(
    redis_server: RedisServer,
) -> None:
    key = f"writer-{uuid.uuid4().hex[:8]}"

    async def scenario(writer: CommandWriter, client: aioredis.Redis) -> list[object]:
        (own_id,) = await writer.send([("CLIENT", "ID")])
        blocked = asyncio.create_task(writer.send([("BLPOP", key, 5)]))
        while not any(int(entry["id"]) == own_id and entry["cmd"] == "blpop" for entry in await client.client_list()):
            await asyncio.sleep(0.01)
        await client.execute_command("CLIENT", "KILL", "ID", own_id)
        with pytest.raises(RedisConnectionError):
            await blocked
        return await writer.send([("SET", key, "after"), ("GET", key)])

    assert run_with_writer(redis_server.url, 10.0, scenario) == ["OK", "after"]


def test_batches_sent_at_once_each_get_their_own_replies(redis_server: RedisServer) -> None:
    async def scenario(writer: CommandWriter, client: aioredis.Redis) -> list[list[object]]:
        return list(
            await asyncio.gather(
                writer.send([("ECHO", "first")] * 200),
                writer.send([("ECHO", "second")] * 200),
            )
        )

    first, second = run_with_writer(redis_server.url, 5.0, scenario)
    assert first == ["first"] * 200
    assert second == ["second"] * 200


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
