"""Import, export and migrate: the orchestration every command and cron run goes through."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from deskmove import notify
from deskmove.checkpoint import checkpoint
from deskmove.config import Project
from deskmove.errors import DeskmoveError, StoreError
from deskmove.gcpause import batch_collections
from deskmove.heap import steady_heap
from deskmove.lock import locked, project_lock
from deskmove.registry import source_for, target_for
from deskmove.store import IngestCounts, Store, delta
from deskmove.syncplan import settle_running as _settle
from deskmove.syncplan import sync_plan
from deskmove.syncreport import ImportReport, SyncReport
from deskmove.targets.base import PushReport, Target

if TYPE_CHECKING:
    from tqdm import tqdm


class HiddenBar:
    """What a bar that is not shown needs to be: a count (cron and scripts never see a
    bar, so they need not import tqdm)."""

    disable = True

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, _text: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


@contextmanager
def progress_bar(
    total: int | None, desc: str, enabled: bool, *, unit: str = "item"
) -> Iterator[tqdm | HiddenBar]:
    """A tqdm bar on stderr, shown only on a terminal and when not quiet; with a total it
    shows how far and how long to go. ``unit="B"`` counts bytes (kB, MB …)."""
    if not (enabled and sys.stderr.isatty()):
        hidden = HiddenBar(total)
        with notify.showing(hidden):
            yield hidden
        return
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024 if unit == "B" else 1000,
        file=sys.stderr,
    )
    try:
        with notify.showing(bar):
            yield bar
    finally:
        bar.close()


def open_store(project: Project, *, create: bool = True, write: bool = True) -> Store:
    """The project's store (``deskmove init`` made the folder; nothing else creates one).

    A SQLite store in a folder deskmove cannot write is refused for commands that
    write (with the advice that fits SQLite), and opened read-only for those that
    only read (``status``).
    """
    from deskmove.store.engine import sqlite_folder, sqlite_read_only_url

    folder = sqlite_folder(project.store_url)
    if folder is not None and folder.is_dir() and not os.access(folder, os.W_OK):
        if write:
            raise StoreError(
                f"the folder of the store, {folder}, is read-only",
                "deskmove writes its SQLite store, lock file and blobs there: make it writable "
                "or copy the project somewhere writable; `deskmove status` can still read it",
            )
        return Store.open(sqlite_read_only_url(project.store_url), project.blob_root, create=False)
    try:
        return Store.open(project.store_url, project.blob_root, create=create)
    except StoreError:
        if write or folder is None:
            raise
        # a full disk: reading needs no space, so show what the store holds
        return Store.open(sqlite_read_only_url(project.store_url), project.blob_root, create=False)


def settle_running(project: Project, store: Store, info: dict[str, Any]) -> dict[str, Any]:
    """See :func:`deskmove.syncplan.settle_running`."""
    return _settle(project, store.url, info)


def import_source(
    project: Project, store: Store, source: str, *, progress: bool = False
) -> ImportReport:
    """Read one source into the store, from its saved state on."""
    with locked(project, store, f"import {source}"):
        return _import(project, store, source, progress)


def _import(project: Project, store: Store, source: str, progress: bool) -> ImportReport:
    conn = project.connection(source)
    src = source_for(conn, project)
    src.check()
    run_id = store.begin_run("import", conn.name)
    report = ImportReport(conn.name, src.item_kinds, IngestCounts(), src.notes, run_id)
    ingestor = store.ingestor(conn.name, run_id)
    try:
        size = src.size_bytes() if progress else None
        total, unit = (size, "B") if size is not None else (src.estimate(), "item")
        with (
            progress_bar(total, f"import {conn.scheme}", progress, unit=unit) as bar,
            batch_collections() as collections,
        ):
            steady_heap()  # see deskmove.heap: memory stays flat however long the input
            for batch in src.batches(store.get_state(conn.name), store):
                for rec in batch.quarantined:  # how `quarantine retry` finds the source again
                    rec.context = {
                        **(rec.context or {}),
                        "spec": conn.spec,
                        "location": conn.location,
                    }
                checkpoint("ingest", f"before batch of {batch.read}")
                report.counts.add(ingestor.ingest(batch))
                checkpoint("ingest", f"after batch of {batch.read}")
                bar.update(src.bytes_read() - bar.n if size is not None else batch.read)
                batch = None  # type: ignore[assignment] - gone before the collection
                collections.boundary()
            if size is not None:
                bar.update(size - bar.n)  # all read
    except BaseException as exc:
        status = "failed" if isinstance(exc, DeskmoveError) else "interrupted"
        _end_failed_run(store, run_id, status, report.as_dict())
        raise
    if report.imported and conn.scheme in ("mbox", "maildir", "eml", "imap", "imaps"):
        # A run that brought no mail repeats no hint: it would read every stored message's
        # recipients on each cron run only to say what the import before it said.
        from deskmove.reclassify import support_hint

        report.notes += [h for h in [support_hint(project, store, conn.name)] if h]
    if report.counts.nul_stripped:
        from deskmove.textclean import describe

        report.notes.append(describe(report.counts.nul_stripped))
    if not report.balanced:  # rule 1 is checked on every run, not assumed
        store.finish_run(run_id, "failed", report.as_dict())
        raise DeskmoveError(
            f"internal accounting error: {report.summary()}",
            "please report this with the input that caused it; the store was not changed by the unaccounted items",
        )
    store.finish_run(run_id, "quarantined" if report.quarantined else "done", report.as_dict())
    return report


def check_target(project: Project, target: str, *, remote: bool = True) -> Target:
    """The target, checked before anything is imported: its configuration and
    credentials, and (``remote``) one cheap authenticated read."""
    tgt = target_for(project.connection(target), project)
    if remote:
        tgt.check()
    else:
        tgt.check_config()
    return tgt


def _end_failed_run(store: Store, run_id: int, status: str, counts: dict[str, Any]) -> None:
    """Record a run's failure if the store still can; the failure itself is what to report.

    On a full disk even this small update may not fit: the run then stays
    "running" in the store, and ``status`` reads the lock to call it interrupted.
    """
    try:
        store.finish_run(run_id, status, counts)
    except StoreError:
        pass


def export_target(
    project: Project,
    store: Store,
    target: str,
    *,
    dry_run: bool = False,
    progress: bool = False,
    checked: Target | None = None,
) -> tuple[str, PushReport]:
    """Push the store's changes since the last push to one target (``checked``: already
    made and checked by :func:`check_target`)."""
    with locked(project, store, f"export {target}"):
        return _export(project, store, target, dry_run, progress, checked)


def _export(
    project: Project,
    store: Store,
    target: str,
    dry_run: bool,
    progress: bool,
    checked: Target | None = None,
) -> tuple[str, PushReport]:
    conn = project.connection(target)
    tgt = checked or target_for(conn, project)
    if checked is None:
        tgt.check()
    run_id = store.begin_run("export" if not dry_run else "export --dry-run", conn.name)
    try:
        report = tgt.push(store, run_id, dry_run=dry_run, progress=progress)
    except BaseException:
        _end_failed_run(store, run_id, "failed", {})
        raise
    failed = sum(report.failed.values())
    if not failed and not dry_run:  # everything up to this run is in the target now
        delta.set_push_watermark(store, conn.name, run_id)
    store.finish_run(run_id, "failed" if failed else "done", report.as_dict())
    return conn.name, report


def push_summary(name: str, report: PushReport) -> str:
    total = {
        k: sum(getattr(report, k).values()) for k in ("created", "updated", "unchanged", "failed")
    }
    verb = "would push" if report.dry_run else "pushed"
    matched = sum(report.matched.values())  # people, organizations, groups already there
    return (
        f"{name}: {verb} {total['created']} created, "
        + (f"{matched} matched, " if matched else "")
        + f"{total['updated']} updated, {total['unchanged']} unchanged, {total['failed']} failed"
    )


def sync_all(
    project: Project,
    store: Store,
    names: list[str] | None = None,
    *,
    dry_run: bool = False,
    progress: bool = False,
) -> SyncReport:
    """Import every planned source from its saved state, then push to every planned target.

    One source failing (network, auth) does not stop the others or the push of
    what did arrive; its error is reported and the run exits 1.
    """
    start = time.monotonic()
    sources, targets = sync_plan(project, names)
    for name in targets:  # a target that can never be written stops the run before any import
        check_target(project, name, remote=False)
    report = SyncReport(dry_run=dry_run)
    with project_lock(project.root, store.url, "sync") as stale:
        if stale is not None:
            report.interrupted.append(stale.describe())
        store.mark_interrupted()
        for name in sources:
            try:
                report.imports.append(import_source(project, store, name, progress=progress))
            except DeskmoveError as exc:
                report.errors.append((name, exc))
        for name in targets:
            try:
                if not dry_run and not store.has_push_work(project.connection(name).name):
                    report.skipped.append(name)
                    continue
                report.pushes.append(
                    export_target(project, store, name, dry_run=dry_run, progress=progress)
                )
            except DeskmoveError as exc:
                report.errors.append((name, exc))
    report.seconds = time.monotonic() - start
    return report
