"""Engines for SQLite (default, in the project folder) and PostgreSQL, and schema upgrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from deskmove.errors import ConfigError, StoreError
from deskmove.store.quick import CONNECTION_PRAGMAS
from deskmove.store.revision import MIGRATIONS, head_revision, known_revisions


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            # Let SQLAlchemy's transaction begin be the real BEGIN (pysqlite defers it otherwise).
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"cannot use the store URL {redact_url(url)}: {exc}",
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (pip install 'deskmove[postgres]')",
        ) from exc
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the database driver for {redact_url(url)} is not installed ({exc.name})",
            "install it: pip install 'deskmove[postgres]'",
        ) from exc
    event.listen(engine, "handle_error", _io_error)
    return engine


def _io_error(ctx: sa.engine.ExceptionContext) -> None:
    """A full disk or a read-only store is the user's to fix, on every path: say so."""
    text = str(ctx.original_exception).lower()
    if "disk is full" in text or "no space left on device" in text or "diskfull" in text:
        raise StoreError(
            "the disk is full: the store could not write, and rolled back what it was writing",
            "free space on the disk that holds the store and re-run; nothing was lost",
        ) from ctx.original_exception
    if "readonly database" in text or "read-only file system" in text:
        raise StoreError(
            "the store is read-only: deskmove cannot write to it",
            "make the store's folder (or file) writable, or copy the project somewhere "
            "writable; `deskmove status` can still read it",
        ) from ctx.original_exception


# The execution option that makes a SQLite transaction take the write lock at its start.
WRITE_AT_BEGIN = "deskmove_write_at_begin"


def _sqlite_begin(conn: sa.Connection) -> None:
    """BEGIN, or BEGIN IMMEDIATE for :meth:`Store.write` transactions: a transaction that
    reads and then writes must hold the write lock from its first read, or another writer's
    commit in between makes SQLite refuse its first write at once ("database is locked",
    without waiting the busy timeout)."""
    immediate = conn.get_execution_options().get(WRITE_AT_BEGIN)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# The page size of a new SQLite store (an existing one keeps the size it was made with).
# Most of a mail store's bytes are raw mail and attachments of a few KB to 256 KB, and
# long text; with SQLite's default of 4 KB each of them is a chain of 4 KB overflow pages,
# and every page a commit writes is a WAL frame of its own (two writes). At 16 KB the same
# 5,000-mail import spent 0.59-0.63 s in the driver's commits and inserts instead of
# 0.76-0.80 s (8 KB: 0.70; 32 KB: 0.55, but every small change of the workspace would
# then write 32 KB), for a file 5% larger (102 against 97 MB).
PAGE_BYTES = 16384


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None  # autocommit at the driver; we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA page_size={PAGE_BYTES}")  # before WAL: a new file only
        cur.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass  # a store opened read-only (status in a read-only folder) keeps its mode
    for pragma in CONNECTION_PRAGMAS:
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def limit_lock_wait(engine: Engine, seconds: float) -> None:
    """On SQLite, every connection of ``engine`` waits at most ``seconds`` for another
    writer's lock (not the 30 s of a batch import), then fails as "locked"; reads never
    wait (WAL). Other databases wait on their own terms: nothing changes."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_deskmove_lock_wait", None):
        return
    ms = int(seconds * 1000)

    def pragma(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={ms}")
        cur.close()

    event.listen(engine, "connect", pragma)
    engine._deskmove_lock_wait = ms  # type: ignore[attr-defined]
    engine.dispose()  # connections opened before get the shorter wait too


def sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite store's file, None for other stores or in-memory ones."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = sa.engine.make_url(url).database
    except ArgumentError:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().parent


def sqlite_read_only_url(url: str) -> str:
    """The same SQLite file, opened read-only.

    With a write-ahead log beside it (a run that could not finish), SQLite must
    read the log too: plain read-only mode. Without one (the last writer closed
    cleanly) the file alone is the store, and ``immutable`` lets SQLite read it
    from a folder where it cannot create its shared-memory file.
    """
    database = str(sa.engine.make_url(url).database)
    wal = Path(database + "-wal")
    if wal.exists() and wal.stat().st_size:
        return f"sqlite:///file:{database}?mode=ro&uri=true"
    return f"sqlite:///file:{database}?mode=ro&immutable=1&uri=true"


def redact_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is still printed without secrets
        return url.split("@")[-1]


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creates it on a new store)."""
    try:
        current = _current(engine)
        if current is not None and current == [head_revision()]:
            return  # the common case (every command on an existing store): no Alembic at all
        newer = sorted(set(current or []) - known_revisions())
        if newer:
            raise StoreError(
                f"the store at {redact_url(str(engine.url))} was written by a newer deskmove "
                f"(its schema is at migration {', '.join(newer)}; this deskmove knows up to "
                f"{head_revision() or max(known_revisions())})",
                "upgrade deskmove (pip install -U deskmove) to open it; nothing was changed",
            )
        if current is None and engine.dialect.name == "sqlite":
            from deskmove.store import newstore

            if newstore.create(engine, head_revision()):
                return  # a new store, made from the schema the migrations build: no Alembic
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        if engine.dialect.name == "sqlite":
            raise _sqlite_open_error(engine, exc) from exc
        raise StoreError(
            f"cannot open the store at {redact_url(str(engine.url))}: {exc.orig}",
            "check that the database server is running and the URL is right",
        ) from exc


def _current(engine: Engine) -> list[str] | None:
    """The store's revisions (one SELECT, no Alembic import); None for a new store."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return list(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def _sqlite_open_error(engine: Engine, exc: OperationalError) -> StoreError:
    text = str(exc.orig).lower()
    where = engine.url.database or "the store"
    if "full" in text:
        return StoreError(
            f"the disk is full: cannot open {where}", "free space on that disk and re-run"
        )
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return StoreError(
            f"cannot open {where} for writing ({exc.orig})",
            "check that its folder exists, is writable and has space; "
            "`deskmove status` can read a store in a read-only folder",
        )
    return StoreError(f"cannot open {where}: {exc.orig}", "check the file and re-run")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
