"""What a `deskmove sync` reports: each source's import, each target's push (light: no
store, no SQLAlchemy, so an idle `sync` can report without loading them)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deskmove.errors import DeskmoveError
    from deskmove.store import IngestCounts
    from deskmove.targets.base import PushReport


@dataclass
class ReadNothing:
    """The counts of an import that read nothing, as an empty :class:`IngestCounts`
    gives them (``tests/test_quick_sync.py`` holds the two side by side)."""

    new: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0
    read: int = 0
    nul_stripped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"read": 0, "quarantined": 0, "kinds": {}}


@dataclass
class ImportReport:
    connection: str
    item_kinds: tuple[str, ...]
    counts: IngestCounts | ReadNothing
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
            "connection": self.connection,
            "run_id": self.run_id,
            "read": self.read,
            "imported": self.imported,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
            "by_kind": self.counts.as_dict()["kinds"],
            "notes": self.notes,
        }


@dataclass
class SyncReport:
    """One `deskmove sync`: each source's import, then each target's push."""

    imports: list[ImportReport] = field(default_factory=list)
    pushes: list[tuple[str, PushReport]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # targets with nothing to push
    errors: list[tuple[str, DeskmoveError]] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)  # what a killed run left behind
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def quarantined(self) -> int:
        return sum(r.quarantined for r in self.imports)

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(sum(p.failed.values()) for _n, p in self.pushes)

    def summary(self) -> str:
        parts = [
            f"{r.connection} +{r.new} new, {r.changed} changed"
            + (f", {r.quarantined} quarantined" if r.quarantined else "")
            for r in self.imports
        ]
        parts += [_push_line(n, p) for n, p in self.pushes]
        parts += [f"{n}: up to date" for n in self.skipped]
        parts += [f"{n}: FAILED ({e.message})" for n, e in self.errors]
        head = "sync (dry run)" if self.dry_run else "sync"
        return f"{head}: {'; '.join(parts)} ({self.seconds:.1f} s)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "imports": [r.as_dict() for r in self.imports],
            "pushes": [{"target": n, **p.as_dict()} for n, p in self.pushes],
            "up_to_date": self.skipped,
            "errors": [
                {"connection": n, "error": str(e), "exit_code": e.exit_code} for n, e in self.errors
            ],
            "recovered_from": self.interrupted,
        }


def _push_line(name: str, report: PushReport) -> str:
    """``new-desk: pushed 2 tickets, 3 messages created, 1 updated, 0 failed``"""
    created = ", ".join(f"{n} {k}s" for k, n in sorted(report.created.items()) if n) or "nothing"
    verb = "would push" if report.dry_run else "pushed"
    return (
        f"{name}: {verb} {created} created, {sum(report.updated.values())} updated, "
        f"{sum(report.failed.values())} failed"
    )
