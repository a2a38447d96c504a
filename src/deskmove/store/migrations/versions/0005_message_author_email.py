"""messages keep the address they were sent from

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:40:00

A person may write from several addresses; the canonical CSV export wrote each
message with the author's main address. ``author_email`` keeps the one the message
came from (empty for messages imported before: the main address is used).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_email", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("author_email")
