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
import sys
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: One command: its name and arguments, as redis-py packs them.
Command = Sequence[str | int]

#: Seconds idle after which the connection is checked (a ``PING``, redis-py's health check)
#: before a batch goes on it, and opened again if Redis closed it meanwhile: a Redis
#: ``timeout`` setting, a restart, a proxy's idle limit. Without the check the batch would be
#: written to a dead socket and lost.
IDLE_CHECK_SECONDS = 1.0

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
    dropped (the next :meth:`send` opens it again). ``idle_check``: see
    :data:`IDLE_CHECK_SECONDS`.
    """

    def __init__(self, client: aioredis.Redis, deadline: float, idle_check: float = IDLE_CHECK_SECONDS) -> None:
        pool = client.connection_pool
        settings = {
            **pool.connection_kwargs,
            # No socket timeout of its own: the deadline bounds the round trip as a whole.
            "socket_timeout": None,
            "health_check_interval": idle_check,
            # One more try, on a new connection, for the health check's PING only.
            "retry": Retry(NoBackoff(), 1),
        }
        self._connection: Any = pool.connection_class(**settings)
        self._deadline = deadline

    async def send(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one write and return their replies, in order.

        A command that Redis refuses has its :class:`~redis.exceptions.ResponseError` as its
        reply, and the others still run. A lost connection raises redis-py's
        ``ConnectionError``; no reply within the deadline raises its ``TimeoutError``. Either
        way what was sent may or may not have run, and the connection is dropped.
        """
        try:
            return await _within(self._deadline, self._round_trip(commands))
        except asyncio.TimeoutError:
            await self._connection.disconnect(nowait=True)
            raise RedisTimeoutError(f"Redis did not answer within {self._deadline:g} seconds") from None
        except BaseException:
            await self._connection.disconnect(nowait=True)
            raise

    async def close(self) -> None:
        await self._connection.disconnect()

    async def _round_trip(self, commands: Sequence[Command]) -> list[Any]:
        connection = self._connection
        await connection.send_packed_command(connection.pack_commands(commands), check_health=True)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:  # The reply was read whole: the next ones follow.
                replies.append(exc)
        return replies
