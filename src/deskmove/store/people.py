"""People: a person's primary e-mail address (the one definition), agents by provenance.

A person's *primary* address is the one marked ``primary``, else the first one
they were met with (the lowest ``person_emails.id``). Every reader that names a
person by address (targets, verify, the audit) uses the expressions here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from deskmove.model import Person, PersonEmail, Provenance
from deskmove.store.provenance import marks

EMAILS, PEOPLE, PROVENANCE = PersonEmail.__table__, Person.__table__, Provenance.__table__
PRIMARY_FIRST = (EMAILS.c.primary.desc(), EMAILS.c.id)  # a person's addresses, primary first


def primary_email(person_id: Any) -> Any:
    """A scalar subquery: the primary address of the person ``person_id`` (a column)."""
    e = EMAILS.c
    query = sa.select(e.email).where(e.person_id == person_id).order_by(*PRIMARY_FIRST).limit(1)
    return query.scalar_subquery()


def addresses(conn: sa.Connection, person_ids: Iterable[int]) -> dict[int, list[str]]:
    """person id -> every address, the primary one first."""
    ids = sorted(set(person_ids))
    out: dict[int, list[str]] = {}
    e = EMAILS.c
    sqlite = conn.dialect.name == "sqlite"
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        if sqlite:  # straight to the driver: see provenance.marks
            rows = conn.exec_driver_sql(
                "SELECT person_id, email FROM person_emails WHERE person_id IN "
                f'({marks(len(part))}) ORDER BY person_id, "primary" DESC, id',
                tuple(part),
            )
        else:
            rows = conn.execute(
                sa.select(e.person_id, e.email)
                .where(e.person_id.in_(part))
                .order_by(e.person_id, *PRIMARY_FIRST)
            )
        for pid, email in rows:
            out.setdefault(pid, []).append(email)
    return out


def primary_emails(conn: sa.Connection, person_ids: Iterable[int]) -> dict[int, str]:
    """person id -> primary address, for these people."""
    return {pid: emails[0] for pid, emails in addresses(conn, person_ids).items()}


def names(conn: sa.Connection, person_ids: Iterable[int]) -> dict[int, str | None]:
    ids = sorted(set(person_ids))
    p = PEOPLE.c
    out: dict[int, str | None] = {}
    for i in range(0, len(ids), 500):
        out.update(conn.execute(sa.select(p.id, p.name).where(p.id.in_(ids[i : i + 500]))).all())
    return out


def agent_native_ids(conn: sa.Connection, connection: str) -> set[str]:
    """Native ids of the people ``connection`` stored as agents."""
    p = PROVENANCE.c
    query = (
        sa.select(p.native_id)
        .join(PEOPLE, PEOPLE.c.id == p.entity_id)
        .where(p.connection == connection, p.kind == "person", PEOPLE.c.role == "agent")
    )
    return set(conn.execute(query).scalars())
