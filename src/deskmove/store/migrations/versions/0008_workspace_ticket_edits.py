"""the ticket fields agents changed in the workspace, kept across imports

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:10:00

A source re-import used to overwrite every field it sends: an agent's
assignment, priority, status or tags were lost as soon as the customer
replied and the cron sync brought the reply in. ``web_ticket_edits`` holds,
per ticket and field an agent changed, the value the store had before that
change; the import keeps the agent's value while the source still says the
same as then.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_ticket_edits",
        sa.Column("ticket_id", sa.Integer(), primary_key=True),
        sa.Column("field", sa.String(), primary_key=True),
        sa.Column("before", sa.String(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("web_ticket_edits")
