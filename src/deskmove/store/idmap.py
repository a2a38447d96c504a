"""Id-map reads for rollback: which entries a run created, and what goes with a ticket."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from deskmove.errors import UsageError
from deskmove.model import IdMap, Message, Run

IDMAP, RUNS, MESSAGES = IdMap.__table__, Run.__table__, Message.__table__
PUSH_COMMANDS = ("export", "migrate", "sample")


def entries(
    conn: sa.Connection, target: str, run_id: int | None, *, skip_kinds: tuple[str, ...] = ()
) -> list[tuple[str, int, str | None, str]]:
    """``(kind, entity id, native id, state)`` of every id-map entry for ``target``
    (only those run ``run_id`` created, when given), in the order they were made."""
    c = IDMAP.c
    query = sa.select(c.kind, c.entity_id, c.native_id, c.state).where(c.connection == target)
    if skip_kinds:
        query = query.where(c.kind.not_in(skip_kinds))
    if run_id is not None:
        start, end = run_window(conn, run_id, target)
        query = query.where(c.created_at >= start)
        if end is not None:
            query = query.where(c.created_at < end)
    return [tuple(r) for r in conn.execute(query.order_by(c.id))]  # type: ignore[misc]


def run_window(conn: sa.Connection, run_id: int, target: str) -> tuple[datetime, datetime | None]:
    """When push run ``run_id`` to ``target`` started, and when the next run started."""
    r = RUNS.c
    query = sa.select(r.started_at, r.connection, r.command).where(r.id == run_id)
    run = conn.execute(query).first()
    if run is None or run.connection != target or not run.command.startswith(PUSH_COMMANDS):
        raise UsageError(
            f"run #{run_id} did not push to {target}",
            "see `deskmove status` for the runs and their ids",
        )
    # Runs never overlap (the project lock), so the next run's start closes this one.
    end = conn.execute(sa.select(sa.func.min(r.started_at)).where(r.id > run_id)).scalar()
    return run.started_at, end


def messages_of(conn: sa.Connection, ticket_ids: set[int]) -> set[int]:
    """The ids of the messages of these tickets."""
    ids = sorted(ticket_ids)
    out: set[int] = set()
    m = MESSAGES.c
    for i in range(0, len(ids), 500):
        out.update(conn.execute(sa.select(m.id).where(m.ticket_id.in_(ids[i : i + 500]))).scalars())
    return out


def delete_entries(conn: sa.Connection, target: str, keys: list[tuple[str, int]]) -> None:
    """Forget these ``(kind, entity id)`` entries of ``target``."""
    c = IDMAP.c
    if keys:
        conn.execute(
            IDMAP.delete().where(
                c.connection == target,
                c.kind == sa.bindparam("k"),
                c.entity_id == sa.bindparam("e"),
            ),
            [{"k": k, "e": e} for k, e in keys],
        )
