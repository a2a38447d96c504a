"""What ``deskmove verify`` compares a target with: each ticket's messages as stored."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from deskmove.model import Attachment, IdMap, Message, Ticket
from deskmove.store.people import primary_email

TICKETS, MESSAGES, ATTACHMENTS, IDMAP = (
    Ticket.__table__,
    Message.__table__,
    Attachment.__table__,
    IdMap.__table__,
)


def ticket_ids(conn: sa.Connection, only: list[int] | None) -> list[int]:
    t = TICKETS.c
    ids = sa.select(t.id).order_by(t.id)
    if only is not None:
        ids = ids.where(t.id.in_(only))
    return list(conn.execute(ids).scalars())


def stored_messages(
    conn: sa.Connection, tickets: list[int]
) -> list[tuple[int, list[Any], dict[int, list[str]]]]:
    """``(ticket id, its messages, message id -> attachment sha256s)`` for these tickets;
    each message row has ``id, author_id, created_at, public, email`` (the author's primary
    address) and ``sent_from`` (the address the message came from, when kept)."""
    m, a = MESSAGES.c, ATTACHMENTS.c
    rows = conn.execute(
        sa.select(
            m.id,
            m.ticket_id,
            m.author_id,
            m.created_at,
            m.public,
            primary_email(m.author_id).label("email"),
            m.author_email.label("sent_from"),
        )
        .where(m.ticket_id.in_(tickets))
        .order_by(m.ticket_id, m.id)
    ).all()
    files: dict[int, list[str]] = {}
    mids = [r.id for r in rows]
    for j in range(0, len(mids), 500):
        query = sa.select(a.message_id, a.sha256).where(a.message_id.in_(mids[j : j + 500]))
        for mid, sha in conn.execute(query):
            files.setdefault(mid, []).append(sha)
    by_ticket: dict[int, list[Any]] = {tid: [] for tid in tickets}
    for r in rows:
        by_ticket[r.ticket_id].append(r)
    return [(tid, by_ticket[tid], files) for tid in tickets]


def appended_messages(conn: sa.Connection, target: str) -> set[int]:
    """Messages pushed in a later run than their ticket (delta appends during a cutover)."""
    i, m = IDMAP, MESSAGES
    t = IDMAP.alias("ticket_map")
    query = (
        sa.select(i.c.entity_id)
        .join(m, m.c.id == i.c.entity_id)
        .join(
            t,
            sa.and_(t.c.entity_id == m.c.ticket_id, t.c.kind == "ticket", t.c.connection == target),
        )
        .where(i.c.connection == target, i.c.kind == "message", i.c.run_id != t.c.run_id)
    )
    return set(conn.execute(query).scalars())
