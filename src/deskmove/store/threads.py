"""Mail threading across runs, inside the batch's transaction.

Every ticket a mail source creates registers its thread keys (Message-IDs it
holds, ids its mails reference, Gmail thread ids, Thread-Index roots, ticket
numbers) as provenance rows of kind ``mail-thread`` pointing at the ticket. A
new batch looks its keys up: a conversation that meets one existing ticket
joins it; one that meets several merges them into the oldest (messages and
provenance move to it, the others are deleted). So a reply imported before its
parent ends in the parent's ticket once the parent arrives, in any order.

Subject keys (``subj:<customer>:<base subject>``) let a header-less reply join
its customer's recent conversation within the time window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import Message, PersonEmail, Provenance, Ticket, utcnow
from deskmove.records import Batch, PersonRef, TicketRec
from deskmove.store import search

KEY_KIND = "mail-thread"
CHUNK = 500
T_PROV = Provenance.__table__
T_TICKET = Ticket.__table__
T_MESSAGE = Message.__table__
T_EMAIL = PersonEmail.__table__


@dataclass
class TicketPlan:
    """One conversation of a batch, with what threading needs to find it in the store."""

    rec: TicketRec
    keys: set[str]
    own_ids: dict[
        str, str
    ]  # Message-ID -> message native id (a different mail with the same id is not us)
    customer: str | None = None
    base_subject: str = ""
    first_marked: bool = False  # the first mail's subject carries Re:/Fwd:/…
    first_headerless: bool = False  # … and it has no threading headers
    merged_into: TicketPlan | None = field(default=None, repr=False)

    @property
    def subject_key(self) -> str | None:
        if not self.base_subject:
            return None
        return f"subj:{self.customer or ''}:{self.base_subject}"


def _chunks(seq: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), CHUNK):
        yield seq[i : i + CHUNK]


class ThreadResolver:
    """``before`` joins a batch's conversations to stored tickets; ``after`` records their keys."""

    def __init__(
        self, connection: str, plans: list[TicketPlan], batch: Batch, *, window: timedelta
    ) -> None:
        self.connection = connection
        self.plans = plans
        self.batch = batch
        self.window = window

    # -- before the records are written -------------------------------------------------
    def before(self, conn: Connection) -> None:
        if not self.plans:
            return
        self._drop_foreign_ids(conn)
        found = self._lookup(conn, KEY_KIND, {k for p in self.plans for k in p.keys})
        subject_hits = self._subject_hits(conn)
        matches: dict[int, set[int]] = {}
        for i, plan in enumerate(self.plans):
            hits = {found[k] for k in plan.keys if k in found}
            if i in subject_hits:
                hits.add(subject_hits[i])
            if hits:
                matches[i] = hits
        if not matches:
            self._merge_message_copies(conn)
            return
        rows = self._tickets(conn, {t for hits in matches.values() for t in hits})
        canon_of: dict[int, int] = {}

        def find(t: int) -> int:
            while t in canon_of:
                t = canon_of[t]
            return t

        plan_canon: dict[int, int] = {}
        for i, hits in matches.items():
            roots = sorted({find(t) for t in hits if t in rows}, key=lambda t: (_ts(rows[t]), t))
            if not roots:
                continue
            if roots[1:]:
                self._merge_tickets(conn, roots[0], roots[1:])
                canon_of.update({o: roots[0] for o in roots[1:]})
            plan_canon[i] = roots[0]
        for i, canon in plan_canon.items():
            self._adopt(conn, self.plans[i], find(canon))
        self._fold_plans()
        self._merge_message_copies(conn)

    def _drop_foreign_ids(self, conn: Connection) -> None:
        """A Message-ID another stored mail already owns (same id, other content) is not a key."""
        mids = sorted({m for p in self.plans for m in p.own_ids})
        if not mids:
            return
        m, p = T_MESSAGE.c, T_PROV.c
        owners: dict[str, set[str]] = {}
        for part in _chunks(mids):
            q = (
                sa.select(m.message_id, p.native_id)
                .join_from(T_MESSAGE, T_PROV, sa.and_(p.entity_id == m.id, p.kind == "message"))
                .where(m.message_id.in_(part), p.connection == self.connection)
            )
            for mid, nid in conn.execute(q):
                owners.setdefault(mid, set()).add(nid)
        for plan in self.plans:
            for mid, nid in plan.own_ids.items():
                if mid in owners and nid not in owners[mid]:
                    plan.keys.discard(mid)

    def _lookup(self, conn: Connection, kind: str, keys: Iterable[str]) -> dict[str, int]:
        p = T_PROV.c
        out: dict[str, int] = {}
        for part in _chunks(sorted(keys)):
            q = sa.select(p.native_id, p.entity_id).where(
                p.connection == self.connection, p.kind == kind, p.native_id.in_(part)
            )
            out.update(dict(conn.execute(q).all()))
        return out

    def _subject_hits(self, conn: Connection) -> dict[int, int]:
        """Header-less conversations whose first subject says Re:/Fwd: find their customer's ticket."""
        probes = {}
        for i, plan in enumerate(self.plans):
            key = plan.subject_key
            if key and plan.first_headerless:
                probes[i] = key if plan.first_marked else "orphan-" + key
        if not probes:
            return {}
        found = self._lookup(conn, KEY_KIND, set(probes.values()))
        if not found:
            return {}
        rows = self._tickets(conn, set(found.values()))
        out = {}
        for i, probe in probes.items():
            tid = found.get(probe)
            row = rows.get(tid) if tid is not None else None
            if row is not None and self._within(self.plans[i].rec, row):
                out[i] = tid
        return out

    def _within(self, rec: TicketRec, row: Any) -> bool:
        start, end = rec.created_at, rec.updated_at or rec.created_at
        lo, hi = row.created_at or row.updated_at, row.updated_at or row.created_at
        if None in (start, end, lo, hi):
            return False
        return start - hi <= self.window and lo - end <= self.window

    def _tickets(self, conn: Connection, ids: set[int]) -> dict[int, Any]:
        t = T_TICKET.c
        out = {}
        for part in _chunks(sorted(ids)):
            for row in conn.execute(sa.select(T_TICKET).where(t.id.in_(part))):
                out[row.id] = row
        return out

    def _merge_tickets(self, conn: Connection, canon: int, others: list[int]) -> None:
        """Move the others' messages and provenance to ``canon``; delete the emptied tickets."""
        rows = self._tickets(conn, {canon, *others})
        conn.execute(
            T_MESSAGE.update().where(T_MESSAGE.c.ticket_id.in_(others)).values(ticket_id=canon)
        )
        p = T_PROV.c
        conn.execute(
            T_PROV.update()
            .where(p.kind.in_(["ticket", KEY_KIND]), p.entity_id.in_(others))
            .values(entity_id=canon, updated_at=utcnow())
        )
        first = min(rows.values(), key=lambda r: (_ts(r), r.id))
        tags = sorted({tag for r in rows.values() for tag in (r.tags or [])})
        values: dict[str, Any] = {
            "created_at": min((r.created_at for r in rows.values() if r.created_at), default=None),
            "updated_at": max((r.updated_at for r in rows.values() if r.updated_at), default=None),
            "subject": first.subject, "requester_id": first.requester_id, "tags": tags,
            "is_auto": all(r.is_auto for r in rows.values()),
        }  # fmt: skip
        conn.execute(T_TICKET.update().where(T_TICKET.c.id == canon).values(**values))
        conn.execute(T_TICKET.delete().where(T_TICKET.c.id.in_(others)))
        search.index_tickets(conn, [canon, *others])  # the emptied ones lose their documents

    def _adopt(self, conn: Connection, plan: TicketPlan, canon: int) -> None:
        """The plan becomes an update of the stored ticket: its native id, the earliest fields."""
        row = self._tickets(conn, {canon})[canon]
        p = T_PROV.c
        native = conn.execute(
            sa.select(p.native_id)
            .where(p.connection == self.connection, p.kind == "ticket", p.entity_id == canon)
            .order_by(p.id)
            .limit(1)
        ).scalar()
        if native is None:
            return  # a ticket another source made: leave it alone
        rec = plan.rec
        rec.native_id = native
        stored_first = row.created_at is not None and (
            rec.created_at is None or row.created_at <= rec.created_at
        )
        if stored_first:
            rec.subject = row.subject
            rec.thread_key = row.thread_key
            rec.channel = row.channel
            rec.requester = self._person_ref(conn, row.requester_id) or rec.requester
            rec.created_at = row.created_at
        if row.updated_at is not None and (
            rec.updated_at is None or row.updated_at > rec.updated_at
        ):
            rec.updated_at = row.updated_at
            rec.status = row.status
        rec.tags = sorted(set(rec.tags) | set(row.tags or []))
        rec.is_auto = rec.is_auto and row.is_auto

    @staticmethod
    def _person_ref(conn: Connection, person_id: int | None) -> PersonRef | None:
        if person_id is None:
            return None
        e = T_EMAIL.c
        email = conn.execute(
            sa.select(e.email)
            .where(e.person_id == person_id)
            .order_by(e.primary.desc(), e.id)
            .limit(1)
        ).scalar()
        return PersonRef(email=email) if email else None

    def _fold_plans(self) -> None:
        """Two conversations of this batch that met the same ticket become one record."""
        by_native: dict[str, TicketPlan] = {}
        keep = []
        for plan in self.plans:
            first = by_native.get(plan.rec.native_id)
            if first is None:
                by_native[plan.rec.native_id] = plan
                keep.append(plan)
                continue
            a, b = first.rec, plan.rec
            a.messages.extend(b.messages)
            a.tags = sorted(set(a.tags) | set(b.tags))
            if b.created_at and a.created_at and b.created_at < a.created_at:
                a.created_at, a.subject, a.requester = b.created_at, b.subject, b.requester
            if b.updated_at and (a.updated_at is None or b.updated_at > a.updated_at):
                a.updated_at, a.status = b.updated_at, b.status
            a.is_auto = a.is_auto and b.is_auto
            first.keys |= plan.keys
            plan.merged_into = first
        self.plans[:] = keep
        self.batch.tickets[:] = [p.rec for p in keep]

    def _merge_message_copies(self, conn: Connection) -> None:
        """A mail stored before (maybe from another folder) keeps its first raw copy; headers merge."""
        from deskmove.mail.batcher import merge_headers

        recs = {m.native_id: m for p in self.plans for m in p.rec.messages}
        known = self._lookup(conn, "message", recs)
        if not known:
            return
        m = T_MESSAGE.c
        ids = list(known.values())
        stored = {}
        for part in _chunks(ids):
            for row in conn.execute(sa.select(m.id, m.raw_sha256, m.headers).where(m.id.in_(part))):
                stored[row.id] = row
        for nid, eid in known.items():
            row, rec = stored.get(eid), recs[nid]
            if row is None:
                continue
            merged = dict(row.headers or {})
            merge_headers(merged, rec.headers)
            rec.headers = merged
            rec.raw_sha256 = row.raw_sha256 or rec.raw_sha256

    # -- after the records are written --------------------------------------------------
    def after(self, conn: Connection) -> None:
        ticket_ids = self._lookup(conn, "ticket", {p.rec.native_id for p in self.plans})
        wanted: dict[str, int] = {}
        subject_keys: dict[str, int] = {}
        for plan in self.plans:
            tid = ticket_ids.get(plan.rec.native_id)
            if tid is None:
                continue
            for key in plan.keys:
                wanted.setdefault(key, tid)
            if plan.subject_key:
                subject_keys[plan.subject_key] = tid
                if plan.first_marked and plan.first_headerless:
                    subject_keys["orphan-" + plan.subject_key] = tid
        have = self._lookup(conn, KEY_KIND, [*wanted, *subject_keys])
        now = utcnow()
        rows = [
            {"connection": self.connection, "kind": KEY_KIND, "native_id": k, "entity_id": tid,
             "content_hash": None, "updated_at": now}
            for k, tid in {**wanted, **subject_keys}.items()
            if k not in have
        ]  # fmt: skip
        if rows:
            conn.execute(T_PROV.insert(), rows)
        p = T_PROV.c
        moved = [
            {"k": k, "t": tid} for k, tid in subject_keys.items() if k in have and have[k] != tid
        ]
        if moved:  # a subject key points at the customer's latest conversation with that subject
            conn.execute(
                T_PROV.update()
                .where(p.connection == self.connection, p.kind == KEY_KIND, p.native_id == sa.bindparam("k"))
                .values(entity_id=sa.bindparam("t"), updated_at=now),
                moved,
            )  # fmt: skip


def _ts(row: Any) -> datetime:
    return row.created_at or datetime.max.replace(tzinfo=UTC)
