"""The few reads `deskmove status` and an idle `deskmove sync` need, in the stdlib sqlite3.

Importing SQLAlchemy and the models costs most of a second of CPU; a cron run
that finds nothing to do, or a look at ``status``, should not pay it. For a
SQLite store already at the newest migration these functions answer exactly
what :meth:`Store.summary`, :func:`delta.connections_overview` and
:func:`delta.has_push_work` answer (``tests/test_quick.py`` holds them side by
side), opened read-only. Anything else — PostgreSQL, a store to upgrade, a URL
with options, a file that is not there, any database error — returns None, and
the caller takes the full path, which knows how to explain or fix it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deskmove.checkpoint import checkpoint

PUSH_STREAM = "@push"  # as deskmove.store.delta.PUSH_STREAM
# Set on every connection to a SQLite store (deskmove.store.engine's and this module's).
CONNECTION_PRAGMAS = ("foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=30000")
_PREFIX = "sqlite:///"


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` store URL (no options); None otherwise."""
    if not url.startswith(_PREFIX):
        return None
    database = url[len(_PREFIX) :]
    if not database or database == ":memory:" or "?" in database or database.startswith("file:"):
        return None
    return Path(database)


def at_head(conn: sqlite3.Connection) -> bool:
    from deskmove.store.revision import head_revision

    head = head_revision()
    if head is None:
        return False
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return False
    return [r[0] for r in rows] == [head]


@contextmanager
def _reading(url: str) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to a store at the newest revision, in one read transaction."""
    path = sqlite_path(url)
    if path is None or not path.is_file() or not os.access(path.parent, os.W_OK):
        yield None  # a read-only folder: the full path knows how to open it
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        yield None
        return
    with closing(conn):
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("BEGIN")  # one snapshot for every read below
        yield conn if at_head(conn) else None


def _iso(value: str | None) -> str | None:
    """A timestamp as SQLAlchemy stores it on SQLite (naive UTC), as the models return it."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _stamp(value: datetime) -> str:
    """A bound timestamp in SQLAlchemy's SQLite format, for comparisons with stored ones."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _one(conn: sqlite3.Connection, sql: str, *args: Any) -> Any:
    return conn.execute(sql, args).fetchone()[0]


def status_info(url: str, targets: list[str], active_days: int) -> dict[str, Any] | None:
    """``store.summary()`` plus ``"cutover"``: what `deskmove status` shows (None: unsure)."""
    try:
        with _reading(url) as conn:
            if conn is None:
                return None
            info = _summary(conn)
            info["cutover"] = _overview(conn, targets, active_days)
            return info
    except (sqlite3.Error, ValueError):
        return None


def _summary(conn: sqlite3.Connection) -> dict[str, Any]:
    totals = {
        name: _one(conn, f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
        for name, table in (
            ("tickets", "tickets"),
            ("messages", "messages"),
            ("people", "people"),
            ("organizations", "organizations"),
            ("attachments", "attachments"),
        )
    }
    totals["quarantined"] = _one(conn, "SELECT count(*) FROM quarantine WHERE resolved IS 0")
    sources = [
        {"connection": c, "kind": k, "count": n}
        for c, k, n in conn.execute(
            "SELECT connection, kind, count(*) FROM provenance "
            "GROUP BY connection, kind ORDER BY connection, kind"
        )
    ]
    runs = [
        {
            "id": i,
            "command": command,
            "connection": connection,
            "status": status,
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "counts": _json(counts),
        }
        for i, command, connection, status, started, finished, counts in conn.execute(
            "SELECT id, command, connection, status, started_at, finished_at, counts "
            "FROM runs ORDER BY id DESC LIMIT 10"
        )
    ]
    cursors = [
        {"connection": c, "stream": s, "cursor": _json(cur), "updated_at": _iso(at)}
        for c, s, cur, at in conn.execute(
            "SELECT connection, stream, cursor, updated_at FROM sync_state "
            "ORDER BY connection, stream"
        )
    ]
    groups = conn.execute(
        "SELECT connection, reason, count(*), min(id) FROM quarantine WHERE resolved IS 0 "
        "GROUP BY connection, reason ORDER BY count(*) DESC, min(id) LIMIT 20"
    ).fetchall()
    firsts: dict[int, str] = {}
    if groups:
        marks = ",".join("?" * len(groups))
        firsts = dict(
            conn.execute(
                f"SELECT id, native_ref FROM quarantine WHERE id IN ({marks})",  # noqa: S608
                [g[3] for g in groups],
            ).fetchall()
        )
    quarantine = [
        {"connection": c, "reason": r, "count": n, "first_id": i, "first_ref": firsts.get(i)}
        for c, r, n, i in groups
    ]
    return {
        "totals": totals,
        "sources": sources,
        "runs": runs,
        "cursors": cursors,
        "quarantine": quarantine,
    }


def _overview(conn: sqlite3.Connection, targets: list[str], active_days: int) -> dict[str, Any]:
    names = set(targets)
    for sql in (
        "SELECT DISTINCT connection FROM sync_state",
        "SELECT DISTINCT connection FROM id_map",
        "SELECT DISTINCT connection FROM quarantine",
        "SELECT DISTINCT connection FROM runs WHERE connection IS NOT NULL",
    ):
        names |= {r[0] for r in conn.execute(sql)}
    out: dict[str, Any] = {}
    for name in sorted(names):
        last = conn.execute(
            "SELECT id, command, status, started_at, finished_at FROM runs "
            "WHERE connection = ? ORDER BY id DESC LIMIT 1",
            (name,),
        ).fetchone()
        cursors = {
            stream: _json(cursor)
            for stream, cursor in conn.execute(
                "SELECT stream, cursor FROM sync_state WHERE connection = ?", (name,)
            )
        }
        out[name] = {
            "cursor": {k: v for k, v in cursors.items() if k != PUSH_STREAM},
            "pushed_up_to_run": (cursors.get(PUSH_STREAM) or {}).get("run_id"),
            "last_run": None
            if last is None
            else {
                "id": last[0],
                "command": last[1],
                "status": last[2],
                "started_at": _iso(last[3]),
                "finished_at": _iso(last[4]),
            },
            "quarantined": _one(
                conn,
                "SELECT count(*) FROM quarantine WHERE connection = ? AND resolved IS 0",
                name,
            ),
            "in_target": _one(
                conn,
                "SELECT count(*) FROM id_map WHERE connection = ? AND kind = 'ticket' "
                "AND state = 'done'",
                name,
            ),
        }
    since = datetime.now(UTC) - timedelta(days=active_days)
    active = _one(
        conn,
        "SELECT count(DISTINCT ticket_id) FROM messages WHERE created_at >= ?",
        _stamp(since),
    )
    for name in out:
        if name in targets or out[name]["in_target"] or out[name]["pushed_up_to_run"]:
            out[name]["pending_tickets"] = _pending_count(conn, name)
    return {"connections": out, "active_conversations": active, "active_days": active_days}


def _watermark(conn: sqlite3.Connection, target: str) -> int | None:
    row = conn.execute(
        "SELECT cursor FROM sync_state WHERE connection = ? AND stream = ?", (target, PUSH_STREAM)
    ).fetchone()
    cursor = _json(row[0]) if row else None
    return int(cursor["run_id"]) if cursor and cursor.get("run_id") is not None else None


# as deskmove.store.delta._unfinished: ranges the (connection, state) index seeks
_UNFINISHED = (
    "id_map.connection = ? AND (id_map.state < 'done' OR "
    "(id_map.state > 'done' AND id_map.state < 'matched') OR id_map.state > 'matched')"
)


def _unfinished_ids(kind: str) -> str:
    """The ``kind`` entities of the target's unfinished id-map entries, as three seeks of
    the (connection, state) index (parameter ``:target``). With the kind and the ranges
    in one WHERE, SQLite seeks the (connection, kind) index instead and reads every
    finished entry (400,000 after a migration of 100,000 tickets); ``+kind`` keeps the
    kind out of the index choice."""
    ranges = ("state < 'done'", "state > 'done' AND state < 'matched'", "state > 'matched'")
    arms = " UNION ALL ".join(
        f"SELECT entity_id FROM id_map WHERE connection = :target AND {r} AND +kind = '{kind}'"
        for r in ranges
    )
    return f"SELECT entity_id FROM ({arms})"  # noqa: S608 - fixed text


def _pending_count(conn: sqlite3.Connection, target: str) -> int:
    mark = _watermark(conn, target)
    if mark is None:
        return _one(
            conn,
            "SELECT count(*) FROM tickets WHERE id NOT IN (SELECT entity_id FROM id_map "
            "WHERE connection = ? AND kind = 'ticket' AND state = 'done')",
            target,
        )
    # the tickets of deskmove.store.delta.changed_ticket_ids, each part found by index
    sql = (
        "SELECT count(*) FROM ("
        "SELECT entity_id FROM provenance WHERE run_id > :mark AND kind = 'ticket' UNION "
        "SELECT messages.ticket_id FROM messages JOIN provenance ON provenance.entity_id = "
        "messages.id AND provenance.kind = 'message' WHERE provenance.run_id > :mark UNION "
        f"{_unfinished_ids('ticket')} UNION "
        f"SELECT ticket_id FROM messages WHERE id IN ({_unfinished_ids('message')}))"
    )
    return conn.execute(sql, {"mark": mark, "target": target}).fetchone()[0]


def _has_push_work(conn: sqlite3.Connection, target: str) -> bool:
    mark = _watermark(conn, target)
    if mark is None:
        return bool(_one(conn, "SELECT EXISTS (SELECT 1 FROM tickets)"))
    return bool(
        _one(
            conn,
            "SELECT EXISTS (SELECT 1 FROM provenance WHERE run_id > ?) "
            f"OR EXISTS (SELECT 1 FROM id_map WHERE {_UNFINISHED})",
            mark,
            target,
        )
    )


class IdleSync:
    """What a `deskmove sync` with nothing to do reads and writes, in one write
    transaction (``BEGIN IMMEDIATE``: no other writer between its reads and its runs)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._done = False

    def any_running(self) -> bool:
        """Runs left "running" (a killed run's): the full path marks them interrupted."""
        return bool(_one(self._conn, "SELECT EXISTS (SELECT 1 FROM runs WHERE status = 'running')"))

    def get_state(self, connection: str) -> dict[str, dict[str, Any]]:
        """As :meth:`Store.get_state`."""
        rows = self._conn.execute(
            "SELECT stream, cursor FROM sync_state WHERE connection = ?", (connection,)
        )
        return {stream: dict(_json(cursor) or {}) for stream, cursor in rows}

    def has_push_work(self, target: str) -> bool:
        return _has_push_work(self._conn, target)

    def add_run(
        self,
        command: str,
        connection: str | None,
        started: datetime,
        finished: datetime,
        status: str,
        counts: Callable[[int], dict[str, Any]],
    ) -> int:
        """A finished run's row, as :meth:`Store.begin_run` then :meth:`Store.finish_run`
        leave it; ``counts`` is given the row's id."""
        run_id = self._conn.execute(
            "INSERT INTO runs (command, connection, started_at, finished_at, status, counts) "
            "VALUES (?, ?, ?, ?, ?, '{}')",
            (command, connection, _stamp(started), _stamp(finished), status),
        ).lastrowid
        assert run_id is not None
        self._conn.execute(
            "UPDATE runs SET counts = ? WHERE id = ?", (json.dumps(counts(run_id)), run_id)
        )
        return run_id

    def commit(self) -> None:
        checkpoint("idle-sync", "runs written, before commit")
        self._conn.execute("COMMIT")
        self._done = True


@contextmanager
def idle_sync(url: str) -> Iterator[IdleSync | None]:
    """One write transaction on a SQLite store at the newest revision (None: not such a
    store, or it cannot be written). What the block writes lands only if it calls
    :meth:`IdleSync.commit`; a database error in the block is swallowed after the
    rollback (the block's result stays unset: the caller takes the full path)."""
    path = sqlite_path(url)
    if path is None or not path.is_file() or not os.access(path.parent, os.W_OK):
        yield None
        return
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    except sqlite3.Error:
        yield None
        return
    with closing(conn):
        try:
            for pragma in CONNECTION_PRAGMAS:
                conn.execute(f"PRAGMA {pragma}")
            conn.execute("BEGIN IMMEDIATE")
            head = at_head(conn)
        except sqlite3.Error:
            yield None
            return
        work = IdleSync(conn) if head else None
        try:
            yield work
        except (sqlite3.Error, ValueError):
            pass
        finally:
            if work is None or not work._done:  # noqa: SLF001 - its own transaction
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
