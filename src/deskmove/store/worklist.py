"""The workspace's reads: the ticket list (filters, counts, keyset pages), one ticket's
conversation page by page, attachments, and the figures behind the metrics page."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import (
    STATUSES,
    Attachment,
    Group,
    Message,
    Person,
    Provenance,
    Ticket,
)
from deskmove.store import changes, search
from deskmove.store.people import primary_email

if TYPE_CHECKING:
    from deskmove.store import Store

TICKETS = Ticket.__table__
MESSAGES = Message.__table__
ATTACHMENTS = Attachment.__table__
PEOPLE = Person.__table__
GROUPS = Group.__table__
PROVENANCE = Provenance.__table__

UNSOLVED = ("new", "open", "pending", "hold")
BROAD_SEARCH = 2000  # matching documents past which a search is broad (Filters.find)
SORTS = {
    "updated": ("updated_at", True),
    "-updated": ("updated_at", False),
    "created": ("created_at", True),
    "-created": ("created_at", False),
    "id": ("id", True),
    "-id": ("id", False),
}  # name -> (column, newest first)


@dataclass
class Filters:
    status: str = "unsolved"  # a status, "unsolved" or "all"
    assignee: str = ""  # "", "mine", "unassigned" or a person id
    group: int | None = None
    tag: str = ""
    channel: str = ""
    source: str = ""
    q: str = ""
    sort: str = "updated"
    me: int | None = None  # the viewer's person id, for "mine"
    hits: list[int] | None = field(default=None, repr=False)  # what a narrow search found
    broad: bool = False  # the search found more than BROAD_SEARCH documents

    def find(self, conn: Connection) -> None:
        """Run the search once for this request: up to ``BROAD_SEARCH`` matches become a
        list of ticket ids the page and the counts reuse; more make the search *broad*."""
        if self.hits is not None or self.broad or not self.q:
            return
        words = search.terms(self.q)
        if words:
            found = search.first_matches(conn, words, BROAD_SEARCH + 1)
            if len(found) > BROAD_SEARCH:
                self.broad = True
            else:
                self.hits = sorted(set(found))

    def conditions(self, dialect: str, *, with_status: bool = True) -> list[Any]:
        """WHERE terms. A broad search stays a subquery, and on SQLite the list's order is
        walked with each ticket checked against the matches (``+id IN``) instead of
        sorting every match to show the first page."""
        t = TICKETS.c
        where: list[Any] = []
        if with_status:
            if self.status == "unsolved":
                where.append(t.status.in_(UNSOLVED))
            elif self.status in STATUSES:
                where.append(t.status == self.status)
        if self.assignee == "mine":
            where.append(t.assignee_id == (self.me if self.me is not None else -1))
        elif self.assignee == "unassigned":
            where.append(t.assignee_id.is_(None))
        elif self.assignee.isdigit():
            where.append(t.assignee_id == int(self.assignee))
        if self.group is not None:
            where.append(t.group_id == self.group)
        if self.channel:
            where.append(t.channel == self.channel)
        if self.tag:
            if dialect == "postgresql":
                where.append(t.tags.op("@>")(sa.cast(json.dumps([self.tag]), t.tags.type)))
            else:
                each = sa.func.json_each(t.tags).table_valued("value")
                where.append(
                    sa.exists(sa.select(1).select_from(each).where(each.c.value == self.tag))
                )
        if self.source:
            p = PROVENANCE.c
            where.append(
                sa.exists().where(
                    p.kind == "ticket", p.entity_id == t.id, p.connection == self.source
                )
            )
        words = search.terms(self.q) if self.q else []
        if words and self.hits is not None:
            where.append(t.id.in_(self.hits))
        elif words:
            ids = sa.select(search.matching_ids(dialect, words).subquery().c.ticket_id)
            # "+id" keeps SQLite from driving the query by the matches' rowids
            broad = self.broad and dialect == "sqlite"
            where.append((t.id + sa.literal_column("0") if broad else t.id).in_(ids))
        elif self.q:
            where.append(sa.false())  # a query of punctuation only finds nothing
        return where

    def count_key(self) -> tuple[Any, ...]:
        """What the counts per status depend on (every filter but the status and order)."""
        assignee = f"={self.me}" if self.assignee == "mine" else self.assignee
        return (
            assignee,
            self.group,
            self.tag,
            self.channel,
            self.source,
            tuple(search.terms(self.q)),
            self.q.strip() != "",
        )


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None
    counts: dict[str, int] = field(default_factory=dict)


def _encode(value: Any, tid: int) -> str:
    v = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([v, tid]).encode()).decode().rstrip("=")


def _decode(cursor: str, column: str) -> tuple[Any, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        v, tid = json.loads(raw)
        if column != "id" and v is not None:
            v = datetime.fromisoformat(v)
        elif column == "id":
            v = int(v)
        return v, int(tid)
    except (ValueError, TypeError):
        return None


def _keyset(column: str, desc: bool, cursor: tuple[Any, int] | None) -> tuple[list[Any], list[Any]]:
    """WHERE and ORDER BY for one page: newest first puts empty values last, oldest first first."""
    t = TICKETS.c
    col = t[column]
    if column == "id":
        order = [col.desc()] if desc else [col.asc()]
        if cursor is None:
            return [], order
        return [col < cursor[1] if desc else col > cursor[1]], order
    order = (
        [col.desc().nulls_last(), t.id.desc()] if desc else [col.asc().nulls_first(), t.id.asc()]
    )
    if cursor is None:
        return [], order
    v, tid = cursor
    if desc:
        if v is None:
            return [col.is_(None), t.id < tid], order
        return [sa.or_(sa.tuple_(col, t.id) < sa.tuple_(v, tid), col.is_(None))], order
    if v is None:
        return [sa.or_(sa.and_(col.is_(None), t.id > tid), col.is_not(None))], order
    return [sa.tuple_(col, t.id) > sa.tuple_(v, tid)], order


def list_tickets(
    store: Store,
    f: Filters,
    cursor: str | None = None,
    limit: int = 50,
    *,
    counts: CountCache | None = None,
) -> Page:
    """One page of the list in the chosen order, and the next page's cursor; with
    ``counts``, the counts per status too, in the same transaction."""
    column, desc = SORTS.get(f.sort, SORTS["updated"])
    t = TICKETS.c
    at = _decode(cursor, column) if cursor else None
    dialect = store.engine.dialect.name
    keyset, order = _keyset(column, desc, at)
    req = PEOPLE.alias("req")
    asg = PEOPLE.alias("asg")
    req_email = primary_email(t.requester_id)
    n_messages = (
        sa.select(sa.func.count()).select_from(MESSAGES).where(MESSAGES.c.ticket_id == t.id)
    ).scalar_subquery()
    q = (
        sa.select(
            t.id,
            t.subject,
            t.status,
            t.priority,
            t.channel,
            t.tags,
            t.created_at,
            t.updated_at,
            t.assignee_id,
            req.c.name.label("requester_name"),
            req_email.label("requester_email"),
            asg.c.name.label("assignee_name"),
            GROUPS.c.name.label("group_name"),
            n_messages.label("message_count"),
        )
        .select_from(
            TICKETS.outerjoin(req, req.c.id == t.requester_id)
            .outerjoin(asg, asg.c.id == t.assignee_id)
            .outerjoin(GROUPS, GROUPS.c.id == t.group_id)
        )
        .order_by(*order)
        .limit(limit + 1)
    )
    with store.begin() as conn:
        f.find(conn)
        q = q.where(*f.conditions(dialect), *keyset)
        rows = list(conn.execute(q))
        per_status = counts.counts_in(conn, f) if counts is not None else {}
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = _encode(getattr(rows[-1], column), rows[-1].id) if more and rows else None
    return Page(rows, nxt, per_status)


def status_counts(store: Store, f: Filters) -> dict[str, int]:
    """Tickets per status under every filter but the status one (plus unsolved and all)."""
    with store.begin() as conn:
        return _status_counts(conn, f)


def _status_counts(conn: Connection, f: Filters) -> dict[str, int]:
    f.find(conn)
    t = TICKETS.c
    q = (
        sa.select(t.status, sa.func.count())
        .where(*f.conditions(conn.dialect.name, with_status=False))
        .group_by(t.status)
    )
    counts = {s: 0 for s in STATUSES} | dict(conn.execute(q).all())
    total = sum(counts.values())
    counts["unsolved"] = sum(counts.get(s, 0) for s in UNSOLVED)
    counts["all"] = total
    return counts


class CountCache:
    """Counts per status by filter, kept while the store's change counter stays the same
    (deskmove.store.changes: every import batch and workspace change raises it), and at
    most ``ttl`` seconds, for changes made around deskmove (SQL by hand).

    Counting is a scan of every ticket the filters leave (100,000 for the "all" tab);
    with the cache a list page costs one small read of the counter instead.
    """

    def __init__(self, ttl: float = 60.0, size: int = 256) -> None:
        self.ttl, self.size = ttl, size
        self._entries: OrderedDict[tuple[Any, ...], tuple[int, float, dict[str, int]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def counts(self, store: Store, f: Filters) -> dict[str, int]:
        with store.begin() as conn:
            return self.counts_in(conn, f)

    def counts_in(self, conn: Connection, f: Filters) -> dict[str, int]:
        key = f.count_key()
        stamp = changes.stamp(conn)  # read first: a change committed after it recounts
        with self._lock:
            hit = self._entries.get(key)
            if hit and hit[0] == stamp and time.monotonic() - hit[1] < self.ttl:
                self._entries.move_to_end(key)
                return dict(hit[2])
        counts = _status_counts(conn, f)
        with self._lock:
            self._entries[key] = (stamp, time.monotonic(), counts)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return dict(counts)


def filter_options(store: Store) -> dict[str, list[Any]]:
    """What the filter pickers offer: groups, channels and sources present in the store."""
    t, g, p = TICKETS.c, GROUPS.c, PROVENANCE.c
    with store.begin() as conn:
        groups = conn.execute(sa.select(g.id, g.name).order_by(g.name)).all()
        channels = list(conn.execute(sa.select(t.channel).distinct().order_by(t.channel)).scalars())
        sources = list(
            conn.execute(
                sa.select(p.connection).where(p.kind == "ticket").distinct().order_by(p.connection)
            ).scalars()
        )
    return {"groups": groups, "channels": channels, "sources": sources}


# -- one ticket ------------------------------------------------------------------------
def ticket(store: Store, ticket_id: int) -> Any | None:
    with store.begin() as conn:
        return ticket_row(conn, ticket_id)


def ticket_row(conn: Connection, ticket_id: int) -> Any | None:
    """The ticket with its requester's, assignee's and group's names and its message count."""
    t = TICKETS.c
    req = PEOPLE.alias("req")
    asg = PEOPLE.alias("asg")
    req_email = primary_email(t.requester_id)
    q = (
        sa.select(
            TICKETS,
            req.c.name.label("requester_name"),
            req_email.label("requester_email"),
            asg.c.name.label("assignee_name"),
            GROUPS.c.name.label("group_name"),
            sa.select(sa.func.count())
            .select_from(MESSAGES)
            .where(MESSAGES.c.ticket_id == t.id)
            .scalar_subquery()
            .label("message_count"),
        )
        .select_from(
            TICKETS.outerjoin(req, req.c.id == t.requester_id)
            .outerjoin(asg, asg.c.id == t.assignee_id)
            .outerjoin(GROUPS, GROUPS.c.id == t.group_id)
        )
        .where(t.id == ticket_id)
    )
    return conn.execute(q).first()


def messages(store: Store, ticket_id: int, page: int = 50) -> Iterator[dict[str, Any]]:
    """The conversation in order, read ``page`` messages at a time (a 1,000-message ticket
    streams instead of loading at once); each with its author and attachments."""
    m, p = MESSAGES.c, PEOPLE.c
    email = primary_email(m.author_id)
    after: tuple[Any, int] | None = None
    while True:
        q = (
            sa.select(
                m.id,
                m.public,
                m.direction,
                m.created_at,
                m.created_tz,
                m.subject,
                m.body_text,
                sa.case((m.body_html.is_(None), False), else_=True).label("has_html"),
                m.to,
                m.cc,
                m.message_id,
                m.raw_sha256,
                m.is_auto,
                m.author_id,
                p.name.label("author_name"),
                p.role.label("author_role"),
                email.label("author_email"),
            )
            .outerjoin(PEOPLE, p.id == m.author_id)
            .where(m.ticket_id == ticket_id)
            .order_by(m.created_at.asc().nulls_first(), m.id)
            .limit(page)
        )
        if after is not None:
            v, mid = after
            q = q.where(
                sa.or_(
                    sa.tuple_(m.created_at, m.id) > sa.tuple_(v, mid),
                    m.created_at.is_(None) & (m.id > mid),
                )
                if v is not None
                else sa.or_(m.created_at.is_not(None), m.id > mid)
            )
        with store.begin() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
            if not rows:
                return
            ids = [r["id"] for r in rows]
            atts: dict[int, list[dict[str, Any]]] = {}
            for a in conn.execute(
                sa.select(ATTACHMENTS)
                .where(ATTACHMENTS.c.message_id.in_(ids))
                .order_by(ATTACHMENTS.c.id)
            ):
                atts.setdefault(a.message_id, []).append(dict(a._mapping))
        for r in rows:
            r["attachments"] = atts.get(r["id"], [])
            yield r
        if len(rows) < page:
            return
        after = (rows[-1]["created_at"], rows[-1]["id"])


def message_html(store: Store, message_id: int) -> tuple[int, str | None] | None:
    """(ticket id, stored HTML body) of a message."""
    m = MESSAGES.c
    with store.begin() as conn:
        row = conn.execute(sa.select(m.ticket_id, m.body_html).where(m.id == message_id)).first()
    return (row.ticket_id, row.body_html) if row else None


def message_raw(store: Store, message_id: int) -> str | None:
    with store.begin() as conn:
        return conn.execute(
            sa.select(MESSAGES.c.raw_sha256).where(MESSAGES.c.id == message_id)
        ).scalar()


def inline_images(store: Store, message_id: int) -> dict[str, int]:
    """Content-ID (without <>) -> attachment id, for a message's cid: references."""
    a = ATTACHMENTS.c
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(a.id, a.content_id).where(
                a.message_id == message_id, a.content_id.is_not(None)
            )
        )
        return {cid.strip().strip("<>"): aid for aid, cid in rows}


def attachment(store: Store, attachment_id: int) -> Any | None:
    with store.begin() as conn:
        return conn.execute(sa.select(ATTACHMENTS).where(ATTACHMENTS.c.id == attachment_id)).first()


# -- metrics -----------------------------------------------------------------------------
def metric_rows(store: Store, since: datetime) -> list[Any]:
    """Per ticket created since then: created, solved, status, assignee, first inbound and
    first public outbound reply time (one grouped scan of the messages)."""
    t, m = TICKETS.c, MESSAGES.c
    first_in = sa.func.min(sa.case((m.direction == "inbound", m.created_at)))
    first_out = sa.func.min(
        sa.case((sa.and_(m.direction == "outbound", m.public.is_(True)), m.created_at))
    )
    per = (
        sa.select(
            m.ticket_id.label("tid"), first_in.label("first_in"), first_out.label("first_out")
        )
        .join(TICKETS, t.id == m.ticket_id)
        .where(t.created_at >= since)
        .group_by(m.ticket_id)
        .subquery()
    )
    q = (
        sa.select(
            t.id,
            t.created_at,
            t.solved_at,
            t.status,
            t.assignee_id,
            per.c.first_in,
            per.c.first_out,
        )
        .outerjoin(per, per.c.tid == t.id)
        .where(t.created_at >= since)
    )
    with store.begin() as conn:
        return list(conn.execute(q))


def backlog(store: Store) -> list[tuple[str, Any]]:
    """(status, created_at) of every unsolved ticket, for backlog by status and age."""
    t = TICKETS.c
    with store.begin() as conn:
        return list(conn.execute(sa.select(t.status, t.created_at).where(t.status.in_(UNSOLVED))))
