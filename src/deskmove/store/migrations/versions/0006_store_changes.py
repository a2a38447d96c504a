"""a change counter the workspace's caches check

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:55:00

``store_changes`` holds one counter per kind of change (today: ``tickets``),
raised as the last statement of every transaction that changes tickets: each
import batch and each workspace change. The workspace caches the list's counts
per status and reads this one row to know whether they are still true (see
deskmove.store.changes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "store_changes",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"name": "tickets", "n": 0}])


def downgrade() -> None:
    op.drop_table("store_changes")
