"""A PostgreSQL session advisory lock on a dedicated connection (see :mod:`deskmove.lock`).

The server drops the lock when the connection closes, so a holder killed with
``kill -9`` never blocks the next run. The holder's ``application_name`` names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa

from deskmove.errors import StoreError


class AdvisoryLockBusy(Exception):
    """Another session holds the lock: its ``application_name`` and when it connected."""

    def __init__(self, name: str, started: datetime | None) -> None:
        super().__init__(name)
        self.name, self.started = name, started


@contextmanager
def advisory_lock(url: str, key: int, label: str) -> Iterator[None]:
    """Hold advisory lock ``key`` as ``label``; :class:`AdvisoryLockBusy` when taken."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT set_config('application_name', :n, false)"), {"n": label})
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
            conn.commit()
            if not got:
                raise AdvisoryLockBusy(*_holder(conn, key))
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    except sa.exc.OperationalError as exc:
        raise StoreError(
            f"cannot take the lock on the store: {exc.orig}",
            "check that the database server is running",
        ) from exc
    finally:
        engine.dispose()


def _holder(conn: sa.Connection, key: int) -> tuple[str, datetime | None]:
    """The holder session's application_name and start, read from pg_locks."""
    hi, lo = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    row = conn.execute(
        sa.text(
            "SELECT a.application_name, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.classid = :hi AND l.objid = :lo AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1"
        ),
        {"hi": hi, "lo": lo},
    ).first()
    conn.rollback()
    return (row[0] or "", row[1]) if row is not None else ("", None)


def lock_held(url: str, key: int) -> bool:
    """Whether some session holds advisory lock ``key`` now (reads pg_locks, takes nothing)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            name, _started = _holder(conn, key)
            return bool(name)
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()
