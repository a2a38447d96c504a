"""Working the quarantine: retry items through today's code and mappings, or drop them
as reviewed. Nothing is deleted; an item leaves the quarantine as imported or dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deskmove.config import Connection, Project, parse_spec
from deskmove.errors import DeskmoveError, UsageError
from deskmove.lock import locked
from deskmove.registry import source_for
from deskmove.store import Store
from deskmove.store import quarantine as q


@dataclass
class RetryReport:
    imported: list[q.Item] = field(default_factory=list)
    still: list[q.Item] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        n = len(self.imported) + len(self.still)
        line = f"retried {n}: {len(self.imported)} imported, {len(self.still)} still quarantined"
        return line + (f" (run #{', #'.join(map(str, self.runs))})" if self.runs else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "retried": len(self.imported) + len(self.still),
            "imported": [i.as_dict() for i in self.imported],
            "still_quarantined": [i.as_dict() for i in self.still],
            "runs": self.runs,
            "notes": self.notes,
        }


def open_items(store: Store, ids: list[int] | None) -> list[q.Item]:
    """The open items named (all open ones without ids); a wrong id is a usage error."""
    found = q.items(store, ids or None)
    if ids:
        missing = sorted(set(ids) - {i.id for i in found})
        if missing:
            gone = q.get(store, missing[0])
            if gone is None:
                raise UsageError(
                    f"no quarantined item #{missing[0]}", "see `deskmove quarantine list`"
                )
            raise UsageError(
                f"item #{gone.id} already left the quarantine ({gone.state}"
                + (f": {gone.note}" if gone.note else "")
                + ")",
                "see `deskmove quarantine list --all`",
            )
    return found


def connection_of(project: Project, item: q.Item) -> Connection:
    """The connection an item came from: by its name in deskmove.toml (today's settings),
    else the inline spec it was imported with."""
    if item.connection in project.section("connections"):
        return project.connection(item.connection)
    spec = item.context.get("spec")
    if not spec:
        raise UsageError(
            f"item #{item.id} came from '{item.connection}', which is not in deskmove.toml",
            f"add it as a connection, or import {item.connection} again",
        )
    conn = parse_spec(str(spec), name=item.connection)
    conn.location = str(item.context.get("location") or conn.location)
    return conn


def retry(project: Project, store: Store, ids: list[int] | None = None) -> RetryReport:
    """Run open items again through the source that quarantined them."""
    items = open_items(store, ids)
    report = RetryReport()
    by_conn: dict[str, list[q.Item]] = {}
    for item in items:
        by_conn.setdefault(item.connection, []).append(item)
    with locked(project, store, "quarantine retry"):
        for name, group in by_conn.items():
            conn = connection_of(project, group[0])
            src = source_for(conn, project)
            run_id = store.begin_run("quarantine retry", name)
            report.runs.append(run_id)
            try:
                _retry_group(store, src, name, group, run_id)
            except BaseException as exc:
                store.finish_run(
                    run_id, "failed" if isinstance(exc, DeskmoveError) else "interrupted", {}
                )
                raise
            report.notes += src.notes
            after = {i.id: i for i in q.items(store, [i.id for i in group], open_only=False)}
            done = [after[i.id] for i in group]
            store.finish_run(
                run_id,
                "done",
                {"retried": len(group), "imported": sum(1 for i in done if i.resolved)},
            )
            report.imported += [i for i in done if i.resolved]
            report.still += [i for i in done if not i.resolved]
    return report


def _retry_group(store: Store, src: Any, name: str, group: list[q.Item], run_id: int) -> None:
    ingestor = store.ingestor(name, run_id)
    by_ref = {i.native_ref: i for i in group}
    for accounted, batch in src.retry(group, store):
        again: dict[int, str] = {}
        kept = []
        for rec in batch.quarantined:
            item = by_ref.get(rec.native_ref)
            if item is not None and item.id in accounted:
                again[item.id] = rec.reason
            else:
                kept.append(rec)
        batch.quarantined = kept
        batch.state = None  # a retry never moves a source's cursor
        ingestor.ingest(batch)
        for item_id, reason in again.items():
            q.requarantined(store, item_id, reason, run_id)
        q.resolve(
            store,
            [i for i in accounted if i not in again],
            "imported",
            f"imported by retry run #{run_id}",
        )


def drop(store: Store, ids: list[int], why: str) -> list[q.Item]:
    """Mark items as reviewed and not to be imported; they are kept, with the reason."""
    why = why.strip()
    if not why:
        raise UsageError("--why is empty", "say why these items need not be imported")
    if not ids:
        raise UsageError("no item ids given", "name them: deskmove quarantine drop 12 13 --why …")
    items = open_items(store, ids)
    q.resolve(store, [i.id for i in items], "dropped", why)
    return q.items(store, [i.id for i in items], open_only=False)
