"""The audit's building blocks: evidence tallies, checklist items and the report."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_EXAMPLES = 3
NOT_SEEN = "not seen in the data — verify by hand"

# The checklist's sections, always present, in the order they are shown.
SECTIONS: dict[str, str] = {
    "emails": "Email addresses the team receives on",
    "forms": "Website contact forms",
    "phones": "Phone numbers",
    "listings": "Forums, communities and external listings",
    "chat-social": "Chat and social channels",
    "integrations": "Integrations and plugins",
}


_MONTHS: dict[int, str] = {}  # year * 12 + month -> "YYYY-MM" (a few hundred at most)


def month_of(when: datetime) -> str:
    """``2024-03`` for a date in March 2024 (formatted once per month: evidence is counted
    per message)."""
    key = when.year * 12 + when.month
    text = _MONTHS.get(key)
    if text is None:
        text = _MONTHS[key] = f"{when.year:04d}-{when.month:02d}"
    return text


@dataclass
class Evidence:
    """What the data shows for one channel: volume, dates, examples and stable facts.

    ``facts`` are the qualitative findings (which address reaches which, which
    header showed it, …); their hash tells a re-run whether a ticked item's
    evidence changed. Volume alone growing does not count as a change.
    """

    count: int = 0
    months: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None
    examples: list[str] = field(default_factory=list)
    facts: set[str] = field(default_factory=set)

    def add(
        self, when: datetime | None, example: str | Callable[[], str] | None = None, n: int = 1
    ) -> None:
        """Count a sighting; ``example`` may be a function, called only while examples are wanted."""
        self.count += n
        if when is not None:
            self.months[month_of(when)] += n
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when
        if example is not None and len(self.examples) < MAX_EXAMPLES:
            text = example() if callable(example) else example
            if text and text not in self.examples:
                self.examples.append(text)

    def merge(self, other: Evidence) -> None:
        self.count += other.count
        self.months.update(other.months)
        for when in (other.first, other.last):
            if when is not None:
                self.first = when if self.first is None or when < self.first else self.first
                self.last = when if self.last is None or when > self.last else self.last
        for ex in other.examples:
            if len(self.examples) < MAX_EXAMPLES and ex not in self.examples:
                self.examples.append(ex)

    @property
    def seen(self) -> bool:
        return self.count > 0

    @property
    def per_month(self) -> float:
        """Average volume per month over the months between first and last seen."""
        if not self.first or not self.last:
            return float(self.count)
        span = (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1
        return self.count / span

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "per_month": round(self.per_month, 1),
            "months": dict(sorted(self.months.items())),
            "first_seen": _iso(self.first),
            "last_seen": _iso(self.last),
            "examples": self.examples,
            "facts": sorted(self.facts),
        }


@dataclass
class Item:
    """One checklist line: a channel found in the data, or a whole section."""

    id: str
    section: str
    title: str
    evidence: Evidence = field(default_factory=Evidence)
    needs: str | None = None  # what it will need in the new helpdesk
    checked: bool = False
    note: str | None = None
    changed: bool = False  # ticked, and its evidence changed since

    def evidence_hash(self) -> str:
        payload = json.dumps([self.id, self.title, sorted(self.evidence.facts)], ensure_ascii=False)
        return hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()

    @property
    def status(self) -> str:
        if self.changed:
            return "changed"
        return "checked" if self.checked else "open"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section,
            "title": self.title,
            "seen": self.evidence.seen,
            "evidence": self.evidence.as_dict() if self.evidence.seen else NOT_SEEN,
            "needs": self.needs,
            "checked": self.checked,
            "note": self.note,
            "evidence_changed": self.changed,
            "evidence_hash": self.evidence_hash(),
        }


@dataclass
class Report:
    """The whole audit: the checklist (sections with their items) and the plan."""

    project: str
    generated_at: datetime
    sections: dict[str, Item]  # section id -> the section's own item
    items: list[Item]  # channels found, each under a section
    extras: dict[str, Any]  # per-section extra findings (e.g. customers' own numbers)
    plan: dict[str, Any]

    def all_items(self) -> list[Item]:
        return list(self.sections.values()) + self.items

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.all_items() if i.id == item_id), None)

    def in_section(self, section: str) -> list[Item]:
        return [i for i in self.items if i.section == section]

    def counts(self) -> dict[str, int]:
        every = self.all_items()
        return {
            "items": len(every),
            "checked": sum(i.checked for i in every),
            "changed": sum(i.changed for i in every),
            "not_seen": sum(not s.evidence.seen for s in self.sections.values()),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "generated_at": _iso(self.generated_at),
            "summary": self.counts(),
            "checklist": [
                {
                    **self.sections[s].as_dict(),
                    "items": [i.as_dict() for i in self.in_section(s)],
                    "extra": self.extras.get(s, {}),
                }
                for s in SECTIONS
            ],
            "orphaned_checks": self.extras.get("orphans", []),
            "plan": self.plan,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
