"""``await pushbridge.atrigger(...)`` and friends: the API for async views and async code.

Each function runs its synchronous twin from :mod:`pushbridge.api` in a worker thread, through
asgiref's ``sync_to_async(thread_sensitive=False)``, so the event loop never waits on the
service: while Pusher (or Soketi, or the embedded server) answers, the loop serves other
requests and other coroutines.

Why a thread rather than an async HTTP client: the sync path is the one that validates,
encodes, signs, pools connections, retries and dispatches in the background, and it is tested
against the real services; an aiohttp twin would be a second implementation of all of that to
keep in step, and would make ``pip install pushbridge`` heavier (``trigger()`` needs only
Django and urllib3). The cost is one hop to a pooled thread per call (measured in
``bench/async_trigger.py``; see BENCHMARKS.md), small beside a request to the service.

Why ``thread_sensitive=False``: the thread-sensitive executor is where Django runs the sync
code of the request (the ORM, sync middleware); sending there would queue a slow service's
wait behind, and in front of, that code. Nothing in a trigger touches the database or a
thread-bound resource: the backends are thread-safe, and the socket id of the current request
(``to_others=True``) is read here, in the caller's context, before the hop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

from pushbridge import api
from pushbridge.conf import DEFAULT_ALIAS
from pushbridge.events import Channels, Event
from pushbridge.sockets import current_socket_id

T = TypeVar("T")


async def _in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await sync_to_async(function, thread_sensitive=False)(*args, **kwargs)


async def atrigger(
    channels: Channels,
    event: str,
    data: Any = None,
    *,
    socket_id: str | None = None,
    to_others: bool = False,
    using: str = DEFAULT_ALIAS,
) -> dict[str, Any]:
    """:func:`pushbridge.trigger`, awaited without blocking the event loop."""
    if to_others and socket_id is None:
        socket_id = current_socket_id()
    return await _in_thread(api.trigger, channels, event, data, socket_id=socket_id, using=using)


async def atrigger_batch(events: Iterable[Event], *, using: str = DEFAULT_ALIAS) -> list[dict[str, Any]]:
    """:func:`pushbridge.trigger_batch`, awaited without blocking the event loop."""
    return await _in_thread(api.trigger_batch, list(events), using=using)


async def asend_to_user(
    user_id: str | int, event: str, data: Any = None, *, using: str = DEFAULT_ALIAS
) -> dict[str, Any]:
    """:func:`pushbridge.send_to_user`, awaited without blocking the event loop."""
    return await _in_thread(api.send_to_user, user_id, event, data, using=using)


async def aterminate_user_connections(user_id: str | int, *, using: str = DEFAULT_ALIAS) -> None:
    """:func:`pushbridge.terminate_user_connections`, awaited without blocking the event loop."""
    await _in_thread(api.terminate_user_connections, user_id, using=using)


async def achannels(
    prefix: str | None = None, info: Iterable[str] | str = (), *, using: str = DEFAULT_ALIAS
) -> dict[str, dict[str, Any]]:
    """:func:`pushbridge.channels`, awaited without blocking the event loop."""
    return await _in_thread(api.channels, prefix, info, using=using)


async def achannel_info(name: str, info: Iterable[str] | str = (), *, using: str = DEFAULT_ALIAS) -> dict[str, Any]:
    """:func:`pushbridge.channel_info`, awaited without blocking the event loop."""
    return await _in_thread(api.channel_info, name, info, using=using)


async def achannel_users(name: str, *, using: str = DEFAULT_ALIAS) -> list[str]:
    """:func:`pushbridge.channel_users`, awaited without blocking the event loop."""
    return await _in_thread(api.channel_users, name, using=using)
