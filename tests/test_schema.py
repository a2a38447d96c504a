"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import deskmove.model  # noqa: F401 - registers the core tables on SQLModel.metadata
import deskmove.store.webmodel  # noqa: F401 - and the workspace's

# Made by migration 0004 in raw DDL, differently per database on purpose: the workspace's
# full-text index (an FTS5 table on SQLite, a tsvector table on PostgreSQL) and its ticket
# list indexes (DESC NULLS LAST on PostgreSQL). No model describes them.
RAW_DDL_TABLES = ("search_fts", "search_docs")
RAW_DDL_INDEXES = {
    "ix_tickets_updated_id",
    "ix_tickets_created_id",
    "ix_tickets_status_updated",
    "ix_tickets_assignee_updated",
    "ix_search_docs_tsv",
}


def _compared(obj: Any, name: str | None, kind: str, reflected: bool, _other: Any) -> bool:
    if kind == "table" and name and name.startswith(RAW_DDL_TABLES):
        return False
    return not (kind == "index" and name in RAW_DDL_INDEXES)


def test_the_migrations_yield_the_models_schema(any_store):
    with any_store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": _compared}
        )
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], "\n".join(map(str, diff))


def test_a_column_missing_from_the_migrations_is_found(store):
    import sqlalchemy as sa

    with store.engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE "messages" DROP COLUMN "origin_id"')
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _compared})
        diff = compare_metadata(context, SQLModel.metadata)
    assert [d[0] for d in diff] == ["add_column"] and diff[0][3].name == "origin_id"
    assert isinstance(diff[0][3], sa.Column)
