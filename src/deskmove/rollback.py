"""`deskmove rollback TARGET [--run ID]`: remove from a target exactly what deskmove created.

The id map is the only list used: an object deskmove did not create is never
in it, so it is never touched. Tickets go first (their messages go with them),
then messages appended to tickets that stay, then people, organizations and
groups. Each id-map entry is removed as soon as its object is deleted, so an
interrupted rollback resumes where it stopped. Entries whose push never
finished (``pending``) are reported, not guessed at.

With ``--run ID`` only the objects that run created are removed (a sample, or
one bad sync); later pushes that merely updated them do not count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from deskmove.config import Project
from deskmove.errors import DeskmoveError, UsageError
from deskmove.model import IdMap, Message, Run
from deskmove.registry import target_for
from deskmove.store import Store, delta
from deskmove.targets.base import Target

ORDER = ("ticket", "message", "attachment", "person", "organization", "group")
T_IDMAP, T_RUN, T_MSG = IdMap.__table__, Run.__table__, Message.__table__


@dataclass
class Entry:
    kind: str
    entity_id: int
    native_id: str | None
    state: str


@dataclass
class RollbackReport:
    target: str
    run_id: int | None
    deleted: Counter[str] = field(default_factory=Counter)
    with_ticket: int = 0  # messages that went with their deleted ticket
    unresolved: int = 0  # pending entries: the object may or may not exist
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        what = ", ".join(f"{n} {k}s" for k, n in sorted(self.deleted.items())) or "nothing"
        scope = f" (run #{self.run_id})" if self.run_id else ""
        extra = f"; {self.unresolved} unfinished entries left" if self.unresolved else ""
        return f"{self.target}{scope}: deleted {what}; {len(self.failed)} failed{extra}"

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "run_id": self.run_id, "deleted": dict(self.deleted),
                "messages_with_their_ticket": self.with_ticket, "unresolved": self.unresolved,
                "failed": self.failed}  # fmt: skip


PEOPLE = ("person", "organization", "group")


def plan(
    store: Store, target: str, run_id: int | None = None, *, include_people: bool = False
) -> list[Entry]:
    """The id-map entries a rollback would remove, in deletion order.

    People, organizations and groups only with ``include_people``: a target may
    have matched an existing user by email, and deleting that user would remove
    something deskmove did not create.
    """
    c = T_IDMAP.c
    query = sa.select(c.kind, c.entity_id, c.native_id, c.state).where(c.connection == target)
    if not include_people:
        query = query.where(c.kind.not_in(PEOPLE))
    with store.begin() as conn:
        if run_id is not None:
            start, end = _run_window(conn, run_id, target)
            query = query.where(c.created_at >= start)
            if end is not None:
                query = query.where(c.created_at < end)
        rows = [Entry(*r) for r in conn.execute(query.order_by(c.id))]
    rank = {k: i for i, k in enumerate(ORDER)}
    return sorted(rows, key=lambda e: rank.get(e.kind, len(ORDER)))


def _run_window(conn: sa.Connection, run_id: int, target: str) -> tuple[datetime, datetime | None]:
    r = T_RUN.c
    run = conn.execute(
        sa.select(r.started_at, r.connection, r.command).where(r.id == run_id)
    ).first()
    if (
        run is None
        or run.connection != target
        or not run.command.startswith(("export", "migrate", "sample"))
    ):
        raise UsageError(
            f"run #{run_id} did not push to {target}",
            "see `deskmove status` for the runs and their ids",
        )
    # Runs never overlap (the project lock), so the next run's start closes this one.
    end = conn.execute(sa.select(sa.func.min(r.started_at)).where(r.id > run_id)).scalar()
    return run.started_at, end  # fmt: skip


def rollback(
    project: Project, store: Store, target: str, run_id: int | None = None, *,
    include_people: bool = False,
) -> RollbackReport:  # fmt: skip
    """Delete from TARGET what the id map says deskmove created there (in run ``run_id``)."""
    from deskmove.sync import locked

    conn = project.connection(target)
    with locked(project, store, f"rollback {target}"):
        entries = plan(store, conn.name, run_id, include_people=include_people)
        tgt = target_for(conn, project)
        tgt.check()
        own = store.begin_run(f"rollback{f' --run {run_id}' if run_id else ''}", conn.name)
        try:
            report = _remove(store, tgt, conn.name, entries, run_id)
        except BaseException:
            store.finish_run(own, "interrupted", {})
            raise
        store.finish_run(own, "failed" if report.failed else "done", report.as_dict())
    return report


def _remove(
    store: Store, tgt: Target, name: str, entries: list[Entry], run_id: int | None
) -> RollbackReport:
    report = RollbackReport(name, run_id)
    gone_tickets = {e.entity_id for e in entries if e.kind == "ticket" and e.state == "done"}
    with_ticket = _messages_of(store, gone_tickets)
    for e in entries:
        if e.state == "pending" or (e.native_id is None and e.state != "failed"):
            report.unresolved += 1
            continue
        try:
            if e.kind == "message" and e.entity_id in with_ticket:
                report.with_ticket += 1
            elif e.state == "done" and e.native_id is not None:
                tgt.delete(e.kind, e.native_id)
                report.deleted[e.kind] += 1
        except (NotImplementedError, DeskmoveError) as exc:
            report.failed.append(f"{e.kind} {e.native_id}: {exc}")
            continue
        store.map_delete(name, e.kind, e.entity_id)  # failed creates are simply forgotten
    delta.set_push_watermark(store, name, None)  # the next push looks at everything again
    return report


def _messages_of(store: Store, ticket_ids: set[int]) -> set[int]:
    if not ticket_ids:
        return set()
    out: set[int] = set()
    ids = sorted(ticket_ids)
    with store.begin() as conn:
        for i in range(0, len(ids), 500):
            out.update(
                conn.execute(
                    sa.select(T_MSG.c.id).where(T_MSG.c.ticket_id.in_(ids[i : i + 500]))
                ).scalars()
            )
    return out
