"""Full-text search over tickets: subjects, message text and people, without diacritics.

Each ticket has one document (split in parts past ``PART_CHARS``) of text that
:func:`normalise` has already folded: lower case, diacritics removed, letters
such as ``ł`` or ``ß`` spelled out, everything but word characters turned into
single spaces. So ``zlutoucky`` finds ``Žluťoučký`` on both stores:

- SQLite: an FTS5 table ``search_fts`` (rowid = ticket id × 16 + part);
- PostgreSQL: ``search_docs`` with a generated ``tsvector`` ('simple' config)
  under a GIN index.

Imports keep it current: the ingestor calls :func:`index_added` for the
tickets a batch touched, in the batch's transaction, with the text the batch
wrote (mail arrives folded by the parsing worker processes); the workspace
calls :func:`index_tickets` for its notes and replies. :func:`index_missing` catches up a store
imported before the index existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import Message, Person, PersonEmail, Ticket
from deskmove.records import MessageRec
from deskmove.store.provenance import marks, select_in
from deskmove.textfold import fold_message, message_text, normalise

TICKETS = Ticket.__table__
MESSAGES = Message.__table__
PEOPLE = Person.__table__
EMAILS = PersonEmail.__table__

PARTS = 16  # documents per ticket at most (SQLite rowid = ticket id * PARTS + part)
PART_CHARS = 200_000  # a tsvector must stay under 1 MB
DOC_CHARS = PARTS * (PART_CHARS + 1)  # of a ticket's text at most go into its parts
MAX_TERMS = 8
CHUNK = 200
HELD_CHARS = 8_000_000  # of new document text held before it is written (see _index_added)


def terms(query: str) -> list[str]:
    """The words of a search query, normalised like the documents (at most ``MAX_TERMS``)."""
    return normalise(query).split()[:MAX_TERMS]


# -- indexing ------------------------------------------------------------------------
# A document is its header (the ticket's subject and people), a line break, and its body:
# each message's subject where it differs from the ticket's, and its text, in the order
# the messages were stored. Every part repeats the header; the line break lets an import
# append a batch's messages to a document without reading the ticket's messages again.
@dataclass(slots=True)
class NewText:
    """What one batch wrote for one ticket, so its document is brought up to date from memory."""

    fresh: bool = False  # created by this batch: ``messages`` are all it has
    head: tuple[str | None, int | None] | None = None  # (subject, requester id), when written
    messages: list[tuple[int, int | None, MessageRec]] = field(default_factory=list)
    # ^ the batch's new messages: (message id, author id, record)


def index_tickets(conn: Connection, ticket_ids: Iterable[int]) -> int:
    """(Re)build the documents of these tickets; a ticket that no longer exists loses its own."""
    ids = sorted(set(ticket_ids))
    done = 0
    for i in range(0, len(ids), CHUNK):
        part = ids[i : i + CHUNK]
        docs = dict(_documents(conn, part))
        _delete(conn, part)
        rows = [(tid, n, text) for tid, texts in docs.items() for n, text in enumerate(texts)]
        if rows:
            _insert(conn, rows)
        done += len(docs)
    return done


def index_added(conn: Connection, added: dict[int, NewText]) -> None:
    """Bring the documents of the tickets a batch touched up to date.

    A new ticket's document is made from the batch alone; a stored ticket's gets the
    batch's messages appended to its last part (to all of them when the header changed),
    so the work and memory per ticket are bounded by a part's size (the document's, at
    most ``PARTS`` parts), never by how many messages the ticket has; only the parts that
    change are written. A document whose
    ``PARTS`` parts are full takes no more than fits at the end of its last one (a rebuild
    would drop the new text; the stored parts no longer say where the ticket's text ended
    beyond them). Only a document that cannot be extended (none yet, or
    written before the header had its own line) is rebuilt from the ticket's messages.
    """
    ids = sorted(added)
    for i in range(0, len(ids), CHUNK):
        _index_added(conn, {tid: added[tid] for tid in ids[i : i + CHUNK]})


def _index_added(conn: Connection, added: dict[int, NewText]) -> None:
    last = dict(_last_parts(conn, [tid for tid, new in added.items() if not new.fresh]))
    rebuild = {
        tid
        for tid, new in added.items()
        if not new.fresh and (tid not in last or "\n" not in last[tid][1])
    }
    if rebuild:
        index_tickets(conn, rebuild)
    todo = {tid: new for tid, new in added.items() if tid not in rebuild}
    if not todo:
        return
    heads = {tid: new.head for tid, new in todo.items() if new.head is not None}
    people: dict[int, set[int]] = {
        tid: {a for _m, a, _r in new.messages if a} for tid, new in todo.items()
    }
    unknown = [tid for tid in todo if tid not in heads]
    t, m = TICKETS.c, MESSAGES.c
    sqlite = conn.dialect.name == "sqlite"  # the look-ups straight to the driver (marks)
    if unknown:
        rows = select_in(conn, (t.id, t.subject, t.requester_id), t.id, unknown)
        heads.update((tid, (subject, req)) for tid, subject, req in rows)
    older = [tid for tid in todo if not todo[tid].fresh]
    if older:  # the people of the messages stored before
        if sqlite:
            sql = (
                "SELECT DISTINCT ticket_id, author_id FROM messages "
                f"WHERE ticket_id IN ({marks(len(older))})"
            )
            rows = conn.exec_driver_sql(sql, tuple(older))
        else:
            q = sa.select(m.ticket_id, m.author_id).where(m.ticket_id.in_(older)).distinct()
            rows = conn.execute(q)
        for tid, author in rows:
            if author:
                people[tid].add(author)
    for tid, head in heads.items():
        if head[1]:
            people[tid].add(head[1])
    names = _people_text(conn, {p for s in people.values() for p in s})
    top = _last_ticket_indexed(conn)  # a new ticket past it has no document to replace
    rows: list[tuple[int, int, str]] = []
    whole: list[int] = []  # tickets whose every part goes first
    parts_gone: list[tuple[int, int]] = []  # (ticket, part) of stored documents, rewritten
    held = 0  # characters in ``rows``: written once past HELD_CHARS, so memory stays bounded

    def flush() -> None:
        nonlocal held
        _delete(conn, whole)
        _delete_parts(conn, parts_gone)
        if rows:
            _insert(conn, rows)
        whole.clear()
        parts_gone.clear()
        rows.clear()
        held = 0

    for tid, new in todo.items():
        if held > HELD_CHARS:
            flush()
        if tid not in heads:  # the ticket is gone: so is its document
            whole.append(tid)
            continue
        subject = heads[tid][0]
        header = normalise(
            " ".join([subject or ""] + [names.get(p, "") for p in sorted(people[tid])])
        )
        pieces = []
        for _mid, _author, rec in sorted(new.messages, key=_first):
            folded = rec.folded or fold_message(rec.subject, rec.body_text, rec.body_html)
            if rec.subject and rec.subject != (subject or ""):
                pieces.append(folded[0])
            pieces.append(folded[1])
        if tid not in last:
            if tid <= top:
                whole.append(tid)
            parts = _split(header, " ".join(p for p in pieces if p))
            rows += [(tid, n, text) for n, text in enumerate(parts)]
            held += sum(map(len, parts))
            continue
        # A stored document: its parts before the last stay as they are, unless the header
        # (subject, people) changed, which every part repeats. Either way no message is
        # read back, and only the parts that change are written.
        n, doc = last[tid]
        if doc.partition("\n")[0] == header:
            first, old = n, {n: doc}
        else:
            first, old = 0, dict(enumerate(d for _tid, d in _stored_docs(conn, [tid])))
        body = _stored_body([old[k] for k in sorted(old)])
        parts = _split(header, " ".join(p for p in [body, *pieces] if p), PARTS - first)
        changed = [(tid, k, text) for k, text in enumerate(parts, first) if old.get(k) != text]
        gone = [(tid, k) for _tid, k, _text in changed if k <= n]
        gone += [(tid, k) for k in range(first + len(parts), n + 1)]
        rows += changed
        parts_gone += gone
        held += sum(len(text) for _tid, _k, text in changed)
    flush()


def _stored_body(parts: list[str]) -> str:
    """The body stored parts were split from (:func:`_split` cuts at a space and drops it),
    so a batch appends to a long ticket's document without reading its messages."""
    return " ".join(doc.partition("\n")[2] for doc in parts)


def _last_parts(conn: Connection, ids: list[int]) -> Iterator[tuple[int, tuple[int, str]]]:
    """(ticket id, (number of its last part, that part)) of the tickets that have a document."""
    if not ids:
        return
    if conn.dialect.name == "sqlite":
        sql = (
            "SELECT rowid, doc FROM search_fts WHERE rowid BETWEEN ? AND ? "
            "ORDER BY rowid DESC LIMIT 1"
        )
        with _cursor(conn) as cur:
            for tid in ids:
                for rowid, doc in cur.execute(sql, (tid * PARTS, tid * PARTS + PARTS - 1)):
                    yield tid, (rowid - tid * PARTS, doc)
        return
    q = sa.text(
        "SELECT DISTINCT ON (ticket_id) ticket_id, part, doc FROM search_docs "
        "WHERE ticket_id = ANY(:ids) ORDER BY ticket_id, part DESC"
    )
    for tid, part, doc in conn.execute(q, {"ids": list(ids)}):
        yield tid, (part, doc)


@contextmanager
def _cursor(conn: Connection) -> Iterator[Any]:
    """The driver's own cursor, in the connection's transaction: a look-up per ticket
    costs SQLite microseconds, and SQLAlchemy's statement handling many times that."""
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cur
    except conn.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
        # as SQLAlchemy would raise it, so the store reports it as it does every failure
        raise sa.exc.OperationalError("SELECT … FROM search_fts", None, exc) from exc
    finally:
        cur.close()


def _last_ticket_indexed(conn: Connection) -> int:
    if conn.dialect.name == "sqlite":
        q = "SELECT rowid FROM search_fts ORDER BY rowid DESC LIMIT 1"
        rowid = conn.exec_driver_sql(q).scalar()
        return -1 if rowid is None else rowid // PARTS
    top = conn.execute(sa.text("SELECT max(ticket_id) FROM search_docs")).scalar()
    return -1 if top is None else top


def _first(item: tuple[Any, ...]) -> Any:
    return item[0]


def _stored_docs(conn: Connection, ids: list[int]) -> Iterator[tuple[int, str]]:
    """The document parts of these tickets, in part order."""
    if not ids:
        return
    if conn.dialect.name == "sqlite":
        sql = "SELECT rowid, doc FROM search_fts WHERE rowid BETWEEN ? AND ? ORDER BY rowid"
        with _cursor(conn) as cur:
            for tid in ids:
                for _rowid, doc in cur.execute(sql, (tid * PARTS, tid * PARTS + PARTS - 1)):
                    yield tid, doc
        return
    q = sa.text(
        "SELECT ticket_id, doc FROM search_docs WHERE ticket_id = ANY(:ids) ORDER BY ticket_id, part"
    )
    yield from conn.execute(q, {"ids": list(ids)})


def index_missing(conn: Connection, limit: int | None = None) -> int:
    """Index tickets that have no document yet (a store imported before search existed)."""
    t = TICKETS.c
    if conn.dialect.name == "sqlite":
        have = sa.select(sa.literal_column("rowid / 16")).select_from(sa.table("search_fts"))
    else:
        have = sa.select(sa.column("ticket_id")).select_from(sa.table("search_docs"))
    q = sa.select(t.id).where(t.id.not_in(have)).order_by(t.id)
    if limit:
        q = q.limit(limit)
    return index_tickets(conn, list(conn.execute(q).scalars()))


def _documents(conn: Connection, ids: list[int]) -> Iterator[tuple[int, list[str]]]:
    t, m = TICKETS.c, MESSAGES.c
    heads: dict[int, list[str]] = {}
    people: dict[int, set[int]] = {}
    for tid, subject, req in conn.execute(
        sa.select(t.id, t.subject, t.requester_id).where(t.id.in_(ids))
    ):
        heads[tid] = [subject or ""]
        people[tid] = {req} if req else set()
    bodies: dict[int, list[str]] = {tid: [] for tid in heads}
    sizes = dict.fromkeys(heads, 0)
    for tid, author, subject, text, html in conn.execute(
        sa.select(m.ticket_id, m.author_id, m.subject, m.body_text, m.body_html)
        .where(m.ticket_id.in_(ids))
        .order_by(m.ticket_id, m.id)  # the order an import appends in (index_added)
    ):
        if tid not in heads:
            continue
        if author:
            people[tid].add(author)
        if sizes[tid] > DOC_CHARS:
            continue  # past what the document's parts hold: a long ticket's text is not kept
        own = subject if subject and subject != heads[tid][0] else ""
        for raw in (own, message_text(text, html)):
            piece = normalise(raw) if raw else ""
            if piece:
                bodies[tid].append(piece)
                sizes[tid] += len(piece) + 1
    names = _people_text(conn, {p for s in people.values() for p in s})
    for tid, head in heads.items():
        header = normalise(" ".join(head + [names.get(p, "") for p in sorted(people[tid])]))
        # normalised one message at a time: the same words, single spaces, as the whole text
        yield tid, _split(header, " ".join(bodies[tid]))


def _people_text(conn: Connection, ids: set[int]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    if not ids:
        return {}
    p, e = PEOPLE.c, EMAILS.c
    pids = sorted(ids)
    sqlite = conn.dialect.name == "sqlite"  # straight to the driver: see provenance.marks
    for i in range(0, len(pids), 500):
        chunk = pids[i : i + 500]
        if sqlite:
            ask, args = marks(len(chunk)), tuple(chunk)
            names = conn.exec_driver_sql(f"SELECT id, name FROM people WHERE id IN ({ask})", args)
        else:
            names = conn.execute(sa.select(p.id, p.name).where(p.id.in_(chunk)))
        for pid, name in names:
            out.setdefault(pid, []).append(name or "")
        if sqlite:
            sql = f"SELECT person_id, email FROM person_emails WHERE person_id IN ({ask})"
            emails = conn.exec_driver_sql(sql, args)
        else:
            emails = conn.execute(sa.select(e.person_id, e.email).where(e.person_id.in_(chunk)))
        for pid, email in emails:
            out.setdefault(pid, []).append(email)
    return {pid: " ".join(v) for pid, v in out.items()}


def _split(header: str, body: str, limit: int = PARTS) -> list[str]:
    """The header (subject, people) goes into every part, so each part matches on its own;
    ``limit`` parts at most."""
    room = max(PART_CHARS - len(header), 1000)
    if len(body) <= room:
        return [f"{header}\n{body}"]
    parts: list[str] = []
    start = 0
    while start < len(body) and len(parts) < limit:
        end = min(len(body), start + room)
        if end < len(body):
            cut = body.rfind(" ", start, end)
            end = cut if cut > start else end
        parts.append(f"{header}\n{body[start:end]}")
        start = end + 1
    return parts


def _delete(conn: Connection, ids: list[int]) -> None:
    if not ids:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "DELETE FROM search_fts WHERE rowid BETWEEN ? AND ?",
            [(tid * PARTS, tid * PARTS + PARTS - 1) for tid in ids],
        )
    else:
        conn.execute(
            sa.text("DELETE FROM search_docs WHERE ticket_id = ANY(:ids)"), {"ids": list(ids)}
        )


def _delete_parts(conn: Connection, parts: list[tuple[int, int]]) -> None:
    if not parts:
        return
    if conn.dialect.name == "sqlite":
        sql = "DELETE FROM search_fts WHERE rowid = ?"
        conn.exec_driver_sql(sql, [(tid * PARTS + n,) for tid, n in parts])
    else:
        conn.execute(
            sa.text("DELETE FROM search_docs WHERE ticket_id = :t AND part = :p"),
            [{"t": tid, "p": n} for tid, n in parts],
        )


def _insert(conn: Connection, rows: list[tuple[int, int, str]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "INSERT INTO search_fts (rowid, doc) VALUES (?, ?)",
            [(tid * PARTS + n, doc) for tid, n, doc in rows],
        )
    else:
        conn.execute(
            sa.text("INSERT INTO search_docs (ticket_id, part, doc) VALUES (:t, :p, :d)"),
            [{"t": tid, "p": n, "d": doc} for tid, n, doc in rows],
        )


# -- querying ------------------------------------------------------------------------
def matching_ids(dialect: str, words: list[str]) -> Any:
    """A SELECT of ticket ids whose document holds every word (as a prefix)."""
    if dialect == "sqlite":
        match = " ".join(f'"{w}"*' for w in words)
        return (
            sa.text(
                "SELECT DISTINCT rowid / 16 AS ticket_id FROM search_fts WHERE search_fts MATCH :match"
            )
            .bindparams(match=match)
            .columns(ticket_id=sa.Integer)
        )
    query = " & ".join(f"{w}:*" for w in words)
    return (
        sa.text(
            "SELECT DISTINCT ticket_id FROM search_docs WHERE tsv @@ to_tsquery('simple', :query)"
        )
        .bindparams(query=query)
        .columns(ticket_id=sa.Integer)
    )


def first_matches(conn: Connection, words: list[str], limit: int) -> list[int]:
    """Ticket ids of up to ``limit`` documents holding every word (as a prefix)."""
    if conn.dialect.name == "sqlite":
        match = " ".join(f'"{w}"*' for w in words)
        rows = conn.exec_driver_sql(
            "SELECT rowid FROM search_fts WHERE search_fts MATCH ? LIMIT ?", (match, limit)
        ).scalars()
        return [rowid // PARTS for rowid in rows]
    query = " & ".join(f"{w}:*" for w in words)
    return list(
        conn.execute(
            sa.text(
                "SELECT ticket_id FROM search_docs WHERE tsv @@ to_tsquery('simple', :query) "
                "LIMIT :n"
            ),
            {"query": query, "n": limit},
        ).scalars()
    )
