"""Full-text search over tickets: subjects, message text and people, without diacritics.

Each ticket has one document (split in parts past ``PART_CHARS``) of text that
:func:`normalise` has already folded: lower case, diacritics removed, letters
such as ``ł`` or ``ß`` spelled out, everything but word characters turned into
single spaces. So ``zlutoucky`` finds ``Žluťoučký`` on both stores:

- SQLite: an FTS5 table ``search_fts`` (rowid = ticket id × 16 + part);
- PostgreSQL: ``search_docs`` with a generated ``tsvector`` ('simple' config)
  under a GIN index.

Imports keep it current: the ingestor calls :func:`index_tickets` for the
tickets a batch touched, in the batch's transaction; the workspace does the
same for its notes and replies. :func:`index_missing` catches up a store
imported before the index existed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import Message, Person, PersonEmail, Ticket

T_TICKET = Ticket.__table__
T_MESSAGE = Message.__table__
T_PERSON = Person.__table__
T_EMAIL = PersonEmail.__table__

PARTS = 16  # documents per ticket at most (SQLite rowid = ticket id * PARTS + part)
PART_CHARS = 200_000  # a tsvector must stay under 1 MB
MESSAGE_CHARS = 20_000  # of one message's text
MAX_TERMS = 8
CHUNK = 200

# Letters Unicode does not decompose into a base letter plus a mark.
_FOLD = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ß": "ss", "æ": "ae", "œ": "oe",
     "ı": "i", "ħ": "h", "ŧ": "t", "ŀ": "l"}
)  # fmt: skip
_WORD = re.compile(r"\w+")


class _Plain(dict):
    """A translate table: the letters in ``_FOLD`` spelled out, combining marks dropped
    (looked up once per code point; an import normalises every message it writes)."""

    def __missing__(self, code: int) -> int | None:
        value = None if unicodedata.combining(chr(code)) else code
        self[code] = value
        return value


_PLAIN = _Plain(_FOLD)


def normalise(text: str) -> str:
    """Lower case, no diacritics, words separated by single spaces."""
    if text.isascii():  # no marks to drop, nothing to decompose
        plain = text.lower()
    else:
        plain = unicodedata.normalize("NFKD", text.casefold()).translate(_PLAIN)
    return " ".join(_WORD.findall(plain)).replace("_", " ")


def terms(query: str) -> list[str]:
    """The words of a search query, normalised like the documents (at most ``MAX_TERMS``)."""
    return normalise(query).split()[:MAX_TERMS]


# -- indexing ------------------------------------------------------------------------
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


def index_missing(conn: Connection, limit: int | None = None) -> int:
    """Index tickets that have no document yet (a store imported before search existed)."""
    t = T_TICKET.c
    if conn.dialect.name == "sqlite":
        have = sa.select(sa.literal_column("rowid / 16")).select_from(sa.table("search_fts"))
    else:
        have = sa.select(sa.column("ticket_id")).select_from(sa.table("search_docs"))
    q = sa.select(t.id).where(t.id.not_in(have)).order_by(t.id)
    if limit:
        q = q.limit(limit)
    return index_tickets(conn, list(conn.execute(q).scalars()))


def _documents(conn: Connection, ids: list[int]) -> Iterator[tuple[int, list[str]]]:
    t, m = T_TICKET.c, T_MESSAGE.c
    heads: dict[int, list[str]] = {}
    people: dict[int, set[int]] = {}
    for tid, subject, req in conn.execute(
        sa.select(t.id, t.subject, t.requester_id).where(t.id.in_(ids))
    ):
        heads[tid] = [subject or ""]
        people[tid] = {req} if req else set()
    bodies: dict[int, list[str]] = {tid: [] for tid in heads}
    for tid, author, subject, text, html in conn.execute(
        sa.select(m.ticket_id, m.author_id, m.subject, m.body_text, m.body_html)
        .where(m.ticket_id.in_(ids))
        .order_by(m.ticket_id, m.created_at, m.id)
    ):
        if tid not in heads:
            continue
        if author:
            people[tid].add(author)
        if not text and html:
            from deskmove.mail.html import to_text

            text = to_text(html)
        if subject and subject != heads[tid][0]:
            bodies[tid].append(subject)
        if text:
            bodies[tid].append(text[:MESSAGE_CHARS])
    names = _people_text(conn, {p for s in people.values() for p in s})
    for tid, head in heads.items():
        header = normalise(" ".join(head + [names.get(p, "") for p in sorted(people[tid])]))
        yield tid, _split(header, normalise("\n".join(bodies[tid])))


def _people_text(conn: Connection, ids: set[int]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    if not ids:
        return {}
    p, e = T_PERSON.c, T_EMAIL.c
    pids = sorted(ids)
    for i in range(0, len(pids), 500):
        chunk = pids[i : i + 500]
        for pid, name in conn.execute(sa.select(p.id, p.name).where(p.id.in_(chunk))):
            out.setdefault(pid, []).append(name or "")
        for pid, email in conn.execute(
            sa.select(e.person_id, e.email).where(e.person_id.in_(chunk))
        ):
            out.setdefault(pid, []).append(email)
    return {pid: " ".join(v) for pid, v in out.items()}


def _split(header: str, body: str) -> list[str]:
    """The header (subject, people) goes into every part, so each part matches on its own."""
    room = max(PART_CHARS - len(header), 1000)
    if len(body) <= room:
        return [f"{header} {body}".strip()]
    parts: list[str] = []
    start = 0
    while start < len(body) and len(parts) < PARTS:
        end = min(len(body), start + room)
        if end < len(body):
            cut = body.rfind(" ", start, end)
            end = cut if cut > start else end
        parts.append(f"{header} {body[start:end]}".strip())
        start = end + 1
    return parts


def _delete(conn: Connection, ids: list[int]) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "DELETE FROM search_fts WHERE rowid BETWEEN ? AND ?",
            [(tid * PARTS, tid * PARTS + PARTS - 1) for tid in ids],
        )
    else:
        conn.execute(
            sa.text("DELETE FROM search_docs WHERE ticket_id = ANY(:ids)"), {"ids": list(ids)}
        )


def _insert(conn: Connection, rows: list[tuple[int, int, str]]) -> None:
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
        return sa.text("SELECT DISTINCT rowid / 16 AS ticket_id FROM search_fts WHERE search_fts MATCH :match").bindparams(match=match).columns(ticket_id=sa.Integer)  # fmt: skip
    query = " & ".join(f"{w}:*" for w in words)
    return (
        sa.text(
            "SELECT DISTINCT ticket_id FROM search_docs WHERE tsv @@ to_tsquery('simple', :query)"
        )
        .bindparams(query=query)
        .columns(ticket_id=sa.Integer)
    )
