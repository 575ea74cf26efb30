"""SQL text built once per database vendor and kept: the one cache of pushbridge's own statements.

A few hot statements are written by pushbridge itself rather than compiled from a ``QuerySet``
at every call: the durable writer's ``INSERT`` (:mod:`pushbridge.dispatch.inserts`) and the
relay's ``UPDATE`` statements (:mod:`pushbridge.relay_statements`). Their text depends only on
the database vendor (its quoting) and a shape (a row count, the columns set), so it is built the
first time and kept. Shapes without a bound (a long list of ids) are built each time instead,
so that the cache cannot grow without end.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from django.db.backends.base.base import BaseDatabaseWrapper

#: (vendor, shape) -> SQL text.
_kept: dict[tuple[str, Hashable], str] = {}


def sql_for(
    connection: BaseDatabaseWrapper,
    shape: Hashable,
    build: Callable[[BaseDatabaseWrapper], str],
    *,
    keep: bool = True,
) -> str:
    """The SQL of ``shape`` for this connection's database; ``build`` makes it the first time."""
    key = (connection.vendor, shape)
    sql = _kept.get(key)
    if sql is None:
        sql = build(connection)
        if keep:
            _kept[key] = sql
    return sql
