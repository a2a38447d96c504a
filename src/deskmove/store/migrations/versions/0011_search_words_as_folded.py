"""search index on SQLite: the words as deskmove folded them, split at spaces only

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:40:00

Every search document and every query is folded by ``deskmove.textfold.normalise``
before SQLite sees it: lower case, no diacritics, words of letters and digits
separated by single spaces. The FTS5 table still used the ``unicode61`` tokenizer
with ``remove_diacritics 2``, which looked up every character of that text in
Unicode tables again, to fold what was already folded: more than half of the
index's CPU time in an import. It also split words at letters newer than its
tables (Cherokee, Tifinagh, many Brahmic letters), and lower-cased some of them,
so its words were not quite the folded ones.

The ``ascii`` tokenizer splits at ASCII characters that are not letters or digits
(only the space, in folded text) and keeps every other character as it is: the
index's words are then exactly the folded words, and tokenizing costs less than
half. This migration copies every document into a table with that tokenizer,
which then takes the old one's name, in the same transaction. PostgreSQL's
``search_docs`` (a 'simple' tsvector) is unchanged.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _rebuild(tokenize: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE VIRTUAL TABLE search_fts_retoken USING fts5(doc, tokenize = '{tokenize}')")
    op.execute("INSERT INTO search_fts_retoken (rowid, doc) SELECT rowid, doc FROM search_fts")
    op.execute("DROP TABLE search_fts")
    op.execute("ALTER TABLE search_fts_retoken RENAME TO search_fts")


def upgrade() -> None:
    _rebuild("ascii")


def downgrade() -> None:
    _rebuild("unicode61 remove_diacritics 2")
