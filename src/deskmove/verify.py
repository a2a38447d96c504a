"""`deskmove verify TARGET`: reconcile the store with what the target holds, ticket by ticket.

Every ticket in the store is put in one of four buckets:

- **migrated**: in the target, with the same messages (count, authors, timestamps,
  public/internal, attachment hashes where the target exposes them);
- **changed**: in the target, but something differs (each difference is listed);
- **missing**: never pushed, or gone from the target;
- **failed**: the last push of it failed or was interrupted, or the target could
  not be read for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deskmove.config import Project
from deskmove.errors import DeskmoveError
from deskmove.registry import target_for
from deskmove.store import Store
from deskmove.targets.base import RemoteTicket

BUCKETS = ("migrated", "changed", "missing", "failed")
TIME_SLACK = 1.0  # seconds: targets keep whole seconds


@dataclass
class TicketCheck:
    ticket_id: int
    native_id: str | None
    status: str
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VerifyReport:
    target: str
    checks: list[TicketCheck] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(c.status for c in self.checks)

    @property
    def ok(self) -> bool:
        return all(c.status == "migrated" for c in self.checks)

    def summary(self) -> str:
        n = self.counts
        return f"{self.target}: " + ", ".join(f"{n[b]} {b}" for b in BUCKETS)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "counts": {b: self.counts[b] for b in BUCKETS},
            "tickets": [c.as_dict() for c in self.checks],
        }


@dataclass
class StoredMessage:
    id: int
    author_email: str | None
    author_id: int | None
    created_at: datetime | None
    public: bool
    attachments: list[str]
    appended: bool = False  # pushed onto the ticket later: the target dates it when it arrived
    sent_from: str | None = None  # the address it came from, when the store kept it


def verify_target(
    project: Project,
    store: Store,
    target: str,
    *,
    ticket_ids: list[int] | None = None,
    pushed_only: bool = False,
) -> VerifyReport:
    """Compare every store ticket (or ``ticket_ids``; with ``pushed_only``, those deskmove
    pushed to the target, e.g. a ``--sample``) with the target's copy."""
    conn = project.connection(target)
    tgt = target_for(conn, project)
    tgt.require("verify")
    tgt.check()
    report = VerifyReport(conn.name)
    tickets = store.id_map(conn.name, "ticket")
    if pushed_only:
        pushed = sorted(tickets)
        ticket_ids = pushed if ticket_ids is None else sorted(set(ticket_ids) & set(pushed))
    people = store.id_map(conn.name, "person")
    appended = store.appended_messages(conn.name)
    for tid, rows, files in store.verify_tickets(ticket_ids):
        messages = [
            StoredMessage(
                r.id,
                r.email,
                r.author_id,
                r.created_at,
                r.public,
                files.get(r.id, []),
                appended=r.id in appended,
                sent_from=r.sent_from,
            )
            for r in rows
        ]
        hit = tickets.get(tid)
        if hit is None:
            report.checks.append(TicketCheck(tid, None, "missing", ["never pushed"]))
            continue
        native, _h, state = hit
        if state != "done" or native is None:
            why = "the last push of it failed" if state == "failed" else "its push was interrupted"
            report.checks.append(TicketCheck(tid, native, "failed", [f"{why}; run sync again"]))
            continue
        try:
            remote = tgt.fetch_ticket(native)
        except DeskmoveError as exc:
            report.checks.append(TicketCheck(tid, native, "failed", [f"cannot read it: {exc}"]))
            continue
        if remote is None:
            report.checks.append(TicketCheck(tid, native, "missing", ["gone from the target"]))
            continue
        problems = compare(messages, remote, people)
        report.checks.append(
            TicketCheck(tid, native, "changed" if problems else "migrated", problems)
        )
    return report


def compare(
    stored: list[StoredMessage],
    remote: RemoteTicket,
    people: dict[int, tuple[str | None, str | None, str]],
) -> list[str]:
    """The differences between the store's messages and the target's, in words."""
    if len(stored) != len(remote.messages):
        return [f"the store has {len(stored)} messages, the target {len(remote.messages)}"]
    ours = sorted(stored, key=lambda m: (_epoch(m.created_at), m.id))
    theirs = sorted(remote.messages, key=lambda m: _epoch(m.created_at))
    problems = []
    for n, (a, b) in enumerate(zip(ours, theirs, strict=True), 1):
        drift = (
            _epoch(b.created_at) - _epoch(a.created_at) if a.created_at and b.created_at else 0.0
        )
        if a.created_at and (
            b.created_at is None or (drift < -TIME_SLACK if a.appended else abs(drift) > TIME_SLACK)
        ):
            problems.append(
                f"message {n}: written {a.created_at.isoformat()}, target says {b.created_at}"
            )
        if a.public != b.public:
            problems.append(
                f"message {n}: {'public' if a.public else 'internal'} in the store, not in the target"
            )
        expected = _expected_authors(a, people, b.author)
        if expected and b.author is not None and b.author.lower() not in expected:
            problems.append(
                f"message {n}: author {a.author_email or a.author_id}, target says {b.author}"
            )
        if b.attachment_sha256 and sorted(a.attachments) != sorted(b.attachment_sha256):
            problems.append(
                f"message {n}: attachments differ ({len(a.attachments)} in the store, {len(b.attachment_sha256)} in the target)"
            )
    return problems


def _expected_authors(
    m: StoredMessage, people: dict[int, tuple[str | None, str | None, str]], remote: str | None
) -> set[str]:
    """How the target may name the author: by an address (the one the message came from,
    or the person's main one), or by its id of the pushed person. Empty: anything goes."""
    if remote is not None and "@" in remote:
        return {a.lower() for a in (m.sent_from, m.author_email) if a}
    if (
        m.author_id is not None
        and m.author_id in people
        and people[m.author_id][2] in ("done", "matched")
    ):
        return {people[m.author_id][0].lower()} if people[m.author_id][0] else set()
    return set()  # the author was never pushed: the target signs it with its own user


def _epoch(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0
