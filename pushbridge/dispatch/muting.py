"""``with pushbridge.muted():``: push nothing inside a block (fixtures, imports, data migrations)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_muted: contextvars.ContextVar[int] = contextvars.ContextVar("pushbridge_muted", default=0)


@contextmanager
def muted() -> Iterator[None]:
    """Push nothing inside this block: no trigger, no model auto-push (fixtures, imports)."""
    token = _muted.set(_muted.get() + 1)
    try:
        yield
    finally:
        _muted.reset(token)


def is_muted() -> bool:
    """True inside :func:`muted`."""
    return _muted.get() > 0
