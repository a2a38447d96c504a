"""`deskmove migrate SOURCE TARGET --sample N`: push N representative tickets, undoably.

The sample mixes the oldest and newest tickets, tickets with attachments, with
internal notes and with the longest threads, then fills up evenly across time.
The choice depends only on the store, so a sample that was interrupted picks
the same tickets again and resumes.

The target pushes from the real store, limited by an explicit
:class:`~deskmove.store.scope.TicketScope` (the tickets and the people,
organizations and groups they refer to). The sample is recorded in the id map
like any push: crash-safe, and removable with
``deskmove rollback TARGET --run ID``.
"""

from __future__ import annotations

from deskmove.config import Project
from deskmove.errors import UsageError
from deskmove.lock import locked
from deskmove.registry import target_for
from deskmove.store import Store
from deskmove.targets.base import PushReport


def choose(store: Store, n: int) -> list[int]:
    """N ticket ids: oldest, newest, with attachments, with notes, longest, then spread in time."""
    if n < 1:
        raise UsageError("--sample needs a positive number", "for example --sample 20")
    groups = store.sample_candidates(n)
    if not groups:
        return []
    by_time = groups[0]
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


def push_sample(
    project: Project,
    store: Store,
    target: str,
    n: int,
    *,
    dry_run: bool = False,
    progress: bool = False,
) -> tuple[str, PushReport, int, list[int]]:
    """Push N representative tickets to TARGET; returns (target, report, run id, ticket ids)."""
    conn = project.connection(target)
    with locked(project, store, f"sample {target}"):
        ids = choose(store, n)
        tgt = target_for(conn, project)
        tgt.check()
        command = f"sample {n}" + (" --dry-run" if dry_run else "")
        run_id = store.begin_run(command, conn.name)
        try:
            scope = store.scope(ids)
            report = tgt.push(store, run_id, dry_run=dry_run, progress=progress, only=scope)
        except BaseException:
            store.finish_run(run_id, "failed", {})
            raise
        status = "failed" if sum(report.failed.values()) else "done"
        store.finish_run(run_id, status, {**report.as_dict(), "tickets": ids})
    return conn.name, report, run_id, ids
