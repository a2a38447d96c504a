"""The store's side of mail threading: thread keys as provenance, ticket merges.

Thread keys are provenance rows of kind ``mail-thread`` pointing at a ticket.
:class:`StoreThreads` is what :class:`deskmove.mail.resolve.ThreadResolver`
reads and merges through; :func:`record_keys` writes a batch's keys in the
ingest's transaction, with the tickets they point at.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import Message, Provenance, Ticket, utcnow
from deskmove.records import PersonRef, StoredTicket, TicketRec
from deskmove.store import edits, provenance, search
from deskmove.store.chunks import chunks
from deskmove.store.people import primary_emails

if TYPE_CHECKING:
    from deskmove.store import Store

KEY_KIND = "mail-thread"
PROVENANCE, TICKETS, MESSAGES = Provenance.__table__, Ticket.__table__, Message.__table__


def _lookup(conn: Connection, connection: str, kind: str, keys: Iterable[str]) -> dict[str, int]:
    found = provenance.by_native_id(conn, connection, kind, sorted(keys))
    return {nid: eid for nid, eid, _h in found}


def _owners(
    conn: Connection, connection: str, kind: str, ids: Sequence[int]
) -> list[tuple[int, str]]:
    """(entity id, native id) of this connection's provenance for these entities, oldest first.

    Found through the entity-id index: filtering on the connection in SQL would let SQLite
    pick the (connection, kind, native id) index and read every row of the kind instead,
    once per batch, so a large import would slow down as it grows.
    """
    p = PROVENANCE.c
    sqlite = conn.dialect.name == "sqlite"
    found: list[tuple[int, int, str]] = []
    for part in chunks(list(ids)):
        if sqlite:
            rows = conn.exec_driver_sql(
                "SELECT id, entity_id, native_id, connection FROM provenance "
                f"WHERE kind = ? AND entity_id IN ({provenance.marks(len(part))})",
                (kind, *part),
            )
        else:
            rows = conn.execute(
                sa.select(p.id, p.entity_id, p.native_id, p.connection).where(
                    p.kind == kind, p.entity_id.in_(part)
                )
            )
        found += [(pid, eid, nid) for pid, eid, nid, c in rows if c == connection]
    return [(eid, nid) for _pid, eid, nid in sorted(found)]


class StoreThreads:
    """:class:`deskmove.mail.resolve.ThreadStore` over a real store, for one connection."""

    def __init__(self, store: Store, connection: str) -> None:
        self.store, self.connection = store, connection
        self._reading = False  # inside reading(): the reads share one transaction
        self._open: tuple[ExitStack, Connection] | None = None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One batch's look-ups in one read transaction instead of one each; a merge ends
        it, so what is read after a merge sees the merge."""
        self._reading = True
        try:
            yield
        finally:
            self._reading = False
            self._close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if not self._reading:
            with self.store.begin() as conn:
                yield conn
            return
        if self._open is None:
            stack = ExitStack()
            self._open = (stack, stack.enter_context(self.store.begin()))
        stack, conn = self._open
        try:
            yield conn
        except BaseException as exc:
            self._open = None
            if not stack.__exit__(type(exc), exc, exc.__traceback__):
                raise

    def _close(self) -> None:
        if self._open is not None:
            stack, _conn = self._open
            self._open = None
            stack.close()

    def thread_keys(self, keys: set[str]) -> dict[str, int]:
        if not keys:
            return {}
        with self._read() as conn:
            return _lookup(conn, self.connection, KEY_KIND, keys)

    def tickets(self, ids: set[int]) -> dict[int, StoredTicket]:
        t = TICKETS.c
        out: dict[int, StoredTicket] = {}
        with self._read() as conn:
            for part in chunks(sorted(ids)):
                rows = conn.execute(sa.select(TICKETS).where(t.id.in_(part))).all()
                natives: dict[int, str] = {}
                for eid, nid in _owners(conn, self.connection, "ticket", part):
                    natives.setdefault(eid, nid)  # the first one: the ticket's own
                emails = primary_emails(conn, {r.requester_id for r in rows if r.requester_id})
                for r in rows:
                    email = emails.get(r.requester_id) if r.requester_id else None
                    out[r.id] = StoredTicket(
                        id=r.id,
                        native_id=natives.get(r.id),
                        subject=r.subject,
                        status=r.status,
                        channel=r.channel,
                        thread_key=r.thread_key,
                        created_at=r.created_at,
                        updated_at=r.updated_at,
                        tags=list(r.tags or []),
                        is_auto=r.is_auto,
                        requester=PersonRef(email=email) if email else None,
                    )
        return out

    def message_id_owners(self, message_ids: set[str]) -> dict[str, set[str]]:
        m = MESSAGES.c
        owners: dict[str, set[str]] = {}
        if not message_ids:
            return owners
        with self._read() as conn:
            for part in chunks(sorted(message_ids)):
                rows = provenance.select_in(conn, (m.id, m.message_id), m.message_id, part)
                by_id = dict(rows.all())
                for eid, nid in _owners(conn, self.connection, "message", sorted(by_id)):
                    owners.setdefault(by_id[eid], set()).add(nid)
        return owners

    def stored_copies(self, native_ids: set[str]) -> dict[str, tuple[str | None, dict[str, Any]]]:
        if not native_ids:
            return {}
        m = MESSAGES.c
        out: dict[str, tuple[str | None, dict[str, Any]]] = {}
        with self._read() as conn:
            known = _lookup(conn, self.connection, "message", native_ids)
            by_id = {eid: nid for nid, eid in known.items()}
            for part in chunks(sorted(by_id)):
                query = sa.select(m.id, m.raw_sha256, m.headers).where(m.id.in_(part))
                for eid, raw, headers in conn.execute(query):
                    out[by_id[eid]] = (raw, dict(headers or {}))
        return out

    def merge_tickets(self, canon: int, others: list[int]) -> None:
        self._close()  # the reads after it start a new transaction, which sees the merge
        with self.store.begin() as conn:
            merge_tickets(conn, canon, others)


def merge_tickets(conn: Connection, canon: int, others: list[int]) -> None:
    """Move the others' messages and provenance to ``canon``; delete the emptied tickets."""
    t = TICKETS.c
    rows = {r.id: r for r in conn.execute(sa.select(TICKETS).where(t.id.in_([canon, *others])))}
    conn.execute(MESSAGES.update().where(MESSAGES.c.ticket_id.in_(others)).values(ticket_id=canon))
    p = PROVENANCE.c
    conn.execute(
        PROVENANCE.update()
        .where(p.kind.in_(["ticket", KEY_KIND]), p.entity_id.in_(others))
        .values(entity_id=canon, updated_at=utcnow())
    )
    first = min(rows.values(), key=lambda r: (r.created_at is None, r.created_at, r.id))
    tags = sorted({tag for r in rows.values() for tag in (r.tags or [])})
    values: dict[str, Any] = {
        "created_at": min((r.created_at for r in rows.values() if r.created_at), default=None),
        "updated_at": max((r.updated_at for r in rows.values() if r.updated_at), default=None),
        "subject": first.subject,
        "requester_id": first.requester_id,
        "tags": tags,
        "is_auto": all(r.is_auto for r in rows.values()),
    }
    conn.execute(TICKETS.update().where(t.id == canon).values(**values))
    conn.execute(TICKETS.delete().where(t.id.in_(others)))
    edits.forget(conn, others)
    search.index_tickets(conn, [canon, *others])  # the emptied ones lose their documents


def record_keys(conn: Connection, connection: str, tickets: list[tuple[int, TicketRec]]) -> None:
    """Write the tickets' thread keys (a key already known keeps its ticket) and point
    their subject keys at them (a customer's latest conversation with that subject)."""
    wanted: dict[str, int] = {}
    subject_keys: dict[str, int] = {}
    for tid, rec in tickets:
        for key in rec.thread_keys:
            wanted.setdefault(key, tid)
        for key in rec.subject_keys:
            subject_keys[key] = tid
    write_keys(conn, connection, wanted, subject_keys)


def write_keys(
    conn: Connection, connection: str, wanted: dict[str, int], subject_keys: dict[str, int]
) -> None:
    """Key -> ticket: a thread key already known keeps its ticket; a subject key moves to
    the one given (a customer's latest conversation with that subject)."""
    if not wanted and not subject_keys:
        return
    have = _lookup(conn, connection, KEY_KIND, [*wanted, *subject_keys])
    now = utcnow()
    rows = [
        {
            "connection": connection,
            "kind": KEY_KIND,
            "native_id": k,
            "entity_id": tid,
            "content_hash": None,
            "updated_at": now,
        }
        for k, tid in {**wanted, **subject_keys}.items()
        if k not in have
    ]
    if rows:
        from deskmove.store.ingest import bulk_insert  # (ingest imports this module)

        bulk_insert(conn, PROVENANCE, rows)  # on SQLite straight to the driver
    moved = [{"k": k, "t": tid} for k, tid in subject_keys.items() if k in have and have[k] != tid]
    if moved:
        p = PROVENANCE.c
        conn.execute(
            PROVENANCE.update()
            .where(p.connection == connection, p.kind == KEY_KIND, p.native_id == sa.bindparam("k"))
            .values(entity_id=sa.bindparam("t"), updated_at=now),
            moved,
        )
