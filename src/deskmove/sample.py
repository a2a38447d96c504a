"""`deskmove migrate SOURCE TARGET --sample N`: push N representative tickets, undoably.

The sample mixes the oldest and newest tickets, tickets with attachments, with
internal notes and with the longest threads, then fills up evenly across time.
The choice depends only on the store, so a sample that was interrupted picks
the same tickets again and resumes.

The target pushes from a *view* of the store holding just those tickets (a
temporary SQLite copy with the same ids, sharing the blob folder) while its
id-map reads and writes go straight to the real store, so the sample is
recorded like any push: crash-safe, and removable with
``deskmove rollback TARGET --run ID``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from deskmove.config import Project
from deskmove.errors import UsageError
from deskmove.model import (
    Attachment,
    Group,
    Message,
    Organization,
    Person,
    PersonEmail,
    Provenance,
    Ticket,
)
from deskmove.registry import target_for
from deskmove.store import Store
from deskmove.targets.base import PushReport

T, M, A = Ticket.__table__, Message.__table__, Attachment.__table__


def choose(store: Store, n: int) -> list[int]:
    """N ticket ids: oldest, newest, with attachments, with notes, longest, then spread in time."""
    if n < 1:
        raise UsageError("--sample needs a positive number", "for example --sample 20")
    with store.begin() as conn:
        by_time = list(conn.execute(sa.select(T.c.id).order_by(T.c.created_at, T.c.id)).scalars())
        if not by_time:
            return []
        with_files = sa.select(M.c.ticket_id).join(A, A.c.message_id == M.c.id)
        with_notes = sa.select(M.c.ticket_id).where(M.c.public.is_(False))
        longest = (
            sa.select(M.c.ticket_id)
            .group_by(M.c.ticket_id)
            .order_by(sa.func.count().desc(), M.c.ticket_id)
        )
        groups = [
            by_time,
            by_time[::-1],
            list(conn.execute(with_files.distinct().order_by(M.c.ticket_id).limit(n)).scalars()),
            list(conn.execute(with_notes.distinct().order_by(M.c.ticket_id).limit(n)).scalars()),
            list(conn.execute(longest.limit(n)).scalars()),
        ]
    step = max(1, len(by_time) // n)
    groups.append(by_time[::step])
    picked: list[int] = []
    iters = [iter(g) for g in groups]
    while len(picked) < min(n, len(by_time)):
        for it in iters:
            tid = next((t for t in it if t not in picked), None)
            if tid is not None and len(picked) < n:
                picked.append(tid)
    return sorted(picked)


class SampleStore(Store):
    """A temporary store with a few tickets; the id map is the real store's."""

    def __init__(self, real: Store, folder: Path) -> None:
        super().__init__(f"sqlite:///{folder / 'sample.db'}", real.blobs.root)
        self.blobs = real.blobs
        self.real = real

    def __getattribute__(self, name: str) -> Any:
        # Every id-map method (id_map, map_put, map_put_many, map_delete, …) is the real store's.
        if name.startswith(("map_", "id_map")):
            return getattr(object.__getattribute__(self, "real"), name)
        return object.__getattribute__(self, name)


def copy_tickets(real: Store, view: Store, ticket_ids: list[int]) -> None:
    """Copy the tickets with their messages, attachments, people, organizations and groups."""
    with real.begin() as src, view.begin() as dst:
        tickets = _rows(src, T, T.c.id.in_(ticket_ids))
        messages = _rows(src, M, M.c.ticket_id.in_(ticket_ids))
        mids = [m["id"] for m in messages]
        attachments = _rows(src, A, A.c.message_id.in_(mids)) if mids else []
        pids = {t[k] for t in tickets for k in ("requester_id", "assignee_id")}
        pids |= {m["author_id"] for m in messages}
        pids.discard(None)
        P, E = Person.__table__, PersonEmail.__table__
        people = _rows(src, P, P.c.id.in_(sorted(pids))) if pids else []
        emails = _rows(src, E, E.c.person_id.in_(sorted(pids))) if pids else []
        oids = {r["organization_id"] for r in tickets + people} - {None}
        gids = {t["group_id"] for t in tickets} - {None}
        ORG, G = Organization.__table__, Group.__table__
        orgs = _rows(src, ORG, ORG.c.id.in_(sorted(oids))) if oids else []
        groups = _rows(src, G, G.c.id.in_(sorted(gids))) if gids else []
        prov = Provenance.__table__
        kinds = {"ticket": ticket_ids, "message": mids, "person": sorted(pids),
                 "organization": sorted(oids), "group": sorted(gids)}  # fmt: skip
        provenance = [
            r
            for kind, ids in kinds.items()
            if ids
            for r in _rows(src, prov, prov.c.kind == kind, prov.c.entity_id.in_(ids))
        ]
        for table, rows in ((ORG, orgs), (G, groups), (P, people), (E, emails), (T, tickets),
                            (M, messages), (A, attachments), (prov, provenance)):  # fmt: skip
            if rows:
                dst.execute(table.insert(), rows)


def _rows(conn: sa.Connection, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(sa.select(table).where(*where))]


def push_sample(
    project: Project, store: Store, target: str, n: int, *, dry_run: bool = False,
    progress: bool = False,
) -> tuple[str, PushReport, int, list[int]]:  # fmt: skip
    """Push N representative tickets to TARGET; returns (target, report, run id, ticket ids)."""
    from deskmove.sync import locked

    conn = project.connection(target)
    with locked(project, store, f"sample {target}"):
        ids = choose(store, n)
        tgt = target_for(conn, project)
        tgt.check()
        command = f"sample {n}" + (" --dry-run" if dry_run else "")
        run_id = store.begin_run(command, conn.name)
        try:
            with tempfile.TemporaryDirectory(prefix="deskmove-sample-") as tmp:
                view = SampleStore(store, Path(tmp))
                try:
                    view.upgrade()
                    copy_tickets(store, view, ids)
                    report = tgt.push(view, run_id, dry_run=dry_run, progress=progress)
                finally:
                    view.close()
        except BaseException:
            store.finish_run(run_id, "failed", {})
            raise
        status = "failed" if sum(report.failed.values()) else "done"
        store.finish_run(run_id, status, {**report.as_dict(), "tickets": ids})
    return conn.name, report, run_id, ids
