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
from typing import Any

from deskmove.config import Project
from deskmove.errors import DeskmoveError
from deskmove.lock import locked
from deskmove.registry import target_for
from deskmove.store import Store, delta
from deskmove.targets.base import Target

ORDER = ("ticket", "message", "attachment", "person", "organization", "group")


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
        if self.with_ticket:
            what += f" (with their {self.with_ticket} messages)"
        scope = f" (run #{self.run_id})" if self.run_id else ""
        extra = f"; {self.unresolved} unfinished entries left" if self.unresolved else ""
        return f"{self.target}{scope}: deleted {what}; {len(self.failed)} failed{extra}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "run_id": self.run_id,
            "deleted": dict(self.deleted),
            "messages_with_their_ticket": self.with_ticket,
            "unresolved": self.unresolved,
            "failed": self.failed,
        }


PEOPLE = ("person", "organization", "group")


def plan(
    store: Store, target: str, run_id: int | None = None, *, include_people: bool = False
) -> list[Entry]:
    """The id-map entries a rollback would remove, in deletion order.

    People, organizations and groups only with ``include_people``: a target may
    have matched an existing user by email, and deleting that user would remove
    something deskmove did not create.
    """
    skip = () if include_people else PEOPLE
    rows = [Entry(*r) for r in store.pushed_entries(target, run_id, skip_kinds=skip)]
    rank = {k: i for i, k in enumerate(ORDER)}
    return sorted(rows, key=lambda e: rank.get(e.kind, len(ORDER)))


def preview(
    project: Project,
    store: Store,
    target: str,
    run_id: int | None = None,
    *,
    include_people: bool = False,
) -> list[Entry]:
    """What :func:`rollback` would remove (checked first: the target must support it)."""
    conn = project.connection(target)
    tgt = target_for(conn, project)
    tgt.require("rollback")
    return plan(store, conn.name, run_id, include_people=include_people or tgt.owns_people)


def rollback(
    project: Project,
    store: Store,
    target: str,
    run_id: int | None = None,
    *,
    include_people: bool = False,
) -> RollbackReport:
    """Delete from TARGET what the id map says deskmove created there (in run ``run_id``)."""
    conn = project.connection(target)
    with locked(project, store, f"rollback {target}"):
        tgt = target_for(conn, project)
        tgt.require("rollback")
        people = include_people or tgt.owns_people
        entries = plan(store, conn.name, run_id, include_people=people)
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
    with_ticket = store.messages_of(gone_tickets) if gone_tickets else set()
    if tgt.deletes_in_bulk:
        _remove_at_once(store, tgt, name, entries, with_ticket, report)
        delta.set_push_watermark(store, name, None)
        return report
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
        except DeskmoveError as exc:
            report.failed.append(f"{e.kind} {e.native_id}: {exc}")
            continue
        store.map_delete(name, e.kind, e.entity_id)  # failed creates are simply forgotten
    delta.set_push_watermark(store, name, None)  # the next push looks at everything again
    return report


def _remove_at_once(
    store: Store,
    tgt: Target,
    name: str,
    entries: list[Entry],
    with_ticket: set[int],
    report: RollbackReport,
) -> None:
    """One call removes every object (a folder rewritten once), then the id map forgets them."""
    unresolved = [
        e for e in entries if e.state == "pending" or (e.native_id is None and e.state != "failed")
    ]
    todo = [e for e in entries if e not in unresolved]
    report.unresolved = len(unresolved)
    done = [e for e in todo if e.state == "done" and e.native_id is not None]
    try:
        tgt.delete_many([(e.kind, e.native_id) for e in done if e.native_id is not None])
    except DeskmoveError as exc:
        report.failed.append(f"{len(done)} objects: {exc}")
        return
    for e in done:
        if e.kind == "message" and e.entity_id in with_ticket:
            report.with_ticket += 1
        else:
            report.deleted[e.kind] += 1
    store.map_delete_many(name, [(e.kind, e.entity_id) for e in todo])
