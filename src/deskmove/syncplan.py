"""The [sync] plan and what `status` says about runs: light (no store, no SQLAlchemy).

`deskmove status` and an idle `deskmove sync` read these before deciding whether
the full machinery is needed at all.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from deskmove.config import Project

if TYPE_CHECKING:
    from deskmove.syncreport import SyncReport


def sync_plan(project: Project, names: list[str] | None = None) -> tuple[list[str], list[str]]:
    """The [sync] sources and targets, limited to ``names`` when given."""
    from deskmove.errors import ConfigError, UsageError

    plan = project.section("sync")
    sources, targets = list(plan.get("sources", [])), list(plan.get("targets", []))
    if not sources and not targets:
        raise ConfigError(
            "deskmove.toml has no [sync] plan",
            'add [sync] with sources = ["old-inbox"] and targets = ["new-desk"]',
        )
    for name in sources + targets:
        project.connection(name)  # a clear error for a name with no [connections.NAME]
    if names:
        unknown = [n for n in names if n not in sources + targets]
        if unknown:
            raise UsageError(
                f"'{unknown[0]}' is not in the [sync] plan",
                f"sources: {', '.join(sources) or '-'}; targets: {', '.join(targets) or '-'}",
            )
        sources = [s for s in sources if s in names]
        targets = [t for t in targets if t in names]
    return sources, targets


def sync_targets(project: Project) -> list[str]:
    """The [sync] targets, by connection name (empty without a plan)."""
    targets = project.section("sync").get("targets", [])
    return [str(t) for t in targets] if isinstance(targets, list) else []


def settle_running(project: Project, store_url: str, info: dict[str, Any]) -> dict[str, Any]:
    """Runs the store calls "running" while no process holds the lock were cut short.

    A run killed, or one that could not even record its end (a full disk), stays
    "running" in the store until the next run marks it; the lock says the truth.
    """
    from deskmove.lock import running_now

    if running_now(project.root, store_url):
        return info

    def fix(run: Any) -> None:
        if isinstance(run, dict) and run.get("status") == "running":
            run["status"] = "interrupted"

    for run in info.get("runs") or []:
        fix(run)
    for c in (info.get("cutover") or {}).get("connections", {}).values():
        fix(c.get("last_run"))
    return info


def idle_sync(project: Project, names: list[str] | None = None) -> SyncReport | None:
    """A `deskmove sync` that is certain to find nothing to do, without the store's
    machinery (SQLAlchemy, the models): what :func:`deskmove.sync.sync_all` answers and
    writes then (one finished "import" run per source, every target "up to date"), or
    None, and the caller takes that full path, unchanged.

    Taken only on a SQLite store at the newest migration (``store/quick.py``), with the
    project lock free and no killed run's holder in it, no run left "running", every
    source's own check passed and its :meth:`~deskmove.sources.base.Source.nothing_new`
    sure of itself, and no target with anything to push. A killed run leaves no row,
    or every row whole, in the one transaction that writes them.
    """
    from datetime import UTC, datetime

    from deskmove.errors import DeskmoveError
    from deskmove.lock import clean_lock
    from deskmove.registry import source_for, target_for
    from deskmove.sources.base import Source
    from deskmove.store import quick
    from deskmove.syncreport import ImportReport, ReadNothing, SyncReport

    start = time.monotonic()
    if quick.sqlite_path(project.store_url) is None:
        return None
    try:
        sources, targets = sync_plan(project, names)
        made = [source_for(project.connection(name), project) for name in sources]
        if any(type(src).nothing_new is Source.nothing_new for src in made):
            return None  # a source with no cheap probe (IMAP, REST, CSV …): nothing else tried
        for name in targets:  # as sync_all: check_target(remote=False)
            target_for(project.connection(name), project).check_config()
        with clean_lock(project.root, project.store_url, "sync") as locked:
            if not locked:
                return None
            done: list[ImportReport] | None = None
            with quick.idle_sync(project.store_url) as db:
                if db is None or db.any_running():
                    return None
                found = []
                for name, src in zip(sources, made, strict=True):
                    conn = project.connection(name)
                    src.check()
                    started = datetime.now(UTC)
                    if not src.nothing_new(db.get_state(conn.name)):
                        return None
                    found.append((conn.name, src, started, datetime.now(UTC)))
                for name in targets:
                    if db.has_push_work(project.connection(name).name):
                        return None
                reports = []
                for connection, src, started, finished in found:
                    report = ImportReport(connection, src.item_kinds, ReadNothing(), src.notes)

                    def counts(run_id: int, report: ImportReport = report) -> dict[str, Any]:
                        report.run_id = run_id
                        return report.as_dict()

                    db.add_run("import", connection, started, finished, "done", counts)
                    reports.append(report)
                db.commit()
                done = reports
    except DeskmoveError:
        return None  # the full path meets it again, in its own order, and reports it
    if done is None:
        return None
    return SyncReport(imports=done, skipped=targets, seconds=time.monotonic() - start)
