"""What agents changed in the workspace survives the next import of the same ticket.

During a cutover agents work in ``deskmove serve`` while cron brings the old
helpdesk's news in every few minutes. A customer's reply changes the ticket at
the source, and the import used to write every field the source sends: the
agent's assignment, priority, status and tags were gone, and a second agent
could pick up the now unassigned ticket and answer it again.

The rule, per ticket and field (a three-way merge whose base is the value the
store had when an agent first changed the field):

- the source still says what it said then: the agent's value stays;
- the source says something new (it changed that field since): the source's
  value wins, and the edit is forgotten, so the next workspace change starts
  a new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import Ticket, utcnow
from deskmove.store.chunks import chunks

TICKETS = Ticket.__table__
EDITABLE = ("status", "priority", "tags", "assignee_id", "group_id")


@cache
def _edits() -> sa.Table:
    """The edits' table. The workspace's models are loaded when an import updates a
    ticket or a workspace change is noted: an import that changes nothing never loads
    them."""
    from deskmove.store.webmodel import WebTicketEdit

    return WebTicketEdit.__table__


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def remember(
    conn: Connection, ticket_id: int, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """Note the fields ``after`` changes, with their value ``before``; a field already
    changed by an agent keeps its first ``before`` (the source's value)."""
    table = _edits()
    now = utcnow()
    rows = [
        {"ticket_id": ticket_id, "field": f, "before": _key(before.get(f)), "edited_at": now}
        for f in EDITABLE
        if f in after and _key(after[f]) != _key(before.get(f))
    ]
    if rows:  # a field changed before keeps its first ``before``: the conflict does nothing
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(insert(table).on_conflict_do_nothing(), rows)


def keep_agents(conn: Connection, updates: list[dict[str, Any]]) -> None:
    """Put back, in the import's ticket updates (``_id`` and the source's values), the
    agents' values of the fields the source has not changed since; forget the rest."""
    table = _edits()
    ids = [u["_id"] for u in updates]
    edits: dict[int, dict[str, str | None]] = {}
    for part in chunks(ids):
        for tid, field, before in conn.execute(
            sa.select(table.c.ticket_id, table.c.field, table.c.before).where(
                table.c.ticket_id.in_(part)
            )
        ):
            edits.setdefault(tid, {})[field] = before
    if not edits:
        return
    t = TICKETS.c
    cols = [t.id, t.solved_at, *(getattr(t, f) for f in EDITABLE)]
    current = {
        row.id: row._mapping
        for part in chunks(list(edits))
        for row in conn.execute(sa.select(*cols).where(t.id.in_(part)))
    }
    stale: list[dict[str, Any]] = []
    for u in updates:
        mine, now = edits.get(u["_id"]), current.get(u["_id"])
        if not mine or now is None:
            continue
        for field, before in mine.items():
            if field not in u:
                continue
            if _key(u[field]) == before:  # the source still says what it said then
                u[field] = now[field]
                if field == "status" and "solved_at" in u:
                    u["solved_at"] = now["solved_at"]
            else:
                stale.append({"t": u["_id"], "f": field})
    if stale:
        conn.execute(
            table.delete().where(
                table.c.ticket_id == sa.bindparam("t"), table.c.field == sa.bindparam("f")
            ),
            stale,
        )


def forget(conn: Connection, ticket_ids: Iterable[int]) -> None:
    """Tickets merged into another or removed take their edits with them."""
    table = _edits()
    for part in chunks(list(ticket_ids)):
        conn.execute(table.delete().where(table.c.ticket_id.in_(part)))
