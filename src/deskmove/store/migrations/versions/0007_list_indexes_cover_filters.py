"""the ticket list's indexes carry the filter columns

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00

A list filtered by status, assignee and channel walked (status, updated_at) or
(assignee_id, updated_at) in order and read every ticket row to test the other
filters: 27,000 row reads on 100,000 tickets for "pending, unassigned, web"
(100-260 ms). With the assignee, channel and group in the index entries the
walk tests them there and reads only the rows it shows (0.2 ms).
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQLITE = {
    "ix_tickets_status_updated": "status, updated_at, id, assignee_id, channel, group_id",
    "ix_tickets_assignee_updated": "assignee_id, updated_at, id, status, channel, group_id",
}
POSTGRES = {
    "ix_tickets_status_updated": "status, updated_at DESC NULLS LAST, id DESC, assignee_id, channel, group_id",
    "ix_tickets_assignee_updated": "assignee_id, updated_at DESC NULLS LAST, id DESC, status, channel, group_id",
}
BEFORE_SQLITE = {
    "ix_tickets_status_updated": "status, updated_at, id",
    "ix_tickets_assignee_updated": "assignee_id, updated_at",
}
BEFORE_POSTGRES = {
    "ix_tickets_status_updated": "status, updated_at DESC NULLS LAST, id DESC",
    "ix_tickets_assignee_updated": "assignee_id, updated_at DESC NULLS LAST",
}


def _recreate(sqlite: dict[str, str], postgres: dict[str, str]) -> None:
    columns = sqlite if op.get_bind().dialect.name == "sqlite" else postgres
    for name, cols in columns.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON tickets ({cols})")


def upgrade() -> None:
    _recreate(SQLITE, POSTGRES)


def downgrade() -> None:
    _recreate(BEFORE_SQLITE, BEFORE_POSTGRES)
