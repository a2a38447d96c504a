"""Provenance found by native id: the look-up every import batch makes for each record."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import Provenance

PROVENANCE = Provenance.__table__
CHUNK = 500  # native ids per IN (...)


@lru_cache(maxsize=512)
def marks(n: int) -> str:
    """``?, ?, …`` for an ``IN (...)`` of ``n`` values: the hot look-ups of an import go to
    SQLite's driver as they are, since SQLAlchemy would build, compile and expand the
    statement again on every call, which costs more than the look-up itself."""
    return ", ".join("?" * n)


def select_in(
    conn: Connection, columns: Sequence[sa.Column], key: sa.Column, values: Sequence
) -> Any:
    """The rows of ``columns`` whose ``key`` is one of ``values``, one table: on SQLite as
    plain SQL to the driver (see :func:`marks`), elsewhere as a Core SELECT."""
    if conn.dialect.name == "sqlite":
        names = ", ".join(c.name for c in columns)
        sql = f"SELECT {names} FROM {key.table.name} WHERE {key.name} IN ({marks(len(values))})"
        return conn.exec_driver_sql(sql, tuple(values))
    return conn.execute(sa.select(*columns).where(key.in_(values)))


@lru_cache(maxsize=64)
def _sqlite_sql(n: int) -> str:
    return (
        "SELECT native_id, entity_id, content_hash FROM provenance "
        f"WHERE connection = ? AND kind = ? AND native_id IN ({marks(n)})"
    )


def by_native_id(
    conn: Connection, connection: str, kind: str, native_ids: Sequence[str]
) -> Iterator[tuple[str, int, str | None]]:
    """(native id, entity id, content hash) of the connection's provenance for these ids.

    On SQLite the statement goes to the driver as it is: SQLAlchemy would expand the IN
    list's parameters again on every call, which costs more than the look-up itself.
    """
    p = PROVENANCE.c
    sqlite = conn.dialect.name == "sqlite"
    for i in range(0, len(native_ids), CHUNK):
        part = native_ids[i : i + CHUNK]
        if sqlite:
            yield from conn.exec_driver_sql(_sqlite_sql(len(part)), (connection, kind, *part))
        else:
            query = sa.select(p.native_id, p.entity_id, p.content_hash).where(
                p.connection == connection, p.kind == kind, p.native_id.in_(part)
            )
            yield from conn.execute(query)
