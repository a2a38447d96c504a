"""Reading the store for a push: organizations, people, tickets with their messages.

Plain dicts, read in chunks by id so memory stays flat however big the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from deskmove.model import (
    Attachment,
    Group,
    Message,
    Organization,
    Person,
    PersonEmail,
    Ticket,
)

if TYPE_CHECKING:
    from deskmove.store import Store

T_ORG, T_PERSON, T_EMAIL = Organization.__table__, Person.__table__, PersonEmail.__table__
T_TICKET, T_MESSAGE, T_ATT, T_GROUP = (
    Ticket.__table__,
    Message.__table__,
    Attachment.__table__,
    Group.__table__,
)


def _chunks(store: Store, table: sa.Table, size: int) -> Iterator[list[dict[str, Any]]]:
    last = 0
    while True:
        with store.begin() as conn:
            rows = (
                conn.execute(
                    sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(size)
                )
                .mappings()
                .all()
            )
        if not rows:
            return
        last = rows[-1]["id"]
        yield [dict(r) for r in rows]


def organizations(store: Store, size: int = 500) -> Iterator[list[dict[str, Any]]]:
    yield from _chunks(store, T_ORG, size)


def people(store: Store, size: int = 500) -> Iterator[list[dict[str, Any]]]:
    """People with their primary email (the first one they were met with)."""
    for chunk in _chunks(store, T_PERSON, size):
        ids = [p["id"] for p in chunk]
        e = T_EMAIL.c
        with store.begin() as conn:
            rows = conn.execute(
                sa.select(e.person_id, e.email, e.primary)
                .where(e.person_id.in_(ids))
                .order_by(e.person_id, e.primary.desc(), e.id)
            ).all()
        emails: dict[int, str] = {}
        for pid, email, _primary in rows:
            emails.setdefault(pid, email)
        for p in chunk:
            p["email"] = emails.get(p["id"])
        yield chunk


def group_names(store: Store) -> dict[int, str]:
    with store.begin() as conn:
        return dict(conn.execute(sa.select(T_GROUP.c.id, T_GROUP.c.name)).all())


def _some(
    store: Store, table: sa.Table, ids: list[int], size: int
) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(ids), size):
        with store.begin() as conn:
            rows = (
                conn.execute(
                    sa.select(table).where(table.c.id.in_(ids[i : i + size])).order_by(table.c.id)
                )
                .mappings()
                .all()
            )
        if rows:
            yield [dict(r) for r in rows]


def tickets(
    store: Store, size: int = 100, only: list[int] | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Tickets in id order (all, or ``only`` these), each with ``messages`` and ``attachments``."""
    chunks = _chunks(store, T_TICKET, size) if only is None else _some(store, T_TICKET, only, size)
    for chunk in chunks:
        ids = [t["id"] for t in chunk]
        with store.begin() as conn:
            msgs = (
                conn.execute(
                    sa.select(T_MESSAGE)
                    .where(T_MESSAGE.c.ticket_id.in_(ids))
                    .order_by(T_MESSAGE.c.ticket_id, T_MESSAGE.c.created_at, T_MESSAGE.c.id)
                )
                .mappings()
                .all()
            )
            mids = [m["id"] for m in msgs]
            atts = (
                conn.execute(
                    sa.select(T_ATT).where(T_ATT.c.message_id.in_(mids)).order_by(T_ATT.c.id)
                )
                .mappings()
                .all()
                if mids
                else []
            )
        by_msg: dict[int, list[dict[str, Any]]] = {}
        for a in atts:
            by_msg.setdefault(a["message_id"], []).append(dict(a))
        labels = _labels(store, {m["author_id"] for m in msgs if m["author_id"]})
        by_ticket: dict[int, list[dict[str, Any]]] = {}
        for m in msgs:
            d = dict(m)
            d["attachments"] = by_msg.get(m["id"], [])
            d["author_label"] = labels.get(m["author_id"])
            by_ticket.setdefault(m["ticket_id"], []).append(d)
        for t in chunk:
            t["messages"] = by_ticket.get(t["id"], [])
        yield chunk


def _labels(store: Store, person_ids: set[int]) -> dict[int, str]:
    """person id -> "Name <email>", for bodies that must name their original author."""
    if not person_ids:
        return {}
    p, e = T_PERSON.c, T_EMAIL.c
    with store.begin() as conn:
        names = dict(conn.execute(sa.select(p.id, p.name).where(p.id.in_(person_ids))).all())
        emails: dict[int, str] = {}
        for pid, email in conn.execute(
            sa.select(e.person_id, e.email)
            .where(e.person_id.in_(person_ids))
            .order_by(e.primary.desc(), e.id)
        ):
            emails.setdefault(pid, email)
    out = {}
    for pid in person_ids:
        name, email = names.get(pid), emails.get(pid)
        out[pid] = f"{name} <{email}>" if name and email else (name or email or f"person {pid}")
    return out
