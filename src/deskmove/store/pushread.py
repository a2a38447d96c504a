"""Reading the store for a push: organizations, people, tickets with their messages.

Plain dicts, read in chunks by id so memory stays flat however big the store.
Each reader takes ``only`` (ids) when a push is limited to a :class:`TicketScope`
(a sample): then it reads those rows and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from deskmove.model import Attachment, Group, Message, Organization, Person, Ticket
from deskmove.store import people as people_q

if TYPE_CHECKING:
    from deskmove.store import Store

ORGS, PEOPLE, GROUPS = Organization.__table__, Person.__table__, Group.__table__
TICKETS, MESSAGES, ATTACHMENTS = Ticket.__table__, Message.__table__, Attachment.__table__


def _chunks(
    store: Store, table: sa.Table, size: int, only: list[int] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Rows of ``table`` in id order, ``size`` at a time (all of them, or ``only`` these ids)."""
    if only is not None:
        ids = sorted(only)
        for i in range(0, len(ids), size):
            query = sa.select(table).where(table.c.id.in_(ids[i : i + size])).order_by(table.c.id)
            with store.begin() as conn:
                rows = conn.execute(query).mappings().all()
            if rows:
                yield [dict(r) for r in rows]
        return
    last = 0
    while True:
        query = sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(size)
        with store.begin() as conn:
            rows = conn.execute(query).mappings().all()
        if not rows:
            return
        last = rows[-1]["id"]
        yield [dict(r) for r in rows]


def organizations(
    store: Store, size: int = 500, only: list[int] | None = None
) -> Iterator[list[dict[str, Any]]]:
    yield from _chunks(store, ORGS, size, only)


def people(
    store: Store, size: int = 500, only: list[int] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """People with their primary email (see :mod:`deskmove.store.people`)."""
    for chunk in _chunks(store, PEOPLE, size, only):
        with store.begin() as conn:
            emails = people_q.primary_emails(conn, [p["id"] for p in chunk])
        for p in chunk:
            p["email"] = emails.get(p["id"])
        yield chunk


def ticket_count(store: Store) -> int:
    """How many tickets the store holds (a full push goes through each once)."""
    with store.begin() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(TICKETS)).scalar_one())


def tickets(
    store: Store, size: int = 100, only: list[int] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Tickets in id order (all, or ``only`` these), each with ``messages`` and ``attachments``."""
    m, a = MESSAGES.c, ATTACHMENTS.c
    for chunk in _chunks(store, TICKETS, size, only):
        ids = [t["id"] for t in chunk]
        with store.begin() as conn:
            query = (
                sa.select(MESSAGES)
                .where(m.ticket_id.in_(ids))
                .order_by(m.ticket_id, m.created_at, m.id)
            )
            msgs = conn.execute(query).mappings().all()
            mids = [r["id"] for r in msgs]
            files = sa.select(ATTACHMENTS).where(a.message_id.in_(mids)).order_by(a.id)
            atts = conn.execute(files).mappings().all() if mids else []
            labels = _labels(conn, {r["author_id"] for r in msgs if r["author_id"]})
        by_msg: dict[int, list[dict[str, Any]]] = {}
        for att in atts:
            by_msg.setdefault(att["message_id"], []).append(dict(att))
        by_ticket: dict[int, list[dict[str, Any]]] = {}
        for r in msgs:
            d = dict(r)
            d["attachments"] = by_msg.get(r["id"], [])
            d["author_label"] = labels.get(r["author_id"])
            by_ticket.setdefault(r["ticket_id"], []).append(d)
        for t in chunk:
            t["messages"] = by_ticket.get(t["id"], [])
        yield chunk


def _labels(conn: sa.Connection, person_ids: set[int]) -> dict[int, str]:
    """person id -> "Name <email>", for bodies that must name their original author."""
    if not person_ids:
        return {}
    names = people_q.names(conn, person_ids)
    emails = people_q.primary_emails(conn, person_ids)
    out = {}
    for pid in person_ids:
        name, email = names.get(pid), emails.get(pid)
        out[pid] = f"{name} <{email}>" if name and email else (name or email or f"person {pid}")
    return out


def group_names(store: Store, only: list[int] | None = None) -> dict[int, str]:
    """group id -> name (all groups, or ``only`` these): a push matches them by name."""
    g = GROUPS.c
    query = sa.select(g.id, g.name)
    if only is not None:
        query = query.where(g.id.in_(sorted(only)))
    with store.begin() as conn:
        return dict(conn.execute(query).all())  # type: ignore[arg-type]


def emails(store: Store, person_ids: set[int]) -> dict[int, str]:
    """person id -> primary e-mail, for these people (assignees matched to target agents)."""
    with store.begin() as conn:
        return people_q.primary_emails(conn, {p for p in person_ids if p is not None})


def labels(store: Store, person_ids: set[int]) -> dict[int, str]:
    """person id -> "Name <email>", for reports and bodies that name a person."""
    with store.begin() as conn:
        return _labels(conn, {p for p in person_ids if p is not None})
