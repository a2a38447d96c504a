"""SQLite: the ticket list's (updated_at, id) and (created_at, id) indexes go, duplicates

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 06:30:00

On SQLite every index entry ends with the row's rowid, and a ticket's ``id`` is its
rowid: the index on ``updated_at`` already holds (updated_at, id) in that order, entry
for entry what ``ix_tickets_updated_id`` held, and the same for ``created_at``. The
planner walks the single-column index for the list's keyset pages (``ORDER BY
updated_at DESC, id DESC`` and the ``(updated_at, id) < (?, ?)`` cursor) as it walked
the pair, so the pair only cost every ticket insert and every ``updated_at`` change two
more index writes (a quarter of a ticket insert's time) and the store their pages.

On PostgreSQL the two differ from the single-column ones (``DESC NULLS LAST``) and stay.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

DUPLICATES = {"ix_tickets_updated_id": "updated_at, id", "ix_tickets_created_id": "created_at, id"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in DUPLICATES:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, cols in DUPLICATES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON tickets ({cols})")
