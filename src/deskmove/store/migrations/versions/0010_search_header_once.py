"""search documents: the header once, in the first part; parts of 12,500 characters

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:30:00

Every part of a ticket's search document used to repeat its header (subject and
people), in parts of up to 200,000 characters, 16 per ticket. So a new person in
a long conversation rewrote the whole document, and each batch that added a
message rewrote its last part of up to 200,000 characters: at 20,000 mails an
import wrote 450 MB of search text for 540 MB of mail. Now the header is in the
first part only, parts are 12,500 characters of body, up to 256 per ticket (the
same 3.2 million characters in all), and a search matches each word in any part
of a ticket (``deskmove.store.search``).

This migration cuts every stored document anew, in the same transaction: the
header and body are read back from the old parts (each repeats the header, then
a line break, then its piece of the body) and cut as a fresh index would cut
them. On SQLite the FTS5 table's rowid becomes ticket id × 256 + part, so the
rows go to a new table that takes the old one's name. A document written before
the header had its own line is copied as it was; the next import that adds to
its ticket rebuilds it, as before.

The cutting rules are written out here, not imported, so this migration keeps
doing what it did when the search module changes again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_PARTS, OLD_PART_CHARS = 16, 200_000
NEW_PARTS, NEW_PART_CHARS, HEADER_CHARS = 256, 12_500, 100_000
FTS = "USING fts5(doc, tokenize = 'unicode61 remove_diacritics 2')"
TSV = (
    "(ticket_id integer NOT NULL, part integer NOT NULL, doc text NOT NULL, tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', doc)) STORED, PRIMARY KEY (ticket_id, part))"
)
BATCH = 500


def _chunks(body: str, limit: int) -> list[str]:
    """deskmove.store.search._chunks as of this revision."""
    if len(body) <= NEW_PART_CHARS:
        return [body]
    pieces: list[str] = []
    start, size = 0, len(body)
    while start < size and len(pieces) < limit:
        end = start + NEW_PART_CHARS
        if end >= size:
            pieces.append(body[start:])
            break
        cut = body.rfind(" ", start + 1, end + 1)
        if cut > start:
            pieces.append(body[start:cut])
            start = cut + 1
        else:
            pieces.append(body[start:end])
            start = end
    return pieces


def _header(header: str) -> str:
    if len(header) > HEADER_CHARS:
        cut = header.rfind(" ", 0, HEADER_CHARS + 1)
        header = header[: cut if cut > 0 else HEADER_CHARS]
    return header


def _to_new(parts: list[str]) -> list[str]:
    """Parts that each repeat the header → the header once, then 12,500-character parts."""
    if "\n" not in parts[0]:
        return parts[:NEW_PARTS]
    header = _header(parts[0].partition("\n")[0])
    body = " ".join(b for b in (p.partition("\n")[2] for p in parts) if b)
    first, *rest = _chunks(body, NEW_PARTS)
    return [f"{header}\n{first}", *rest]


def _to_old(parts: list[str]) -> list[str]:
    """The reverse (downgrade): the header in every part, 200,000 characters each."""
    if "\n" not in parts[0]:
        return parts[:OLD_PARTS]
    header, _, first = parts[0].partition("\n")
    body = " ".join(b for b in [first, *parts[1:]] if b)
    room = max(OLD_PART_CHARS - len(header), 1000)
    if len(body) <= room:
        return [f"{header}\n{body}"]
    out: list[str] = []
    start = 0
    while start < len(body) and len(out) < OLD_PARTS:
        end = min(len(body), start + room)
        if end < len(body):
            cut = body.rfind(" ", start, end)
            end = cut if cut > start else end
        out.append(f"{header}\n{body[start:end]}")
        start = end + 1
    return out


def _documents(rows: Iterator[tuple[int, int, str]]) -> Iterator[tuple[int, list[str]]]:
    """(ticket id, its parts in order) from (ticket id, part, doc) rows in that order."""
    tid, parts = None, []
    for ticket, _part, doc in rows:
        if ticket != tid and parts:
            yield tid, parts  # type: ignore[misc]
            parts = []
        tid = ticket
        parts.append(doc)
    if parts:
        yield tid, parts  # type: ignore[misc]


def _recut(convert: Callable[[list[str]], list[str]], old: int, new: int) -> None:
    """Every document cut anew by ``convert`` into a new table, which then takes the old
    one's name (SQLite: rowid = ticket id × ``old`` before, × ``new`` after)."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute(f"CREATE VIRTUAL TABLE search_fts_recut {FTS}")
        read = bind.exec_driver_sql(
            f"SELECT rowid / {old}, rowid % {old}, doc FROM search_fts ORDER BY rowid"
        )
        insert = "INSERT INTO search_fts_recut (rowid, doc) VALUES (?, ?)"
    else:
        op.execute(f"CREATE TABLE search_docs_recut {TSV}")
        read = bind.exec_driver_sql(
            "SELECT ticket_id, part, doc FROM search_docs ORDER BY ticket_id, part",
            execution_options={"stream_results": True, "max_row_buffer": BATCH},
        )
        insert = "INSERT INTO search_docs_recut (ticket_id, part, doc) VALUES (%s, %s, %s)"
    rows: list[tuple] = []
    for tid, parts in _documents(iter(read)):
        for k, doc in enumerate(convert(parts)):
            rows.append((tid * new + k, doc) if sqlite else (tid, k, doc))
        if len(rows) >= BATCH:
            bind.exec_driver_sql(insert, rows)
            rows = []
    if rows:
        bind.exec_driver_sql(insert, rows)
    read.close()
    if sqlite:
        op.execute("DROP TABLE search_fts")
        op.execute("ALTER TABLE search_fts_recut RENAME TO search_fts")
        return
    op.execute("DROP TABLE search_docs")
    op.execute("ALTER TABLE search_docs_recut RENAME TO search_docs")
    op.execute(
        "ALTER TABLE search_docs RENAME CONSTRAINT search_docs_recut_pkey TO search_docs_pkey"
    )
    op.execute("CREATE INDEX ix_search_docs_tsv ON search_docs USING gin (tsv)")


def upgrade() -> None:
    _recut(_to_new, OLD_PARTS, NEW_PARTS)


def downgrade() -> None:
    _recut(_to_old, NEW_PARTS, OLD_PARTS)
