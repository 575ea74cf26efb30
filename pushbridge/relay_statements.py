"""The relay's ``UPDATE`` statements, written once per database as SQL and run with fresh values.

Every relay turn claims the lease, marks the rows it sent and gives the lease back. Through the
ORM, each of those statements was compiled from a ``QuerySet`` again at every turn: in a
profile of SQLite relay turns of ten rows, compiling them took more of a turn's CPU than its
HTTP request, and in-process that CPU is taken from the request threads. The statements never
change shape, so their text is built here once per database vendor (and per row count, for the
marks) from the models' own table and column names, and every value goes through its field's
``get_db_prep_save``, so the database stores exactly what the ORM would have stored.

Each statement runs on the caller's connection, in the caller's transaction or in autocommit,
as ``QuerySet.update()`` would have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from pushbridge.models import RelayLease, StoredEvent
from pushbridge.sql_text import sql_for

#: Mark statements for more rows than this are built each time rather than kept.
_KEPT_ROW_COUNTS = 128


def claim_lease(database: str, name: str, owner: str, *, now: datetime, until: datetime) -> bool:
    """Take lease ``name`` for ``owner`` until ``until`` if it is free, already ``owner``'s, or expired."""
    connection = connections[database]
    sql = sql_for(connection, "claim lease", _build_claim)
    owner_field, expiry_field = _field(RelayLease, "owner"), _field(RelayLease, "expires_at")
    params = [
        owner_field.get_db_prep_save(owner, connection),
        expiry_field.get_db_prep_save(until, connection),
        name,
        "",
        owner_field.get_db_prep_save(owner, connection),
        expiry_field.get_db_prep_save(now, connection),
    ]
    return _execute(connection, sql, params) > 0


def release_lease(database: str, name: str, owner: str) -> None:
    """Give lease ``name`` back, if ``owner`` still holds it."""
    connection = connections[database]
    sql = sql_for(connection, "release lease", _build_release)
    _execute(connection, sql, ["", name, owner])


def mark_rows(database: str, pks: Sequence[int], values: Mapping[str, object]) -> None:
    """Set ``values`` (field name -> value) on the event rows ``pks``."""
    if not pks:
        return
    connection = connections[database]
    names = tuple(values)
    fields = [_field(StoredEvent, name) for name in names]
    sql = sql_for(
        connection,
        ("mark rows", names, len(pks)),
        lambda connection: _build_mark(connection, fields, len(pks)),
        keep=len(pks) <= _KEPT_ROW_COUNTS,
    )
    params = [field.get_db_prep_save(values[name], connection) for name, field in zip(names, fields, strict=True)]
    _execute(connection, sql, [*params, *pks])


# -- building and running ----------------------------------------------------------------------


def _execute(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)  # concrete columns only, never a relation's reverse
    return field


def _table_and_columns(
    connection: BaseDatabaseWrapper, model: type[models.Model], *names: str
) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), [quote(str(_field(model, name).column)) for name in names]


def _build_claim(connection: BaseDatabaseWrapper) -> str:
    table, (owner, expires_at, name) = _table_and_columns(connection, RelayLease, "owner", "expires_at", "name")
    return (
        f"UPDATE {table} SET {owner} = %s, {expires_at} = %s "
        f"WHERE {name} = %s AND ({owner} = %s OR {owner} = %s OR {expires_at} < %s)"
    )


def _build_release(connection: BaseDatabaseWrapper) -> str:
    table, (owner, name) = _table_and_columns(connection, RelayLease, "owner", "name")
    return f"UPDATE {table} SET {owner} = %s WHERE {name} = %s AND {owner} = %s"


def _build_mark(connection: BaseDatabaseWrapper, fields: Sequence[models.Field[Any, Any]], count: int) -> str:
    table, (pk,) = _table_and_columns(connection, StoredEvent, "id")
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
    return f"UPDATE {table} SET {assignments} WHERE {pk} IN ({', '.join(['%s'] * count)})"
