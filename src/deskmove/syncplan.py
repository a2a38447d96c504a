"""The [sync] plan and what `status` says about runs: light (no store, no SQLAlchemy).

`deskmove status` and an idle `deskmove sync` read these before deciding whether
the full machinery is needed at all.
"""

from __future__ import annotations

from typing import Any

from deskmove.config import Project


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
