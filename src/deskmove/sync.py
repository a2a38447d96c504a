"""Import, export and migrate: the orchestration every command and cron run goes through."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from deskmove.config import Project
from deskmove.errors import DeskmoveError
from deskmove.registry import source_for, target_for
from deskmove.store import IngestCounts, Store
from deskmove.targets.base import PushReport


@dataclass
class ImportReport:
    connection: str
    item_kinds: tuple[str, ...]
    counts: IngestCounts
    notes: list[str] = field(default_factory=list)
    run_id: int | None = None

    def _sum(self, counter: Any) -> int:
        return sum(counter[k] for k in self.item_kinds)

    @property
    def new(self) -> int:
        return self._sum(self.counts.new)

    @property
    def changed(self) -> int:
        return self._sum(self.counts.changed)

    @property
    def imported(self) -> int:
        return self.new + self.changed

    @property
    def unchanged(self) -> int:
        return self._sum(self.counts.unchanged)

    @property
    def quarantined(self) -> int:
        return self.counts.quarantined

    @property
    def read(self) -> int:
        return self.counts.read

    @property
    def balanced(self) -> bool:
        return self.read == self.imported + self.unchanged + self.quarantined

    def summary(self) -> str:
        return (
            f"{self.connection}: read {self.read} = {self.imported} imported "
            f"({self.new} new, {self.changed} changed) + {self.unchanged} unchanged "
            f"+ {self.quarantined} quarantined"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection, "run_id": self.run_id, "read": self.read,
            "imported": self.imported, "new": self.new, "changed": self.changed,
            "unchanged": self.unchanged, "quarantined": self.quarantined,
            "by_kind": self.counts.as_dict()["kinds"], "notes": self.notes,
        }  # fmt: skip


@contextmanager
def progress_bar(total: int | None, desc: str, enabled: bool) -> Iterator[tqdm]:
    """A tqdm bar on stderr, shown only on a terminal and when not quiet."""
    bar = tqdm(
        total=total,
        desc=desc,
        unit="item",
        file=sys.stderr,
        disable=not (enabled and sys.stderr.isatty()),
    )
    try:
        yield bar
    finally:
        bar.close()


def open_store(project: Project, *, create: bool = True) -> Store:
    return Store.open(project.store_url, project.blob_root, create=create)


def import_source(
    project: Project, store: Store, source: str, *, progress: bool = False
) -> ImportReport:
    """Read one source into the store, from its saved state on."""
    conn = project.connection(source)
    src = source_for(conn, project)
    src.check()
    run_id = store.begin_run("import", conn.name)
    report = ImportReport(conn.name, src.item_kinds, IngestCounts(), src.notes, run_id)
    ingestor = store.ingestor(conn.name, run_id)
    try:
        with progress_bar(src.estimate(), f"import {conn.scheme}", progress) as bar:
            for batch in src.batches(store.get_state(conn.name), store):
                report.counts.add(ingestor.ingest(batch))
                bar.update(batch.read)
    except BaseException as exc:
        store.finish_run(
            run_id, "failed" if isinstance(exc, DeskmoveError) else "interrupted", report.as_dict()
        )
        raise
    if not report.balanced:  # rule 1 is checked on every run, not assumed
        store.finish_run(run_id, "failed", report.as_dict())
        raise DeskmoveError(
            f"internal accounting error: {report.summary()}",
            "please report this with the input that caused it; the store was not changed by the unaccounted items",
        )
    store.finish_run(run_id, "quarantined" if report.quarantined else "done", report.as_dict())
    return report


def export_target(
    project: Project, store: Store, target: str, *, dry_run: bool = False, progress: bool = False
) -> tuple[str, PushReport]:
    """Push the store's changes since the last push to one target."""
    conn = project.connection(target)
    tgt = target_for(conn, project)
    tgt.check()
    run_id = store.begin_run("export" if not dry_run else "export --dry-run", conn.name)
    try:
        report = tgt.push(store, run_id, dry_run=dry_run, progress=progress)
    except BaseException:
        store.finish_run(run_id, "failed", {})
        raise
    store.finish_run(run_id, "failed" if sum(report.failed.values()) else "done", report.as_dict())
    return conn.name, report


def push_summary(name: str, report: PushReport) -> str:
    total = {
        k: sum(getattr(report, k).values()) for k in ("created", "updated", "unchanged", "failed")
    }
    verb = "would push" if report.dry_run else "pushed"
    return (
        f"{name}: {verb} {total['created']} created, {total['updated']} updated, "
        f"{total['unchanged']} unchanged, {total['failed']} failed"
    )
