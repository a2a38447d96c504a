"""Full-text search over tickets: subjects, message text and people, without diacritics.

Each ticket has one document of text that :func:`normalise` has already folded:
lower case, diacritics removed, letters such as ``ł`` or ``ß`` spelled out,
everything but word characters turned into single spaces. So ``zlutoucky``
finds ``Žluťoučký`` on both stores:

- SQLite: an FTS5 table ``search_fts`` (rowid = ticket id × ``PARTS`` + part) with
  the ``ascii`` tokenizer, which splits at the spaces and changes nothing else, so
  its words are the folded words (``unicode61`` folded them again, at twice the cost);
- PostgreSQL: ``search_docs`` with a generated ``tsvector`` ('simple' config)
  under a GIN index.

A document is stored in parts: part 0 is the header (the ticket's subject and
people), a line break and the first ``PART_CHARS`` characters of the body (each
message's subject where it differs and its text, in the order stored); each
further part is the next ``PART_CHARS`` of the body. A search finds the tickets
that hold every word in some part (one match per word, intersected), so the
header is written once, and what a batch rewrites for a ticket is bounded by two
parts: the header's, when a new person joins, and the last one, which its new
text is appended to.

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

PARTS = 256  # parts per ticket at most (SQLite rowid = ticket id * PARTS + part)
PART_CHARS = 12_500  # of body text per part: at most what a batch rewrites to append
HEADER_CHARS = 100_000  # of the header at most (a part's tsvector must stay under 1 MB)
DOC_CHARS = PARTS * (PART_CHARS + 1)  # of a ticket's body at most go into its parts
MAX_TERMS = 8
CHUNK = 200
HELD_CHARS = 8_000_000  # of new document text held before it is written (see _index_added)


def terms(query: str) -> list[str]:
    """The words of a search query, normalised like the documents (at most ``MAX_TERMS``)."""
    return normalise(query).split()[:MAX_TERMS]


# -- indexing ------------------------------------------------------------------------
# A document is its header (the ticket's subject and people), a line break, and its body:
# each message's subject where it differs from the ticket's, and its text, in the order
# the messages were stored. The body is cut into parts of ``PART_CHARS`` (at a space) from
# its start, so a batch appends to a document by re-cutting only its last part: the parts
# come out as a rebuild from the ticket's messages would make them.
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
    batch's messages appended to its last part, and its first part a new header when the
    subject or people changed. So the work and memory per ticket are bounded by two
    parts' size, never by how many messages the ticket has or how long its document is;
    only the parts that change are written. A document whose ``PARTS`` parts are full
    takes no more than fits at the end of its last one (a rebuild would drop the new text;
    the stored parts no longer say where the ticket's text ended beyond them). Only a
    document that cannot be extended (none yet, or written before the header had its own
    line) is rebuilt from the ticket's messages.
    """
    ids = sorted(added)
    for i in range(0, len(ids), CHUNK):
        _index_added(conn, {tid: added[tid] for tid in ids[i : i + CHUNK]})


def _index_added(conn: Connection, added: dict[int, NewText]) -> None:
    ends = dict(_ends(conn, [tid for tid, new in added.items() if not new.fresh]))
    rebuild = {
        tid
        for tid, new in added.items()
        if not new.fresh and (tid not in ends or "\n" not in ends[tid][0])
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
        header = _header(subject or "", [names.get(p, "") for p in sorted(people[tid])])
        pieces = []
        for _mid, _author, rec in sorted(new.messages, key=_first):
            folded = rec.folded or fold_message(rec.subject, rec.body_text, rec.body_html)
            if rec.subject and rec.subject != (subject or ""):
                pieces.append(folded[0])
            pieces.append(folded[1])
        if tid not in ends:
            if tid <= top:
                whole.append(tid)
            parts = _split(header, _join([], pieces))
            rows += [(tid, n, text) for n, text in enumerate(parts)]
            held += sum(map(len, parts))
            continue
        # A stored document: its parts before the last stay as they are; the first gets the
        # new header if the subject or people changed. No message is read back, and only the
        # parts that change are written.
        zero, n, last = ends[tid]
        stored_header, _, zero_body = zero.partition("\n")
        if n == 0:
            parts = _split(header, _join([zero_body], pieces))
        else:
            parts = _chunks(_join([last], pieces), PARTS - n)
            if header != stored_header:
                parts.insert(0, f"{header}\n{zero_body}")
            else:
                parts.insert(0, zero)
        old = {0: zero, n: last}
        numbered = [(0, parts[0]), *enumerate(parts[1:], max(n, 1))]
        changed = [(tid, k, text) for k, text in numbered if old.get(k) != text]
        rows += changed
        parts_gone += [(tid, k) for _tid, k, _text in changed if k in old]
        held += sum(len(text) for _tid, _k, text in changed)
    flush()


def _join(stored: list[str], pieces: list[str]) -> str:
    """A body: what is stored of it (its last part), then a batch's new pieces."""
    return " ".join(p for p in [*stored, *pieces] if p)


def _ends(conn: Connection, ids: list[int]) -> Iterator[tuple[int, tuple[str, int, str]]]:
    """(ticket id, (its first part, the number of its last part, that part)) of the
    tickets that have a document: all a batch needs to append to it."""
    if not ids:
        return
    if conn.dialect.name == "sqlite":
        last_sql = (
            "SELECT rowid, doc FROM search_fts WHERE rowid BETWEEN ? AND ? "
            "ORDER BY rowid DESC LIMIT 1"
        )
        zero_sql = "SELECT doc FROM search_fts WHERE rowid = ?"
        with _cursor(conn) as cur:
            for tid in ids:
                for rowid, doc in cur.execute(last_sql, (tid * PARTS, tid * PARTS + PARTS - 1)):
                    n = rowid - tid * PARTS
                    zero = doc
                    if n:
                        found = cur.execute(zero_sql, (tid * PARTS,)).fetchone()
                        zero = found[0] if found else ""  # no first part: rebuilt
                    yield tid, (zero, n, doc)
        return
    q = sa.text(
        "SELECT d.ticket_id, d.part, d.doc FROM search_docs d JOIN (SELECT ticket_id, "
        "max(part) AS top FROM search_docs WHERE ticket_id = ANY(:ids) GROUP BY ticket_id) l "
        "ON d.ticket_id = l.ticket_id AND (d.part = 0 OR d.part = l.top) ORDER BY 1, 2"
    )
    got: dict[int, dict[int, str]] = {}
    for tid, part, doc in conn.execute(q, {"ids": list(ids)}):
        got.setdefault(tid, {})[part] = doc
    for tid, docs in got.items():
        n = max(docs)
        yield tid, (docs.get(0, ""), n, docs[n])


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


def index_missing(conn: Connection, limit: int | None = None) -> int:
    """Index tickets that have no document yet (a store imported before search existed)."""
    t = TICKETS.c
    if conn.dialect.name == "sqlite":
        rowids = sa.literal_column(f"rowid / {PARTS}")
        have = sa.select(rowids).select_from(sa.table("search_fts"))
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
        header = _header(head[0], [names.get(p, "") for p in sorted(people[tid])])
        # normalised one message at a time: the same words, single spaces, as the whole text
        yield tid, _split(header, " ".join(bodies[tid]))


def _header(subject: str, names: list[str]) -> str:
    """A document's first line: the ticket's subject and its people's names and addresses
    (``HEADER_CHARS`` at most, cut at a space)."""
    header = normalise(" ".join([subject, *names]))
    if len(header) > HEADER_CHARS:
        cut = header.rfind(" ", 0, HEADER_CHARS + 1)
        header = header[: cut if cut > 0 else HEADER_CHARS]
    return header


def _people_text(conn: Connection, ids: set[int]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    if not ids:
        return {}
    p, e = PEOPLE.c, EMAILS.c
    pids = sorted(ids)
    for i in range(0, len(pids), 500):
        chunk = pids[i : i + 500]
        for pid, name in select_in(conn, (p.id, p.name), p.id, chunk):
            out.setdefault(pid, []).append(name or "")
        for pid, email in select_in(conn, (e.person_id, e.email), e.person_id, chunk):
            out.setdefault(pid, []).append(email)
    return {pid: " ".join(v) for pid, v in out.items()}


def _split(header: str, body: str, limit: int | None = None) -> list[str]:
    """A document's parts: the header, a line break and the body's first chunk; then the
    body's further chunks (``limit`` parts at most, ``PARTS`` by default)."""
    first, *rest = _chunks(body, PARTS if limit is None else limit)
    return [f"{header}\n{first}", *rest]


def _chunks(body: str, limit: int) -> list[str]:
    """The body cut into pieces of ``PART_CHARS`` at most, each at a space (which is
    dropped) where there is one; ``limit`` pieces at most, at least one. Cut greedily from
    the start, so cutting a body's last piece with text appended gives the pieces that
    cutting the whole would."""
    if len(body) <= PART_CHARS:
        return [body]
    pieces: list[str] = []
    start, size = 0, len(body)
    while start < size and len(pieces) < limit:
        end = start + PART_CHARS
        if end >= size:
            pieces.append(body[start:])
            break
        cut = body.rfind(" ", start + 1, end + 1)
        if cut > start:
            pieces.append(body[start:cut])
            start = cut + 1
        else:  # one word longer than a part: cut inside it, nothing dropped
            pieces.append(body[start:end])
            start = end
    return pieces


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
# A ticket matches when each word (as a prefix) is in one of its parts: one match per word,
# intersected by ticket.
def _match_sql(dialect: str, words: list[str]) -> tuple[str, dict[str, str]]:
    if dialect == "sqlite":
        one = f"SELECT rowid / {PARTS} AS ticket_id FROM search_fts WHERE search_fts MATCH :w{{}}"
        args = {f"w{i}": f'"{w}"*' for i, w in enumerate(words)}
    else:
        one = "SELECT ticket_id FROM search_docs WHERE tsv @@ to_tsquery('simple', :w{})"
        args = {f"w{i}": f"{w}:*" for i, w in enumerate(words)}
    if len(words) == 1:  # a ticket may come once per part holding the word (IN, set() dedupe)
        return one.format(0), args
    return " INTERSECT ".join(one.format(i) for i in range(len(words))), args


def matching_ids(dialect: str, words: list[str]) -> Any:
    """A SELECT of the ids of the tickets that hold every word (as a prefix)."""
    sql, args = _match_sql(dialect, words)
    return sa.text(sql).bindparams(**args).columns(ticket_id=sa.Integer)


def first_matches(conn: Connection, words: list[str], limit: int) -> list[int]:
    """Ids of tickets that hold every word (as a prefix), ``limit`` rows at most: for one
    word a ticket is there once per part that holds it (as many rows, so more than
    ``limit`` tickets are never returned)."""
    sql, args = _match_sql(conn.dialect.name, words)
    return list(conn.execute(sa.text(f"{sql} LIMIT :n"), {**args, "n": limit}).scalars())
