"""the workspace: accounts, sessions, login throttling, presence, reply drafts, search index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:15:00

Search: SQLite gets an FTS5 table (unicode61 tokenizer, diacritics removed),
PostgreSQL a table of documents with a generated ``tsvector`` column under a
GIN index. Both hold text deskmove already normalised (lower case, no
diacritics), so the same query finds the same tickets on both. Tickets already
in the store are indexed by ``deskmove serve`` when it starts (see
deskmove.store.search.index_missing).

Ticket-list indexes: keyset pagination walks (updated_at, id) and
(created_at, id), optionally per status.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(), nullable=False, unique=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(), nullable=True),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("created_at", TS, nullable=True),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("web_users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("csrf", sa.String(), nullable=False),
        sa.Column("created_at", TS, nullable=True),
        sa.Column("seen_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
    )
    op.create_table(
        "web_login_failures",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", TS, nullable=True),
    )
    op.create_table(
        "web_presence",
        sa.Column("ticket_id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), primary_key=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("seen_at", TS, nullable=True, index=True),
    )
    json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.create_table(
        "web_drafts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), nullable=False, index=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("form_token", sa.String(), nullable=False, unique=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("to", json, nullable=False),
        sa.Column("cc", json, nullable=False),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("mail_id", sa.String(), nullable=False),
        sa.Column("in_reply_to", sa.String(), nullable=True),
        sa.Column("references", json, nullable=False),
        sa.Column("seen_upto", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("message_row_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=True),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "doc, tokenize = 'unicode61 remove_diacritics 2')"
        )
        op.create_index("ix_tickets_updated_id", "tickets", ["updated_at", "id"])
        op.create_index("ix_tickets_created_id", "tickets", ["created_at", "id"])
        op.create_index("ix_tickets_status_updated", "tickets", ["status", "updated_at", "id"])
        op.create_index("ix_tickets_assignee_updated", "tickets", ["assignee_id", "updated_at"])
    else:
        op.execute(
            "CREATE TABLE search_docs (ticket_id integer NOT NULL, part integer NOT NULL, "
            "doc text NOT NULL, tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', doc)) "
            "STORED, PRIMARY KEY (ticket_id, part))"
        )
        op.execute("CREATE INDEX ix_search_docs_tsv ON search_docs USING gin (tsv)")
        for name, cols in (
            ("ix_tickets_updated_id", "updated_at DESC NULLS LAST, id DESC"),
            ("ix_tickets_created_id", "created_at DESC NULLS LAST, id DESC"),
            ("ix_tickets_status_updated", "status, updated_at DESC NULLS LAST, id DESC"),
            ("ix_tickets_assignee_updated", "assignee_id, updated_at DESC NULLS LAST"),
        ):
            op.execute(f"CREATE INDEX {name} ON tickets ({cols})")


def downgrade() -> None:
    for name in (
        "ix_tickets_assignee_updated",
        "ix_tickets_status_updated",
        "ix_tickets_created_id",
        "ix_tickets_updated_id",
    ):
        op.drop_index(name, table_name="tickets")
    bind = op.get_bind()
    op.execute(
        "DROP TABLE search_fts" if bind.dialect.name == "sqlite" else "DROP TABLE search_docs"
    )
    for table in ("web_drafts", "web_presence", "web_login_failures", "web_sessions", "web_users"):
        op.drop_table(table)
