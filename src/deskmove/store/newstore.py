"""A new SQLite store made in one transaction from the schema the migrations build.

Running every migration through Alembic to make a new store cost 0.2 s of a first
import, most of it importing Alembic, which loads every database dialect it knows.
``sqlite_schema.sql`` beside this module holds what the migrations make of an empty
SQLite store (its tables, indexes and the rows the migrations write) and the
revision it is at. When that revision is the newest migration, a new SQLite store
is made from it; when it is not (a migration was added and the file not written
again), Alembic builds the store as before. A store made either way is the same:
tests/test_schema.py builds both and compares them, and fails when the file is
out of date. Write it again with ``python -m deskmove.store.newstore``.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SCHEMA = Path(__file__).with_name("sqlite_schema.sql")
_REVISION = re.compile(r"^-- revision: (\S+)$", re.M)


def create(engine: Engine, head: str | None) -> bool:
    """Make the schema of a new SQLite store at ``head``; False (nothing done) when the
    schema file is not at ``head`` or another process made the store first."""
    from deskmove.store.engine import WRITE_AT_BEGIN

    try:
        text = SCHEMA.read_text("utf-8")
    except OSError:
        return False
    found = _REVISION.search(text)
    if head is None or found is None or found.group(1) != head:
        return False
    with engine.connect().execution_options(**{WRITE_AT_BEGIN: True}) as conn, conn.begin():
        if sa.inspect(conn).has_table("alembic_version"):
            return False  # made meanwhile by another process: the migrations take it from here
        for statement in statements(text):
            conn.exec_driver_sql(statement)
    return True


def statements(text: str) -> list[str]:
    """The SQL statements of ``text``, comment lines left out, in order."""
    out: list[str] = []
    buf: list[str] = []
    for line in text.splitlines():
        if not buf and (not line.strip() or line.startswith("--")):
            continue
        buf.append(line)
        joined = "\n".join(buf)
        if sqlite3.complete_statement(joined):
            out.append(joined.strip().removesuffix(";"))
            buf = []
    if buf:
        raise ValueError(f"{SCHEMA.name} ends inside a statement: {buf[0][:60]}")
    return out


def dump(conn: Connection, revision: str) -> str:
    """The schema file for the store of ``conn``: its tables and indexes in the order they
    were made, then the rows in them. Tables that SQLite makes itself (``sqlite_*``, and
    each virtual table's shadow tables, made with it) are left out."""
    rows = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ).all()
    virtual = [name for kind, name, sql in rows if sql.upper().startswith("CREATE VIRTUAL")]
    own = [
        (kind, name, sql)
        for kind, name, sql in rows
        if not name.startswith("sqlite_") and not any(name.startswith(v + "_") for v in virtual)
    ]
    lines = [
        "-- deskmove: what the migrations make of a new, empty SQLite store.",
        "-- Written by `python -m deskmove.store.newstore`; tests/test_schema.py checks it.",
        f"-- revision: {revision}",
        "",
    ]
    lines += [f"{sql};" for _kind, _name, sql in own]
    for kind, name, _sql in own:
        if kind != "table" or name in virtual:
            continue
        for row in conn.exec_driver_sql(f'SELECT * FROM "{name}"'):  # noqa: S608 - our names
            values = ", ".join(_literal(v) for v in row)
            lines.append(f'INSERT INTO "{name}" VALUES ({values});')
    return "\n".join(lines) + "\n"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return repr(int(value) if isinstance(value, bool) else value)
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    return "'" + str(value).replace("'", "''") + "'"


def build_with_migrations(path: Path) -> str:
    """A new store at ``path`` built by the migrations; its schema file's text."""
    from alembic import command
    from alembic.config import Config

    from deskmove.store.engine import make_engine
    from deskmove.store.revision import MIGRATIONS, head_revision

    head = head_revision()
    if head is None:
        raise SystemExit("the migrations have no single newest revision")
    engine = make_engine(f"sqlite:///{path}")
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with engine.connect() as conn:
            return dump(conn, head)
    finally:
        engine.dispose()


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        text = build_with_migrations(Path(tmp) / "store.db")
    SCHEMA.write_text(text, "utf-8")
    print(f"wrote {SCHEMA} ({len(statements(text))} statements)")


if __name__ == "__main__":
    main()
