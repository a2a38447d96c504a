"""Delta sync bookkeeping: what changed since a target's last push, found by index.

Every provenance row carries the id of the import run that last created or
changed it (``provenance.run_id``, indexed since migration 0002). Runs are
numbered in order and never overlap (the project lock), so a target's
*watermark* — the id of its last fully successful push run — splits the store
in two: rows with ``run_id`` above it are what the target has not seen. A no-op
cron run is then two indexed ``EXISTS`` queries, however large the store.

The watermark lives in ``sync_state`` under the target's connection name and
the stream ``@push``; ``deskmove status`` shows it beside the sources' cursors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from deskmove.model import IdMap, Message, Provenance, Run, SyncState, Ticket, utcnow

if TYPE_CHECKING:
    from deskmove.store import Store

PUSH_STREAM = "@push"
PROVENANCE = Provenance.__table__
IDMAP = IdMap.__table__
SYNC_STATE = SyncState.__table__
MESSAGES = Message.__table__
TICKETS = Ticket.__table__
RUNS = Run.__table__


def push_watermark(store: Store, target: str) -> int | None:
    s = SYNC_STATE.c
    with store.begin() as conn:
        cursor = conn.execute(
            sa.select(s.cursor).where(s.connection == target, s.stream == PUSH_STREAM)
        ).scalar()
    return int(cursor["run_id"]) if cursor and cursor.get("run_id") is not None else None


def set_push_watermark(store: Store, target: str, run_id: int | None) -> None:
    """Record that everything up to ``run_id`` is in ``target``; None forgets it (full push)."""
    s = SYNC_STATE.c
    where = (s.connection == target, s.stream == PUSH_STREAM)
    with store.begin() as conn:
        if run_id is None:
            conn.execute(SYNC_STATE.delete().where(*where))
            return
        values = {"cursor": {"run_id": run_id}, "updated_at": utcnow()}
        if not conn.execute(SYNC_STATE.update().where(*where).values(**values)).rowcount:
            conn.execute(
                SYNC_STATE.insert().values(connection=target, stream=PUSH_STREAM, **values)
            )


def _unfinished(target: str) -> sa.ColumnElement[bool]:
    """Entries whose push did not finish ("matched": an object the target had, reused).

    Written as the three ranges around "done" and "matched" rather than ``NOT IN``: the
    (connection, state) index then seeks them, where ``NOT IN`` made SQLite read every
    finished entry of the target (400,000 after a migration of 100,000 tickets, on each
    no-op cron run). The same rows either way: ``state`` is never NULL.
    """
    c = IDMAP.c
    state = c.state
    return sa.and_(
        c.connection == target,
        sa.or_(state < "done", sa.and_(state > "done", state < "matched"), state > "matched"),
    )


def has_push_work(store: Store, target: str) -> bool:
    mark = push_watermark(store, target)
    with store.begin() as conn:
        if mark is None:
            return conn.execute(sa.select(sa.exists().select_from(TICKETS))).scalar_one()
        # A column, not ``SELECT *``: with ``*`` SQLite reads the table, not the index.
        changed = sa.select(PROVENANCE.c.run_id).where(PROVENANCE.c.run_id > mark).exists()
        unfinished = sa.select(IDMAP.c.state).where(_unfinished(target)).exists()
        return conn.execute(sa.select(sa.or_(changed, unfinished))).scalar_one()


def changed_ticket_ids(store: Store, target: str) -> list[int] | None:
    """Tickets with a change the target has not seen, or an unfinished id-map entry."""
    mark = push_watermark(store, target)
    if mark is None:
        return None
    p, m, i = PROVENANCE.c, MESSAGES.c, IDMAP.c
    queries = [
        sa.select(p.entity_id).where(p.run_id > mark, p.kind == "ticket"),
        sa.select(m.ticket_id)
        .join(PROVENANCE, sa.and_(p.entity_id == m.id, p.kind == "message"))
        .where(p.run_id > mark),
        sa.select(i.entity_id).where(_unfinished(target), i.kind == "ticket"),
        sa.select(m.ticket_id)
        .join(IDMAP, sa.and_(i.entity_id == m.id, i.kind == "message"))
        .where(_unfinished(target)),
    ]
    with store.begin() as conn:
        return sorted(conn.execute(sa.union(*queries)).scalars())


def pending_count(store: Store, target: str) -> int:
    """How many tickets the next push to ``target`` would look at."""
    ids = changed_ticket_ids(store, target)
    if ids is not None:
        return len(ids)
    i = IDMAP.c
    done = sa.select(i.entity_id).where(
        i.connection == target, i.kind == "ticket", i.state == "done"
    )
    with store.begin() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(TICKETS).where(TICKETS.c.id.not_in(done))
        ).scalar_one()


def latest_run_id(store: Store) -> int:
    with store.begin() as conn:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(RUNS.c.id), 0))).scalar_one()


def mark_interrupted(store: Store) -> int:
    """Runs still "running" while we hold the lock were killed; say so in their status."""
    with store.begin() as conn:
        return conn.execute(
            RUNS.update()
            .where(RUNS.c.status == "running")
            .values(status="interrupted", finished_at=utcnow())
        ).rowcount


def connections_overview(store: Store, targets: list[str], active_days: int) -> dict[str, Any]:
    """Per connection: cursors, last run, quarantined, and for targets what is pending."""
    from datetime import timedelta

    from deskmove.model import Quarantine

    q, r, s, i = Quarantine.__table__.c, RUNS.c, SYNC_STATE.c, IDMAP.c
    with store.begin() as conn:
        names = set(targets)
        names |= set(conn.execute(sa.select(s.connection).distinct()).scalars())
        names |= set(conn.execute(sa.select(i.connection).distinct()).scalars())
        names |= set(conn.execute(sa.select(q.connection).distinct()).scalars())
        names |= set(
            conn.execute(
                sa.select(r.connection).where(r.connection.is_not(None)).distinct()
            ).scalars()
        )
        out: dict[str, Any] = {}
        for name in sorted(names):
            last = conn.execute(
                sa.select(r.id, r.command, r.status, r.started_at, r.finished_at)
                .where(r.connection == name)
                .order_by(r.id.desc())
                .limit(1)
            ).first()
            cursors = {
                stream: cursor
                for stream, cursor in conn.execute(
                    sa.select(s.stream, s.cursor).where(s.connection == name)
                )
            }
            out[name] = {
                "cursor": {k: v for k, v in cursors.items() if k != PUSH_STREAM},
                "pushed_up_to_run": (cursors.get(PUSH_STREAM) or {}).get("run_id"),
                "last_run": None
                if last is None
                else {
                    "id": last.id,
                    "command": last.command,
                    "status": last.status,
                    "started_at": _iso(last.started_at),
                    "finished_at": _iso(last.finished_at),
                },
                "quarantined": conn.execute(
                    sa.select(sa.func.count()).where(q.connection == name, q.resolved.is_(False))
                ).scalar_one(),
                "in_target": conn.execute(
                    sa.select(sa.func.count()).where(
                        i.connection == name, i.kind == "ticket", i.state == "done"
                    )
                ).scalar_one(),
            }
        since = utcnow() - timedelta(days=active_days)
        active = conn.execute(
            sa.select(sa.func.count(sa.distinct(MESSAGES.c.ticket_id))).where(
                MESSAGES.c.created_at >= since
            )
        ).scalar_one()
    for name in out:
        if name in targets or out[name]["in_target"] or out[name]["pushed_up_to_run"]:
            out[name]["pending_tickets"] = pending_count(store, name)
    return {"connections": out, "active_conversations": active, "active_days": active_days}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
