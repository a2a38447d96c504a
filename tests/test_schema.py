"""The Alembic migrations build exactly the schema the models describe, on both databases,
and a new SQLite store made from the schema file is the store the migrations build."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import deskmove.model  # noqa: F401 - registers the core tables on SQLModel.metadata
import deskmove.store.webmodel  # noqa: F401 - and the workspace's
from deskmove.store import Store, newstore
from deskmove.store.engine import current_revision, make_engine
from deskmove.store.revision import head_revision

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


# -- a new SQLite store from the schema file ------------------------------------------------
def _described(path: Path) -> tuple[list, dict, list]:
    """Everything of a SQLite store but where its pages lie: its objects in the order made
    (a shadow table's DDL without quotes: SQLite quotes it one way when it makes the table,
    another when it renames it), every table's rows, and the pragmas that outlive a session."""
    con = sqlite3.connect(path)
    try:
        objects = []
        for kind, name, table, sql in con.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
        ):
            if sql and name.startswith("search_fts_"):
                sql = sql.replace("'", "").replace('"', "")
            objects.append((kind, name, table, sql))
        rows = {
            name: con.execute(f'SELECT * FROM "{name}"').fetchall()  # noqa: S608
            for kind, name, _table, _sql in objects
            if kind == "table"
        }
        pragmas = [
            con.execute(f"PRAGMA {p}").fetchone()
            for p in ("page_size", "journal_mode", "user_version", "application_id", "encoding")
        ]
        return objects, rows, pragmas
    finally:
        con.close()


def _refuse_alembic(monkeypatch: pytest.MonkeyPatch) -> None:
    import alembic.command

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("Alembic ran")

    monkeypatch.setattr(alembic.command, "upgrade", refuse)


def test_the_schema_file_is_what_the_migrations_build(tmp_path: Path) -> None:
    built = newstore.build_with_migrations(tmp_path / "migrated.db")
    assert built == newstore.SCHEMA.read_text("utf-8"), (
        f"{newstore.SCHEMA.name} is out of date: run python -m deskmove.store.newstore"
    )


def test_a_new_store_from_the_file_is_the_store_the_migrations_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    newstore.build_with_migrations(tmp_path / "migrated.db")
    _refuse_alembic(monkeypatch)
    store = Store.open(f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "blobs")
    try:
        assert current_revision(store.engine) == head_revision() is not None
    finally:
        store.close()
    made, migrated = _described(tmp_path / "new.db"), _described(tmp_path / "migrated.db")
    assert made == migrated
    assert made[2][0] == (16384,) and ("alembic_version", "table") in {
        (name, kind) for kind, name, _t, _s in made[0]
    }


def test_without_an_up_to_date_schema_file_the_migrations_build_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = newstore.SCHEMA.read_text("utf-8")
    stale = tmp_path / "stale.sql"  # a migration added since the file was written
    stale.write_text(text.replace(f"-- revision: {head_revision()}", "-- revision: 0010"))
    ran: list[str] = []
    import alembic.command

    real = alembic.command.upgrade
    monkeypatch.setattr(
        alembic.command, "upgrade", lambda *a, **k: (ran.append(a[1]), real(*a, **k))
    )
    for n, schema in enumerate((stale, tmp_path / "missing.sql")):
        monkeypatch.setattr(newstore, "SCHEMA", schema)
        store = Store.open(f"sqlite:///{tmp_path / f'{n}.db'}", tmp_path / "blobs")
        try:
            assert current_revision(store.engine) == head_revision()
        finally:
            store.close()
    assert ran == ["head", "head"]


def test_a_store_made_meanwhile_is_not_made_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(url, tmp_path / "blobs").close()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE store_changes SET n = 7")
        assert not newstore.create(engine, head_revision())  # another process was first
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT n FROM store_changes").scalar_one() == 7
    finally:
        engine.dispose()


# -- no index another one already holds -------------------------------------------------
def _entries(con: sqlite3.Connection, table: str, index: str) -> list[tuple[Any, ...]]:
    """What one entry of a SQLite index holds, in order: its columns (a column that is the
    table's rowid as ``rowid``), then the rowid every entry ends with, each column once."""
    info = list(con.execute(f'PRAGMA table_info("{table}")'))
    keys = [(name, kind) for _cid, name, kind, _nn, _d, pk in info if pk]
    alias = keys[0][0] if len(keys) == 1 and keys[0][1].upper() == "INTEGER" else None
    held: list[tuple[Any, ...]] = []
    for _seq, cid, name, desc, coll, _key in con.execute(f'PRAGMA index_xinfo("{index}")'):
        column = "rowid" if cid == -1 or name == alias else name
        if (column, desc, coll) not in held:
            held.append((column, desc, coll))
    return held


def test_no_sqlite_index_is_held_by_another(tmp_path: Path) -> None:
    """Every index entry ends with the rowid, so an index on (updated_at) already is one on
    (updated_at, id): a second that another index's entries begin with costs every write
    and serves no read the other does not."""
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "blobs")
    store.close()
    con = sqlite3.connect(tmp_path / "store.db")
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        held = []
        for table in tables:
            indexes = {
                name: (unique, _entries(con, table, name))
                for _seq, name, unique, _origin, partial in con.execute(
                    f'PRAGMA index_list("{table}")'
                )
                if not partial
            }
            for name, (unique, mine) in indexes.items():
                for other, (_u, theirs) in indexes.items():
                    if other != name and not unique and theirs[: len(mine)] == mine:
                        held.append(f"{table}: {name} is held by {other}")
        assert held == []
        # the ticket list's pages still walk an index in their order, without a sort
        for order in ("updated_at DESC, id DESC", "created_at, id", "created_at DESC, id DESC"):
            sql = f"SELECT id FROM tickets ORDER BY {order} LIMIT 51"  # noqa: S608
            plan = " ".join(r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert "USING COVERING INDEX" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        con.close()
