"""A push limited to some tickets (``migrate --sample N``): which tickets, and what they need.

A :class:`TicketScope` is the explicit filter a target's push takes: the
tickets, plus the people, organizations and groups they refer to. It is
computed from the store alone, so an interrupted sample picks the same rows
again and resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from deskmove.model import Attachment, Message, Person, Ticket

TICKETS, MESSAGES, ATTACHMENTS = Ticket.__table__, Message.__table__, Attachment.__table__
PEOPLE = Person.__table__


@dataclass(frozen=True)
class TicketScope:
    """These tickets and what they refer to; a push given one writes nothing else."""

    tickets: list[int]
    people: list[int] = field(default_factory=list)
    organizations: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)


def scope_of(conn: sa.Connection, ticket_ids: list[int]) -> TicketScope:
    """The tickets with their requesters, assignees, authors, organizations and groups."""
    t, m, p = TICKETS.c, MESSAGES.c, PEOPLE.c
    ids = sorted(set(ticket_ids))
    people: set[int] = set()
    orgs: set[int] = set()
    groups: set[int] = set()
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        for req, asg, org, grp in conn.execute(
            sa.select(t.requester_id, t.assignee_id, t.organization_id, t.group_id).where(
                t.id.in_(part)
            )
        ):
            people.update(x for x in (req, asg) if x is not None)
            orgs.update(x for x in (org,) if x is not None)
            groups.update(x for x in (grp,) if x is not None)
        authors = sa.select(m.author_id).where(m.ticket_id.in_(part), m.author_id.is_not(None))
        people.update(conn.execute(authors.distinct()).scalars())
    pids = sorted(people)
    for i in range(0, len(pids), 500):
        query = sa.select(p.organization_id).where(
            p.id.in_(pids[i : i + 500]), p.organization_id.is_not(None)
        )
        orgs.update(conn.execute(query.distinct()).scalars())
    return TicketScope(ids, pids, sorted(orgs), sorted(groups))


def sample_candidates(conn: sa.Connection, n: int) -> list[list[int]]:
    """Ticket ids in the sample's order of preference, one list per kind of interest:
    by time, newest first, with attachments, with internal notes, longest threads."""
    t, m, a = TICKETS.c, MESSAGES.c, ATTACHMENTS.c
    by_time = list(conn.execute(sa.select(t.id).order_by(t.created_at, t.id)).scalars())
    if not by_time:
        return []
    with_files = sa.select(m.ticket_id).join(ATTACHMENTS, a.message_id == m.id)
    with_notes = sa.select(m.ticket_id).where(m.public.is_(False))
    longest = sa.select(m.ticket_id).group_by(m.ticket_id)
    longest = longest.order_by(sa.func.count().desc(), m.ticket_id).limit(n)
    first = [q.distinct().order_by(m.ticket_id).limit(n) for q in (with_files, with_notes)]
    return [
        by_time,
        by_time[::-1],
        *(list(conn.execute(q).scalars()) for q in first),
        list(conn.execute(longest).scalars()),
    ]
