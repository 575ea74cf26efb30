"""A node's own Redis connection for what it sends: one write per batch, the replies in order.

Every published request costs a node one round trip to Redis, so what that round trip costs
in Python counts against every delivery. redis-py's pipeline spends about twice the CPU of
the round trip itself on it (a pipeline object, a connection taken from the pool and given
back, and, with a socket timeout, a task per write to time it). Here one connection is kept
for the writer alone, the commands are packed and written together, the replies are read in
order, and one deadline covers the whole round trip. The packing, the socket and the reply
parser (hiredis) are still redis-py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: One command: its name and arguments, as redis-py packs them.
Command = tuple[str | int, ...]

_T = TypeVar("_T")

if sys.version_info >= (3, 11):

    async def _within(seconds: float, awaitable: Awaitable[_T]) -> _T:
        async with asyncio.timeout(seconds):
            return await awaitable

else:

    async def _within(seconds: float, awaitable: Awaitable[_T]) -> _T:
        return await asyncio.wait_for(awaitable, seconds)


class CommandWriter:
    """Sends batches of commands on a connection of its own, opened with ``client``'s settings.

    ``deadline``: seconds a whole round trip may take before it fails and the connection is
    dropped (the next :meth:`send` opens it again). One batch is on the connection at a time.
    """

    def __init__(self, client: aioredis.Redis, deadline: float) -> None:
        pool = client.connection_pool
        # No socket timeout of its own: the deadline bounds the round trip as a whole.
        self._connection: Any = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        self._deadline = deadline
        self._lock = asyncio.Lock()
        # redis-py 8 names it can_read; 5 to 7, can_read_destructive (see _closed_by_redis).
        self._look = getattr(self._connection, "can_read", None) or self._connection.can_read_destructive

    async def send(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one write and return their replies, in order.

        A command that Redis refuses has its :class:`~redis.exceptions.ResponseError` as its
        reply, and the others still run. A lost connection raises redis-py's
        ``ConnectionError``; no reply within the deadline raises its ``TimeoutError``. Either
        way what was sent may or may not have run, and the connection is dropped.
        """
        async with self._lock:
            try:
                return await _within(self._deadline, self._round_trip(commands))
            except asyncio.TimeoutError:
                await self._connection.disconnect(nowait=True)
                raise RedisTimeoutError(f"Redis did not answer within {self._deadline:g} seconds") from None
            except BaseException:
                await self._connection.disconnect(nowait=True)
                raise

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._connection.disconnect(nowait=True)

    async def _round_trip(self, commands: Sequence[Command]) -> list[Any]:
        connection = self._connection
        if connection.is_connected and await self._closed_by_redis():
            await connection.disconnect(nowait=True)  # send_packed_command opens a new one
        await connection.send_packed_command(connection.pack_commands(commands), check_health=False)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:  # The reply was read whole: the next ones follow.
                replies.append(exc)
        return replies

    async def _closed_by_redis(self) -> bool:
        """Whether Redis closed the connection since the last round trip (its ``timeout``
        setting, a restart, a proxy's idle limit), or left bytes on it that nothing asked for.

        Without this look the batch would go to a dead socket and be lost. It reads what the
        event loop already received, so it costs no round trip.
        """
        try:
            return bool(await self._look())
        except (RedisConnectionError, OSError):
            return True
