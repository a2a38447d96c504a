"""small blobs (raw mails, attachments) kept in the database instead of one file each

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 05:40:00

Writing one file per raw mail cost more CPU than parsing the mail. Blobs up to
``deskmove.blobs.INLINE_MAX`` now live in ``blobs`` (sha256 -> bytes; ``bytea`` on
PostgreSQL), written in the same transaction as the rows that name them; larger
ones stay files in the blob folder. Blobs written as files before stay there and
are still read: nothing is moved.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blobs")
