"""Data-quality findings, each a count and a few examples, counted in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from deskmove.model import Message, Person, PersonEmail, Quarantine, Ticket

T_TICKET, T_MSG, T_PERSON = Ticket.__table__, Message.__table__, Person.__table__
T_EMAIL, T_QUAR = PersonEmail.__table__, Quarantine.__table__
EXAMPLES = 3
REPLACEMENT = "\ufffd"


def quality(conn: sa.Connection, now: datetime) -> list[dict[str, Any]]:
    """Every check, always listed; ``count`` 0 means the data is clean on that point."""
    t, m = T_TICKET.c, T_MSG.c
    future = now + timedelta(days=1)
    other = T_MSG.alias("parent")
    checks = [
        _check(conn, "tickets_without_requester", "Tickets without a requester",
               T_TICKET, t.requester_id.is_(None), _ticket_example),
        _check(conn, "tickets_without_messages", "Tickets without any message",
               T_TICKET, ~sa.exists().where(m.ticket_id == t.id), _ticket_example),
        _check(conn, "messages_without_date", "Messages without a date",
               T_MSG, m.created_at.is_(None), _message_example),
        _check(conn, "dates_in_future", "Messages dated in the future",
               T_MSG, m.created_at > future, _message_example),
        _check(conn, "broken_threads", "Replies whose parent message is not in the store (broken threads)",
               T_MSG, sa.and_(m.in_reply_to.is_not(None),
                              ~sa.exists().where(other.c.message_id == m.in_reply_to)),
               _message_example),
        _check(conn, "undecodable_text", "Messages with undecodable characters (charset damage, �)",
               T_MSG, sa.or_(m.body_text.contains(REPLACEMENT), m.subject.contains(REPLACEMENT)),
               _message_example),
    ]  # fmt: skip
    checks.insert(4, _several_addresses(conn))
    checks.insert(5, _same_name(conn))
    checks.append(_quarantined(conn))
    return checks


def _check(
    conn: sa.Connection, key: str, title: str, table: sa.Table, where: Any, example: Any
) -> dict[str, Any]:
    n = conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
    rows = (
        conn.execute(sa.select(table).where(where).order_by(table.c.id).limit(EXAMPLES))
        if n
        else []
    )
    return {"key": key, "title": title, "count": n, "examples": [example(r) for r in rows]}


def _ticket_example(r: Any) -> str:
    when = f" ({r.created_at:%Y-%m-%d})" if r.created_at else ""
    return f"ticket #{r.id} “{r.subject or '(no subject)'}”{when}"


def _message_example(r: Any) -> str:
    when = f"{r.created_at:%Y-%m-%d %H:%M}" if r.created_at else "no date"
    ref = f", In-Reply-To {r.in_reply_to}" if r.in_reply_to else ""
    return f"message #{r.id} in ticket #{r.ticket_id} ({when}) “{r.subject or '(no subject)'}”{ref}"


def _several_addresses(conn: sa.Connection) -> dict[str, Any]:
    e = T_EMAIL.c
    many = sa.select(e.person_id).group_by(e.person_id).having(sa.func.count() > 1).subquery()
    n = conn.execute(sa.select(sa.func.count()).select_from(many)).scalar_one()
    examples = []
    for (pid,) in conn.execute(
        sa.select(many.c.person_id).order_by(many.c.person_id).limit(EXAMPLES)
    ):
        name = conn.execute(sa.select(T_PERSON.c.name).where(T_PERSON.c.id == pid)).scalar()
        addrs = conn.execute(
            sa.select(e.email).where(e.person_id == pid).order_by(e.email)
        ).scalars()
        examples.append(f"{name or 'person #' + str(pid)}: {', '.join(addrs)}")
    return {"key": "people_with_several_addresses",
            "title": "People with several addresses (one person; the target must accept this)",
            "count": n, "examples": examples}  # fmt: skip


def _same_name(conn: sa.Connection) -> dict[str, Any]:
    p = T_PERSON.c
    name = sa.func.lower(sa.func.trim(p.name))
    dupes = (
        sa.select(sa.func.min(p.name).label("name"), sa.func.count().label("n"))
        .where(p.name.is_not(None), sa.func.trim(p.name) != "")
        .group_by(name).having(sa.func.count() > 1).subquery()
    )  # fmt: skip
    n = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(dupes.c.n), 0))).scalar_one()
    examples = [
        f"“{nm}” × {k}" for nm, k in conn.execute(
            sa.select(dupes.c.name, dupes.c.n).order_by(dupes.c.n.desc(), dupes.c.name).limit(EXAMPLES))
    ]  # fmt: skip
    return {"key": "possible_duplicate_people",
            "title": "Possible duplicate people (same name, separate records)",
            "count": int(n), "examples": examples}  # fmt: skip


def _quarantined(conn: sa.Connection) -> dict[str, Any]:
    q = T_QUAR.c
    open_ = q.resolved.is_(False)
    n = conn.execute(sa.select(sa.func.count()).where(open_)).scalar_one()
    rows = conn.execute(
        sa.select(q.connection, q.native_ref, q.reason).where(open_).order_by(q.id).limit(EXAMPLES)
    )
    return {
        "key": "quarantined",
        "title": "Quarantined input items (kept, not imported)",
        "count": n,
        "examples": [f"{c}: {ref} — {reason}" for c, ref, reason in rows],
    }
