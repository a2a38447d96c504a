"""Queries for ``deskmove reclassify`` and the support-address hint after a mail import.

Reclassifying changes rows in place: no ticket, message or person is created
twice, no id-map row is touched, and provenance keeps its run ids, so a delta
push does not send again what the target already has (the report lists it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import IdMap, Message, Person, PersonEmail, Provenance, Ticket, utcnow
from deskmove.store.chunks import chunks
from deskmove.store.ingest import content_hash
from deskmove.store.people import primary_emails
from deskmove.store.threads import KEY_KIND, write_keys

if TYPE_CHECKING:
    from deskmove.store import Store

MESSAGES = Message.__table__
TICKETS = Ticket.__table__
PROVENANCE = Provenance.__table__
IDMAP = IdMap.__table__
PEOPLE = Person.__table__
EMAILS = PersonEmail.__table__
SUBJECT_PREFIXES = ("subj:", "orphan-subj:")


@dataclass(slots=True)
class StoredMessage:
    id: int
    ticket_id: int
    connection: str
    native_id: str
    raw_sha256: str
    author_id: int | None
    direction: str
    is_auto: bool
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    headers: dict[str, Any]
    created_at: datetime | None


def mail_ticket_ids(store: Store) -> list[int]:
    """Tickets holding at least one message with its raw mail kept."""
    m = MESSAGES.c
    with store.begin() as conn:
        q = sa.select(m.ticket_id).where(m.raw_sha256.is_not(None)).distinct()
        return sorted(conn.execute(q).scalars())


def messages_of(conn: Connection, ticket_ids: Sequence[int]) -> list[StoredMessage]:
    """The mail messages of these tickets, in conversation order, with their source."""
    m, p = MESSAGES.c, PROVENANCE.c
    q = (
        sa.select(
            m.id,
            m.ticket_id,
            p.connection,
            p.native_id,
            m.raw_sha256,
            m.author_id,
            m.direction,
            m.is_auto,
            m.message_id,
            m.in_reply_to,
            m.references,
            m.headers,
            m.created_at,
        )
        .join(PROVENANCE, sa.and_(p.kind == "message", p.entity_id == m.id))
        .where(m.ticket_id.in_(list(ticket_ids)), m.raw_sha256.is_not(None))
        .order_by(m.ticket_id, m.created_at, m.id)
    )
    return [StoredMessage(*row) for row in conn.execute(q)]


def tickets_of(conn: Connection, ids: Iterable[int]) -> dict[int, Any]:
    t = TICKETS.c
    q = sa.select(t.id, t.requester_id, t.status, t.tags, t.is_auto, t.channel, t.thread_key)
    return {r.id: r for r in conn.execute(q.where(t.id.in_(list(ids))))}


def emails_of(conn: Connection, person_ids: Iterable[int]) -> dict[int, str]:
    """Each person's primary address (the one definition: :mod:`deskmove.store.people`)."""
    return primary_emails(conn, person_ids)


def people_by_email(conn: Connection, emails: Iterable[str]) -> dict[str, tuple[int, str]]:
    """address -> (person id, role)."""
    e, pe = EMAILS.c, PEOPLE.c
    out: dict[str, tuple[int, str]] = {}
    for part in chunks(sorted(set(emails))):
        q = (
            sa.select(e.email, pe.id, pe.role)
            .join(PEOPLE, pe.id == e.person_id)
            .where(e.email.in_(list(part)))
        )
        out.update({email: (pid, role) for email, pid, role in conn.execute(q)})
    return out


def add_people(
    conn: Connection, connection: str, people: list[tuple[str, str | None, str]]
) -> dict[str, int]:
    """Create people met only now ((address, name, role)), as a mail import would."""
    out: dict[str, int] = {}
    now = utcnow()
    for email, name, role in people:
        pid = conn.execute(PEOPLE.insert().values(name=name, role=role)).inserted_primary_key[0]
        conn.execute(EMAILS.insert().values(person_id=pid, email=email, primary=True))
        conn.execute(
            PROVENANCE.insert().values(
                connection=connection,
                kind="person",
                native_id=f"mailto:{email}",
                entity_id=pid,
                content_hash=content_hash(name, [email], None, role, None),
                updated_at=now,
            )
        )
        out[email] = pid
    return out


def mail_only_people(conn: Connection, person_ids: Iterable[int]) -> set[int]:
    """People every provenance of whom is a mail address (``mailto:``): roles mail may decide."""
    p = PROVENANCE.c
    ids = sorted(set(person_ids))
    other: set[int] = set()
    seen: set[int] = set()
    for part in chunks(ids):
        rows = conn.execute(
            sa.select(p.entity_id, p.native_id).where(
                p.kind == "person", p.entity_id.in_(list(part))
            )
        )
        for eid, nid in rows:
            seen.add(eid)
            if not str(nid).startswith("mailto:"):
                other.add(eid)
    return seen - other


def set_roles(conn: Connection, roles: dict[int, str]) -> None:
    for role in set(roles.values()):
        ids = [pid for pid, r in roles.items() if r == role]
        for part in chunks(ids):
            conn.execute(PEOPLE.update().where(PEOPLE.c.id.in_(list(part))).values(role=role))
    _rehash_mail_people(conn, roles)


def _rehash_mail_people(conn: Connection, roles: dict[int, str]) -> None:
    """A re-import of the same mail then finds its people unchanged."""
    p, pe = PROVENANCE.c, PEOPLE.c
    for part in chunks(sorted(roles)):
        rows = conn.execute(
            sa.select(p.id, p.native_id, pe.name, pe.role)
            .join(PEOPLE, pe.id == p.entity_id)
            .where(p.kind == "person", p.entity_id.in_(list(part)), p.native_id.like("mailto:%"))
        ).all()
        for prov_id, nid, name, role in rows:
            h = content_hash(name, [nid[len("mailto:") :]], None, role, None)
            conn.execute(PROVENANCE.update().where(p.id == prov_id).values(content_hash=h))


def update_messages(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Messages' changed columns: rows of ``{"_id": message id, column: value, …}``."""
    _update_rows(conn, Message.__table__, rows)


def update_tickets(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Tickets' changed columns: rows of ``{"_id": ticket id, column: value, …}``."""
    _update_rows(conn, Ticket.__table__, rows)


def _update_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Rows of ``{"_id": id, column: value, …}``, one statement per set of columns."""
    by_cols: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_cols.setdefault(tuple(sorted(k for k in row if k != "_id")), []).append(row)
    for cols, group in by_cols.items():
        stmt = table.update().where(table.c.id == sa.bindparam("_id"))
        conn.execute(stmt.values({c: sa.bindparam(c) for c in cols}), group)


def pushed(conn: Connection, kind: str, ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """entity id -> [(target connection, native id there)] for what a push created."""
    i = IDMAP.c
    out: dict[int, list[tuple[str, str]]] = {}
    for part in chunks(sorted(set(ids))):
        rows = conn.execute(
            sa.select(i.entity_id, i.connection, i.native_id).where(
                i.kind == kind, i.entity_id.in_(list(part)), i.state == "done"
            )
        )
        for eid, target, native in rows:
            out.setdefault(eid, []).append((target, str(native)))
    return out


def thread_keys(
    conn: Connection, connection: str, ticket_ids: Iterable[int]
) -> dict[int, set[str]]:
    p = PROVENANCE.c
    out: dict[int, set[str]] = {}
    for part in chunks(sorted(set(ticket_ids))):
        rows = conn.execute(
            sa.select(p.entity_id, p.native_id).where(
                p.connection == connection, p.kind == KEY_KIND, p.entity_id.in_(list(part))
            )
        )
        for tid, key in rows:
            out.setdefault(tid, set()).add(key)
    return out


def set_thread_keys(
    conn: Connection, connection: str, ticket_id: int, keys: set[str], stale: set[str]
) -> None:
    """Register ``keys`` for the ticket (a key another ticket holds stays there; subject keys
    move); drop its ``stale`` subject keys."""
    p = PROVENANCE.c
    where = (p.connection == connection, p.kind == KEY_KIND)
    if stale:
        conn.execute(
            PROVENANCE.delete().where(
                *where, p.entity_id == ticket_id, p.native_id.in_(sorted(stale))
            )
        )
    subject = {k for k in keys if k.startswith(SUBJECT_PREFIXES)}
    write_keys(
        conn,
        connection,
        dict.fromkeys(sorted(keys - subject), ticket_id),
        dict.fromkeys(sorted(subject), ticket_id),
    )


def top_recipients(
    store: Store, connection: str, limit: int = 3
) -> tuple[int, list[tuple[str, int]]]:
    """(mails read, the addresses that received most of them) for one mail connection."""
    m, p = MESSAGES.c, PROVENANCE.c
    counts: Counter[str] = Counter()
    total = 0
    q = (
        sa.select(m.to, m.cc)
        .join(PROVENANCE, sa.and_(p.kind == "message", p.entity_id == m.id))
        .where(p.connection == connection, m.raw_sha256.is_not(None))
    )
    with store.begin() as conn:
        for to, cc in conn.execute(q.execution_options(yield_per=2000)):
            total += 1
            counts.update({a for a in (to or []) + (cc or []) if a})
    return total, counts.most_common(limit)
