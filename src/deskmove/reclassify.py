"""``deskmove reclassify``: re-derive directions and people from the raw mail kept in the store.

The support addresses decide which mails are agent replies. When they were
wrong or empty at import time (``init`` writes them empty), setting them
afterwards changes nothing by itself, because a re-import reads nothing new.
This reads every mail message's raw original back from the blob store (the
source is not needed), parses it again with today's parser and settings, and
updates in place:

- each message's direction, author and auto-generated flag, and its
  threading headers (Message-ID, In-Reply-To, References);
- each person's role (agent when an address is a support address; a person
  known only from mail who is no longer one becomes a customer again);
- each ticket's requester, open/pending status, auto-generated flag and auto
  tags, and the thread keys later imports use to find it.

Messages stay in their tickets, ticket ids and the id map do not change, and
provenance keeps its run ids, so a delta push does not send anything twice.
What a target already holds and now differs is listed in the report (pushed
messages whose author or direction changed, pushed tickets whose requester
changed) for someone to correct there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deskmove.blobs import HashSink
from deskmove.lock import locked
from deskmove.mail.batcher import MailBatcher, RawMail, is_form_sender
from deskmove.mail.parse import MailParseError, ParsedMail, parse_mail
from deskmove.mail.resolve import conversation_keys, headerless, subject_keys
from deskmove.mail.subjects import strip_prefixes
from deskmove.mail.threading import ThreadItem
from deskmove.store import reclassify as q

if TYPE_CHECKING:
    from deskmove.config import Project
    from deskmove.store import Store, Transaction

AUTO_TAGS = {"bounce", "auto-reply", "bulk"}
TICKETS_PER_BATCH = 200
MAIL_SCHEMES = {"mbox", "maildir", "eml", "imap", "imaps"}


@dataclass
class ReclassifyReport:
    dry_run: bool = False
    tickets: int = 0
    messages: int = 0
    directions: int = 0
    authors: int = 0
    requesters: int = 0
    roles: int = 0
    flags: int = 0
    statuses: int = 0
    thread_keys: int = 0
    unreadable: list[str] = field(default_factory=list)
    pushed: list[dict[str, Any]] = field(default_factory=list)  # what a target holds that changed

    @property
    def changed(self) -> int:
        return self.directions + self.authors + self.requesters + self.roles + self.flags

    def summary(self) -> str:
        verb = "would change" if self.dry_run else "changed"
        head = f"reclassify: {self.messages} mail messages in {self.tickets} tickets read again"
        if not self.changed and not self.thread_keys and not self.statuses:
            return f"{head}; nothing {verb[:-1] + 's' if self.dry_run else 'changed'}"
        parts = [
            f"{self.directions} directions",
            f"{self.authors} authors",
            f"{self.requesters} requesters",
            f"{self.roles} people's roles",
            f"{self.flags} auto flags",
            f"{self.statuses} ticket statuses",
            f"{self.thread_keys} tickets' thread keys",
        ]
        return f"{head}; {verb} " + ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "tickets": self.tickets,
            "messages": self.messages,
            "changed": {
                "directions": self.directions,
                "authors": self.authors,
                "requesters": self.requesters,
                "roles": self.roles,
                "flags": self.flags,
                "statuses": self.statuses,
                "thread_keys": self.thread_keys,
            },
            "unreadable": self.unreadable,
            "pushed": self.pushed,
        }


@dataclass
class _Derived:
    stored: q.StoredMessage
    parsed: ParsedMail
    direction: str
    author: str | None  # address
    customer: str | None
    web_form: bool


def reclassify(project: Project, store: Store, *, dry_run: bool = False) -> ReclassifyReport:
    """Re-derive direction, people, requester, flags and thread keys; ``dry_run`` writes nothing."""
    report = ReclassifyReport(dry_run=dry_run)
    with locked(project, store, "reclassify"):
        ids = q.mail_ticket_ids(store)
        for start in range(0, len(ids), TICKETS_PER_BATCH):
            chunk = ids[start : start + TICKETS_PER_BATCH]
            try:
                with store.begin() as conn:
                    _Pass(project, store, conn, report).run(chunk)
                    if dry_run:
                        raise _RollBack
            except _RollBack:
                pass
    return report


class _RollBack(Exception):
    """Leaves a dry run's transaction without writing it."""


class _Pass:
    """One batch of tickets: read, derive, compare, write (in the caller's transaction)."""

    def __init__(self, project: Project, store: Store, conn: Transaction, report: ReclassifyReport):
        self.store, self.conn, self.report = store, conn, report
        self.batchers: dict[str, MailBatcher] = {}
        self.project = project
        self.now = datetime.now(UTC)

    def batcher(self, connection: str) -> MailBatcher:
        if connection not in self.batchers:
            self.batchers[connection] = MailBatcher(self.project, self.store, connection)
        return self.batchers[connection]

    def run(self, ticket_ids: list[int]) -> None:
        stored = q.messages_of(self.conn, ticket_ids)
        derived = list(self._derive(stored))
        self.report.messages += len(derived)
        by_ticket: dict[int, list[_Derived]] = {}
        for d in derived:
            by_ticket.setdefault(d.stored.ticket_id, []).append(d)
        self.report.tickets += len(by_ticket)
        people = self._people(derived)
        self._messages(derived, people)
        self._tickets(by_ticket, people)
        self._keys(by_ticket)

    # -- reading ----------------------------------------------------------------------------
    def _derive(self, stored: list[q.StoredMessage]) -> Iterator[_Derived]:
        for s in stored:
            try:
                raw = self.store.blobs.get(s.raw_sha256)
                # the blobs are in the store already: the parse only needs their hashes
                parsed = parse_mail(raw, HashSink(), fallback_date=s.created_at, now=self.now)
            except (OSError, MailParseError, ValueError) as exc:
                self.report.unreadable.append(f"message {s.id}: {exc}")
                continue
            batcher = self.batcher(s.connection)
            folder = s.headers.get("folder") if isinstance(s.headers, dict) else None
            mail = batcher.classify(RawMail(raw, s.native_id, folder=folder), parsed)
            author = mail.rec.author.email if mail.rec.author else None
            yield _Derived(s, parsed, mail.rec.direction, author, mail.customer, mail.web_form)

    # -- people -------------------------------------------------------------------------------
    def _people(self, derived: list[_Derived]) -> dict[str, int]:
        """Every address these mails name -> person id; roles follow the support addresses."""
        names: dict[str, tuple[str | None, str]] = {}  # address -> (name, connection)
        for d in derived:
            p = d.parsed
            for name, addr in ([p.sender] if p.sender else []) + p.reply_to + p.to + p.cc:
                if addr not in names or (name and not names[addr][0]):
                    names[addr] = (name or None, d.stored.connection)
        known = q.people_by_email(self.conn, names)
        support = self.batcher(derived[0].stored.connection).is_support if derived else None
        fresh: dict[str, list[tuple[str, str | None, str]]] = {}
        for addr, (name, connection) in names.items():
            if addr in known or (is_form_sender(addr) and not (support and support(addr))):
                continue
            role = "agent" if support and support(addr) else "customer"
            fresh.setdefault(connection, []).append((addr, name, role))
        ids = {addr: pid for addr, (pid, _role) in known.items()}
        for connection, rows in fresh.items():  # a dry run rolls them back with the rest
            ids.update(q.add_people(self.conn, connection, rows))
        if support is not None:
            self._roles(known, support)
        return ids

    def _roles(self, known: dict[str, tuple[int, str]], support: Any) -> None:
        wanted: dict[int, str] = {}
        for addr, (pid, role) in known.items():
            if support(addr):
                wanted[pid] = "agent"
            elif role == "agent":
                wanted.setdefault(pid, "customer")
        demote = {pid for pid, role in wanted.items() if role == "customer"}
        mail_only = q.mail_only_people(self.conn, demote) if demote else set()
        roles = {addr_role[0]: addr_role[1] for addr_role in known.values()}
        changes = {
            pid: role
            for pid, role in wanted.items()
            if roles.get(pid) != role and (role == "agent" or pid in mail_only)
        }
        if changes:
            q.set_roles(self.conn, changes)
            self.report.roles += len(changes)
            for pid, targets in q.pushed(self.conn, "person", changes).items():
                for target, native in targets:
                    self._pushed(target, "person", pid, native, f"role is now {changes[pid]}")

    # -- messages -----------------------------------------------------------------------------
    def _messages(self, derived: list[_Derived], people: dict[str, int]) -> None:
        emails = q.emails_of(self.conn, [d.stored.author_id for d in derived if d.stored.author_id])
        rows, what = [], {}
        for d in derived:
            s, p = d.stored, d.parsed
            author_id = people.get(d.author) if d.author else None
            new = {
                "direction": d.direction,
                "author_id": author_id,
                "is_auto": p.auto is not None,
                "message_id": p.message_id,
                "in_reply_to": p.in_reply_to,
                "references": p.references,
            }
            old = {
                "direction": s.direction,
                "author_id": s.author_id,
                "is_auto": s.is_auto,
                "message_id": s.message_id,
                "in_reply_to": s.in_reply_to,
                "references": s.references,
            }
            diff = {k: v for k, v in new.items() if old[k] != v}
            if not diff:
                continue
            rows.append({"_id": s.id, **diff})
            self.report.directions += "direction" in diff
            self.report.authors += "author_id" in diff
            self.report.flags += "is_auto" in diff
            notes = []
            if "author_id" in diff:
                notes.append(
                    f"author {emails.get(s.author_id or -1, 'nobody')} -> {d.author or 'nobody'}"
                )
            if "direction" in diff:
                notes.append(f"direction {s.direction} -> {d.direction}")
            if notes:
                what[s.id] = "; ".join(notes)
        if rows:
            q.update_messages(self.conn, rows)
        for mid, targets in q.pushed(self.conn, "message", what).items():
            for target, native in targets:
                self._pushed(target, "message", mid, native, what[mid])

    # -- tickets -------------------------------------------------------------------------------
    def _tickets(self, by_ticket: dict[int, list[_Derived]], people: dict[str, int]) -> None:
        stored = q.tickets_of(self.conn, by_ticket)
        emails = q.emails_of(self.conn, [t.requester_id for t in stored.values() if t.requester_id])
        rows, what = [], {}
        for tid, members in by_ticket.items():
            t = stored[tid]
            inbound = [m for m in members if m.direction == "inbound"]
            requester = (inbound[0].author if inbound else None) or members[0].customer
            tags = sorted(
                {
                    *(set(t.tags or []) - AUTO_TAGS),
                    *(m.parsed.auto for m in members if m.parsed.auto),
                }
            )
            new: dict[str, Any] = {
                "requester_id": people.get(requester) if requester else None,
                "is_auto": all(m.parsed.auto for m in members),
                "tags": tags,
            }
            if t.status in ("open", "pending"):  # a status someone set by hand stays
                new["status"] = "pending" if members[-1].direction == "outbound" else "open"
            diff = {k: v for k, v in new.items() if getattr(t, k) != v}
            if not diff:
                continue
            rows.append({"_id": tid, **diff})
            self.report.requesters += "requester_id" in diff
            self.report.flags += "is_auto" in diff
            self.report.statuses += "status" in diff
            notes = []
            if "requester_id" in diff:
                old = emails.get(t.requester_id or -1, "nobody")
                notes.append(f"requester {old} -> {requester or 'nobody'}")
            if "status" in diff:
                notes.append(f"status {t.status} -> {diff['status']}")
            if notes:
                what[tid] = "; ".join(notes)
        if rows:
            q.update_tickets(self.conn, rows)
        for tid, targets in q.pushed(self.conn, "ticket", what).items():
            for target, native in targets:
                self._pushed(target, "ticket", tid, native, what[tid])

    def _keys(self, by_ticket: dict[int, list[_Derived]]) -> None:
        """The keys later imports thread by: ids, parents, secondary keys, the subject key."""
        by_conn: dict[str, list[int]] = {}
        for tid, members in by_ticket.items():
            by_conn.setdefault(members[0].stored.connection, []).append(tid)
        for connection, tids in by_conn.items():
            have = q.thread_keys(self.conn, connection, tids)
            batcher = self.batcher(connection)
            for tid in tids:
                members = by_ticket[tid]
                items = [_item(d) for d in members]
                keys = conversation_keys(items)
                first = members[0]
                base, marked = strip_prefixes(first.parsed.subject, batcher.prefixes)
                subject = set(
                    subject_keys(
                        first.customer,
                        base.casefold(),
                        first_marked=marked,
                        first_headerless=headerless(items[0]),
                    )
                )
                old = have.get(tid, set())
                stale = {k for k in old if k.startswith(q.SUBJECT_PREFIXES)} - subject
                missing = (keys | subject) - old
                if stale or missing:
                    q.set_thread_keys(self.conn, connection, tid, missing | (subject - old), stale)
                    self.report.thread_keys += 1

    def _pushed(self, target: str, kind: str, eid: int, native: str, what: str) -> None:
        self.report.pushed.append(
            {"target": target, "kind": kind, "id": eid, "native_id": native, "change": what}
        )


def _item(d: _Derived) -> ThreadItem:
    p = d.parsed
    return ThreadItem(
        id=d.stored.native_id,
        message_id=p.message_id,
        in_reply_to=p.in_reply_to,
        references=p.references,
        subject=p.subject,
        date=p.date,
        customer=d.customer,
        keys=p.secondary_keys,
    )


def support_hint(project: Project, store: Store, connection: str) -> str | None:
    """After a mail import with no support address set: the likely support addresses, in one line."""
    if project.support_addresses or project.support_domains:
        return None
    total, top = q.top_recipients(store, connection)
    if not total or not top:
        return None
    top = [(addr, n) for addr, n in top if 2 * n >= top[0][1]]  # not the customers replied to
    named = ", ".join(f"{addr} ({n} of {total} mails)" for addr, n in top)
    return (
        f"no support address is set, so every mail was read as a customer's and nobody is an "
        f"agent; the addresses that received most mail are {named} — put yours in [mail] "
        f"support_addresses in deskmove.toml, then run `deskmove reclassify`"
    )
