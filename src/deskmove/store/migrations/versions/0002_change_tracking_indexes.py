"""indexes for delta sync: what changed since a target's last push, and pending id-map entries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:30:00

``deskmove sync`` finds what changed since a target's last push with
``provenance.run_id > watermark``; without an index that is a scan of every
provenance row on every cron run.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_provenance_run", "provenance", ["run_id"])
    op.create_index("ix_id_map_state", "id_map", ["connection", "state"])
    op.create_index("ix_id_map_run", "id_map", ["connection", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_id_map_run", table_name="id_map")
    op.drop_index("ix_id_map_state", table_name="id_map")
    op.drop_index("ix_provenance_run", table_name="provenance")
