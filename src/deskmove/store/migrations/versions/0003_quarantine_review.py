"""quarantine review: what an item is, how to retry it, and how it was resolved

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:20:00

``deskmove quarantine`` lists, retries and drops quarantined items. Each item now
keeps the record it would have become (``kind`` + ``native_id``, when the source
could read that much), what its source needs to run it again (``context``), and,
once resolved, how (``resolution``: imported or dropped), why (``note``) and when.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("native_id", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("context", json, nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_quarantine_item", ["connection", "kind", "native_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_item")
        for name in ("resolved_at", "note", "resolution", "context", "native_id", "kind"):
            batch_op.drop_column(name)
