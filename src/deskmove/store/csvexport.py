"""What the ``csv:`` target reads from the store, and its id-map bookkeeping.

The rows stream in the layout's order from a read connection while the id map
is written on a second one, in a transaction the target commits only after
the new folder is in place (:meth:`deskmove.store.Store.csv_export`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from deskmove.model import (
    Attachment,
    Group,
    IdMap,
    Message,
    Organization,
    Person,
    PersonEmail,
    Provenance,
    Ticket,
    utcnow,
)
from deskmove.store.people import PRIMARY_FIRST, primary_email

TICKETS, MESSAGES, ATTACHMENTS = Ticket.__table__, Message.__table__, Attachment.__table__
PEOPLE, EMAILS = Person.__table__, PersonEmail.__table__
ORGS, GROUPS = Organization.__table__, Group.__table__
PROVENANCE, IDMAP = Provenance.__table__, IdMap.__table__
CHUNK = 1000


def _provenance(kind: str, entity_id: Any, column: Any) -> Any:
    p = PROVENANCE.c
    query = sa.select(column).where(p.kind == kind, p.entity_id == entity_id)
    return query.order_by(p.id).limit(1).scalar_subquery()


def _count(table: sa.Table, fk: Any, parent: Any) -> Any:
    return sa.select(sa.func.count()).select_from(table).where(fk == parent).scalar_subquery()


class CsvExport:
    """One export: the store's rows for the four files, and the id map they are counted in."""

    def __init__(self, read: sa.Connection, write: sa.Connection, target: str, run_id: int) -> None:
        self._read, self._write = read, write
        self.target, self.run_id = target, run_id

    def _stream(self, query: Any) -> Iterator[Any]:
        options = {"stream_results": True, "yield_per": CHUNK}
        yield from self._read.execution_options(**options).execute(query)

    # -- rows ---------------------------------------------------------------------------
    def people(self, only: list[int] | None = None) -> Iterator[tuple[Any, list[str]]]:
        """``(person row, addresses primary first)`` in id order (people with an address)."""
        p, e = PEOPLE.c, EMAILS.c
        query = (
            sa.select(p.id, p.name, p.role, p.phone, ORGS.c.name.label("org"), e.email)
            .select_from(
                PEOPLE.join(EMAILS, e.person_id == p.id).outerjoin(
                    ORGS, ORGS.c.id == p.organization_id
                )
            )
            .order_by(p.id, *PRIMARY_FIRST)
        )
        if only is not None:
            query = query.where(p.id.in_(only))
        first, emails = None, []
        for row in self._stream(query):
            if first is not None and row.id != first.id:
                yield first, emails
                emails = []
            if not emails:
                first = row
            emails.append(row.email)
        if first is not None:
            yield first, emails

    def tickets(self, only: list[int] | None = None) -> Iterator[Any]:
        """Every ticket with requester/assignee addresses, group, organization, message count
        and where it came from (``pconn``, ``pnid``), in id order."""
        t = TICKETS.c
        query = (
            sa.select(
                TICKETS,
                primary_email(t.requester_id).label("req"),
                primary_email(t.assignee_id).label("asg"),
                GROUPS.c.name.label("grp"),
                ORGS.c.name.label("org"),
                _count(MESSAGES, MESSAGES.c.ticket_id, t.id).label("n"),
                _provenance("ticket", t.id, PROVENANCE.c.connection).label("pconn"),
                _provenance("ticket", t.id, PROVENANCE.c.native_id).label("pnid"),
            )
            .select_from(
                TICKETS.outerjoin(GROUPS, GROUPS.c.id == t.group_id).outerjoin(
                    ORGS, ORGS.c.id == t.organization_id
                )
            )
            .order_by(t.id)
        )
        if only is not None:
            query = query.where(t.id.in_(only))
        yield from self._stream(query)

    def messages(self, tickets: list[int] | None = None) -> Iterator[Any]:
        """Every message with its author's address and name, attachment count and native id."""
        m = MESSAGES.c
        query = (
            sa.select(
                MESSAGES,
                # the address the message was sent from; the author's main one when not kept
                sa.func.coalesce(m.author_email, primary_email(m.author_id)).label("email"),
                PEOPLE.c.name.label("author_name"),
                _count(ATTACHMENTS, ATTACHMENTS.c.message_id, m.id).label("n"),
                _provenance("message", m.id, PROVENANCE.c.native_id).label("pnid"),
            )
            .select_from(MESSAGES.outerjoin(PEOPLE, PEOPLE.c.id == m.author_id))
            .order_by(m.ticket_id, m.created_at, m.id)
        )
        if tickets is not None:
            query = query.where(m.ticket_id.in_(tickets))
        yield from self._stream(query)

    def attachments(self, tickets: list[int] | None = None) -> Iterator[Any]:
        a, m = ATTACHMENTS.c, MESSAGES.c
        query = (
            sa.select(ATTACHMENTS)
            .select_from(ATTACHMENTS.join(MESSAGES, m.id == a.message_id))
            .order_by(m.ticket_id, m.created_at, m.id, a.id)
        )
        if tickets is not None:
            query = query.where(m.ticket_id.in_(tickets))
        yield from self._stream(query)

    # -- the id map ---------------------------------------------------------------------
    def account(self, kind: str, rows: list[tuple[int, str, str]]) -> tuple[int, int, int]:
        """Record ``(entity id, native id, row hash)`` as pushed; (created, updated, unchanged)."""
        c = IDMAP.c
        ids = [eid for eid, _n, _h in rows]
        known = dict(
            self._write.execute(
                sa.select(c.entity_id, c.pushed_hash).where(
                    c.connection == self.target, c.kind == kind, c.entity_id.in_(ids)
                )
            ).all()
        )
        now = utcnow()
        inserts, updates, unchanged = [], [], 0
        for eid, nid, h in rows:
            if eid not in known:
                inserts.append(
                    {
                        "connection": self.target,
                        "kind": kind,
                        "entity_id": eid,
                        "native_id": nid,
                        "pushed_hash": h,
                        "state": "done",
                        "run_id": self.run_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            elif known[eid] != h:
                updates.append({"_eid": eid, "_nid": nid, "_h": h})
            else:
                unchanged += 1
        if inserts:
            self._write.execute(IDMAP.insert(), inserts)
        if updates:
            self._write.execute(
                IDMAP.update()
                .where(
                    c.connection == self.target,
                    c.kind == kind,
                    c.entity_id == sa.bindparam("_eid"),
                )
                .values(
                    native_id=sa.bindparam("_nid"),
                    pushed_hash=sa.bindparam("_h"),
                    run_id=self.run_id,
                    updated_at=now,
                ),
                updates,
            )
        return len(inserts), len(updates), unchanged
