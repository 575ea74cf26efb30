"""Which browser connection caused the current request, for "to others" pushes.

``SocketIdMiddleware`` puts a valid ``X-Socket-ID`` header here for the duration of a request;
``trigger(..., to_others=True)`` and ``@broadcasts(to_others=True)`` read it to exclude that
connection, so the sender does not receive its own event twice. A context variable (not a
thread-local) keeps it right for async views as well.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("pushbridge_socket_id", default=None)


def current_socket_id() -> str | None:
    """The socket id of the browser behind the current request, if it sent a valid one."""
    return _current.get()


@contextmanager
def socket_id_scope(socket_id: str | None) -> Iterator[None]:
    """Make ``socket_id`` the current one inside the block (the middleware's job; also tests)."""
    token = _current.set(socket_id)
    try:
        yield
    finally:
        _current.reset(token)
