"""The canonical store: engine, schema upgrades, runs, sync state, id map, blobs (the `Store` class)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from deskmove.checkpoint import checkpoint
from deskmove.errors import StoreError
from deskmove.model import (
    IdMap,
    Message,
    Provenance,
    Quarantine,
    Run,
    SyncState,
    Ticket,
    utcnow,
)
from deskmove.store import delta, idmap, scope
from deskmove.store.blobs import BlobStore, StoreBlobs
from deskmove.store.engine import (
    WRITE_AT_BEGIN,
    limit_lock_wait,
    make_engine,
    redact_url,
    upgrade,
)
from deskmove.store.ingest import IngestCounts, Ingestor, content_hash
from deskmove.store.quick import sqlite_path
from deskmove.store.scope import TicketScope
from deskmove.store.walcheckpoint import WalCheckpointer

if TYPE_CHECKING:
    from deskmove.records import AttachmentRec
    from deskmove.store.audit import AuditQueries
    from deskmove.store.csvexport import CsvExport
    from deskmove.store.spool import KeyedSpool
    from deskmove.store.threads import StoreThreads

__all__ = [
    "Store",
    "BlobStore",
    "IngestCounts",
    "Ingestor",
    "TicketScope",
    "Transaction",
    "content_hash",
]

Transaction = sa.Connection  # what ``Store.begin()`` yields; callers hand it back to store/

RUNS = Run.__table__
SYNC_STATE = SyncState.__table__
IDMAP = IdMap.__table__


class Store:
    """One project's store: a SQL database (small blobs inside it) plus the blob folder beside it."""

    def __init__(self, url: str, blob_root: Path) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.blobs = StoreBlobs(self.begin, blob_root)
        self._wal: WalCheckpointer | None = None

    @classmethod
    def open(cls, url: str, blob_root: Path, *, create: bool = True) -> Store:
        store = cls(url, blob_root)
        if create:
            store.upgrade()
        return store

    def upgrade(self) -> None:
        upgrade(self.engine)

    def close(self) -> None:
        if self._wal is not None:
            self._wal.wait(timeout=60)  # a checkpoint under way finishes on its connection
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        """The kind of database: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def limit_lock_wait(self, seconds: float) -> None:
        """Writes wait at most ``seconds`` for another writer (SQLite; the workspace's pages)."""
        limit_lock_wait(self.engine, seconds)

    def __repr__(self) -> str:
        return f"Store({redact_url(self.url)!r})"

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction; database failures become a :class:`StoreError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _store_error(exc) from exc

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A transaction that writes, perhaps after reading: on SQLite it holds the write lock
        from its start (waiting for another writer up to the busy timeout), so what it read
        is still true when it writes. A plain :meth:`begin` that reads first fails at once
        if another writer committed meanwhile. Readers are never held up by it (WAL)."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{WRITE_AT_BEGIN: True})
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise _store_error(exc) from exc

    @contextmanager
    def audit(self) -> Iterator[AuditQueries]:
        """The audit's queries, in one transaction (see :mod:`deskmove.store.audit`)."""
        from deskmove.store.audit import AuditQueries

        with self.begin() as conn:
            yield AuditQueries(conn)

    @contextmanager
    def csv_export(self, target: str, run_id: int, *, commit: bool) -> Iterator[CsvExport]:
        """Rows for the ``csv:`` target and its id-map writes, committed at the end (if
        ``commit``) so the id map changes only once the new folder is in place."""
        from deskmove.store.csvexport import CsvExport

        try:
            with self.engine.connect() as read, self.engine.connect() as write:
                with write.begin() as tx:
                    yield CsvExport(read, write, target, run_id)
                    if not commit:
                        tx.rollback()
        except SQLAlchemyError as exc:
            raise _store_error(exc) from exc

    # what sources ask back -------------------------------------------------------------
    def raw_mail_shas(self, connection: str) -> set[str]:
        """Blobs of every raw mail ``connection`` imported or quarantined."""
        from deskmove.store.sourceread import raw_mail_shas

        with self.begin() as conn:
            return raw_mail_shas(conn, connection)

    def agent_native_ids(self, connection: str) -> set[str]:
        """Native ids of the people ``connection`` stored as agents."""
        from deskmove.store.people import agent_native_ids

        with self.begin() as conn:
            return agent_native_ids(conn, connection)

    def attach(self, connection: str, message_native_id: str, rec: AttachmentRec) -> bool:
        """Add an attachment downloaded later to a message ``connection`` imported (False:
        that message is not in the store); see :func:`deskmove.store.attachments.attach`."""
        from deskmove.store.attachments import attach

        return attach(self, connection, message_native_id, rec)

    def spool(self, prefix: str = "deskmove-spool-") -> KeyedSpool:
        """A scratch spool for one run: records parked until their parent comes by (a
        temporary file, not the store; see :mod:`deskmove.store.spool`)."""
        from deskmove.store.spool import KeyedSpool

        return KeyedSpool(prefix)

    # verify and rollback -------------------------------------------------------------
    def verify_tickets(
        self, only: list[int] | None = None, chunk: int = 500
    ) -> Iterator[tuple[int, list[Any], dict[int, list[str]]]]:
        """Each ticket's stored messages for verify, read a chunk per transaction."""
        from deskmove.store import verify

        with self.begin() as conn:
            ids = verify.ticket_ids(conn, only)
        for i in range(0, len(ids), chunk):
            with self.begin() as conn:
                part = verify.stored_messages(conn, ids[i : i + chunk])
            yield from part

    def appended_messages(self, target: str) -> set[int]:
        """Messages pushed to ``target`` in a later run than their ticket."""
        from deskmove.store import verify

        with self.begin() as conn:
            return verify.appended_messages(conn, target)

    def pushed_entries(
        self, target: str, run_id: int | None = None, *, skip_kinds: tuple[str, ...] = ()
    ) -> list[tuple[str, int, str | None, str]]:
        """Id-map entries of ``target`` (those run ``run_id`` created), oldest first."""
        with self.begin() as conn:
            return idmap.entries(conn, target, run_id, skip_kinds=skip_kinds)

    def messages_of(self, ticket_ids: set[int]) -> set[int]:
        with self.begin() as conn:
            return idmap.messages_of(conn, ticket_ids)

    def map_delete_many(self, connection: str, keys: list[tuple[str, int]]) -> None:
        """Forget these ``(kind, entity id)`` entries at once (a batch rollback)."""
        with self.begin() as conn:
            idmap.delete_entries(conn, connection, keys)

    # a push limited to some tickets (samples) -------------------------------------------
    def scope(self, ticket_ids: list[int]) -> TicketScope:
        """These tickets and the people, organizations and groups they refer to."""
        with self.begin() as conn:
            return scope.scope_of(conn, ticket_ids)

    def sample_candidates(self, n: int) -> list[list[int]]:
        """Ticket ids a sample of ``n`` picks from (see :func:`scope.sample_candidates`)."""
        with self.begin() as conn:
            return scope.sample_candidates(conn, n)

    # runs -------------------------------------------------------------------------
    def mark_interrupted(self) -> int:
        """Runs still "running" while this process holds the project lock were killed:
        say so in their status (how many)."""
        return delta.mark_interrupted(self)

    def begin_run(self, command: str, connection: str | None) -> int:
        with self.begin() as conn:
            return conn.execute(
                RUNS.insert()
                .values(
                    command=command,
                    connection=connection,
                    started_at=utcnow(),
                    status="running",
                    counts={},
                )
                .returning(RUNS.c.id)
            ).scalar_one()

    def finish_run(self, run_id: int, status: str, counts: dict[str, Any]) -> None:
        with self.begin() as conn:
            conn.execute(
                RUNS.update()
                .where(RUNS.c.id == run_id)
                .values(status=status, counts=counts, finished_at=utcnow())
            )

    # sync state ---------------------------------------------------------------------
    def get_state(self, connection: str) -> dict[str, dict[str, Any]]:
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(SYNC_STATE.c.stream, SYNC_STATE.c.cursor).where(
                    SYNC_STATE.c.connection == connection
                )
            )
            return {stream: dict(cursor or {}) for stream, cursor in rows}

    def threads(self, connection: str) -> StoreThreads:
        """What mail threading reads and merges through, for one source connection."""
        from deskmove.store.threads import StoreThreads

        return StoreThreads(self, connection)

    def ingestor(self, connection: str, run_id: int | None) -> Ingestor:
        return Ingestor(self.write, self.blobs, connection, run_id, checkpoints=self.wal())

    def wal(self) -> WalCheckpointer | None:
        """The background checkpointer of a SQLite file's log (see store/walcheckpoint.py);
        None on PostgreSQL and for SQLite stores opened other than as a plain file."""
        if self._wal is None and (path := sqlite_path(self.url)) is not None:
            self._wal = WalCheckpointer(path)
        return self._wal

    # id map -------------------------------------------------------------------------
    def id_map(self, connection: str, kind: str) -> dict[int, tuple[str | None, str | None, str]]:
        """entity id -> (native id in the target, pushed hash, state) for one target and kind."""
        c = IDMAP.c
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(c.entity_id, c.native_id, c.pushed_hash, c.state).where(
                    c.connection == connection, c.kind == kind
                )
            )
            return {eid: (nid, h, st) for eid, nid, h, st in rows}

    def id_map_for(
        self, connection: str, kind: str, entity_ids: list[int]
    ) -> dict[int, tuple[str | None, str | None, str]]:
        """Like :meth:`id_map`, for these entities only (a push reads it chunk by chunk)."""
        c = IDMAP.c
        out: dict[int, tuple[str | None, str | None, str]] = {}
        with self.begin() as conn:
            for i in range(0, len(entity_ids), 500):
                rows = conn.execute(
                    sa.select(c.entity_id, c.native_id, c.pushed_hash, c.state).where(
                        c.connection == connection,
                        c.kind == kind,
                        c.entity_id.in_(entity_ids[i : i + 500]),
                    )
                )
                out.update({eid: (nid, h, st) for eid, nid, h, st in rows})
        return out

    def map_put(
        self,
        connection: str,
        kind: str,
        entity_id: int,
        native_id: str | None,
        *,
        pushed_hash: str | None,
        state: str = "done",
        run_id: int | None = None,
    ) -> None:
        """Record (or update) where an entity went; committed at once."""
        c = IDMAP.c
        now = utcnow()
        checkpoint("push", f"before id map {kind} {entity_id} {state}")
        with self.begin() as conn:
            done = conn.execute(
                IDMAP.update()
                .where(c.connection == connection, c.kind == kind, c.entity_id == entity_id)
                .values(
                    native_id=native_id,
                    pushed_hash=pushed_hash,
                    state=state,
                    run_id=run_id,
                    updated_at=now,
                )
            ).rowcount
            if not done:
                conn.execute(
                    IDMAP.insert().values(
                        connection=connection,
                        kind=kind,
                        entity_id=entity_id,
                        native_id=native_id,
                        pushed_hash=pushed_hash,
                        state=state,
                        run_id=run_id,
                        created_at=now,
                        updated_at=now,
                    )
                )
        checkpoint("push", f"after id map {kind} {entity_id} {state}")

    def map_put_many(
        self,
        connection: str,
        rows: list[tuple[str, int, str | None, str | None]],
        *,
        state: str,
        run_id: int | None = None,
    ) -> None:
        """Record many ``(kind, entity id, native id, pushed hash)`` in one transaction
        (a bulk create's pending marks before the call, its results after)."""
        if not rows:
            return
        c = IDMAP.c
        now = utcnow()
        checkpoint("push", f"before id map {len(rows)} rows {state}")
        with self.begin() as conn:
            existing: set[tuple[str, int]] = set()
            for kind in {r[0] for r in rows}:
                ids = [r[1] for r in rows if r[0] == kind]
                for i in range(0, len(ids), 500):
                    existing |= {
                        (kind, eid)
                        for eid in conn.execute(
                            sa.select(c.entity_id).where(
                                c.connection == connection,
                                c.kind == kind,
                                c.entity_id.in_(ids[i : i + 500]),
                            )
                        ).scalars()
                    }
            values = [{"k": k, "e": e, "n": n, "h": h} for k, e, n, h in rows]
            old = [v for v in values if (v["k"], v["e"]) in existing]
            new = [v for v in values if (v["k"], v["e"]) not in existing]
            common = {"state": state, "run_id": run_id, "updated_at": now}
            if old:
                conn.execute(
                    IDMAP.update()
                    .where(
                        c.connection == connection,
                        c.kind == sa.bindparam("k"),
                        c.entity_id == sa.bindparam("e"),
                    )
                    .values(native_id=sa.bindparam("n"), pushed_hash=sa.bindparam("h"), **common),
                    old,
                )
            if new:
                conn.execute(
                    IDMAP.insert(),
                    [
                        {
                            "connection": connection,
                            "kind": v["k"],
                            "entity_id": v["e"],
                            "native_id": v["n"],
                            "pushed_hash": v["h"],
                            "created_at": now,
                            **common,
                        }
                        for v in new
                    ],
                )
        checkpoint("push", f"after id map {len(rows)} rows {state}")

    # delta sync, rollback (see deskmove.delta) ---------------------------------------
    def push_watermark(self, target: str) -> int | None:
        """The run id up to which every change was pushed to ``target`` (None: never)."""
        return delta.push_watermark(self, target)

    def changed_ticket_ids(self, target: str) -> list[int] | None:
        """Tickets with anything new since the target's watermark (None: no watermark, all)."""
        return delta.changed_ticket_ids(self, target)

    def has_push_work(self, target: str) -> bool:
        """Whether a push to ``target`` has anything to do; one indexed query when idle."""
        return delta.has_push_work(self, target)

    def map_set_hash(self, connection: str, kind: str, entity_id: int, pushed_hash: str) -> None:
        """Only the pushed hash changes: the run that created the object stays its run."""
        c = IDMAP.c
        with self.begin() as conn:
            conn.execute(
                IDMAP.update()
                .where(c.connection == connection, c.kind == kind, c.entity_id == entity_id)
                .values(pushed_hash=pushed_hash, updated_at=utcnow())
            )

    def map_delete(self, connection: str, kind: str, entity_id: int) -> None:
        with self.begin() as conn:
            c = IDMAP.c
            conn.execute(
                IDMAP.delete().where(
                    c.connection == connection, c.kind == kind, c.entity_id == entity_id
                )
            )

    # status -------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts, last runs, cursors and open quarantine, for `deskmove status`."""
        from deskmove.model import Attachment, Organization, Person

        with self.begin() as conn:

            def count(model: Any, *where: Any) -> int:
                return conn.execute(
                    sa.select(sa.func.count()).select_from(model.__table__).where(*where)
                ).scalar_one()

            q = Quarantine.__table__.c
            totals = {
                "tickets": count(Ticket),
                "messages": count(Message),
                "people": count(Person),
                "organizations": count(Organization),
                "attachments": count(Attachment),
                "quarantined": count(Quarantine, q.resolved.is_(False)),
            }
            p = Provenance.__table__.c
            sources = [
                {"connection": c, "kind": k, "count": n}
                for c, k, n in conn.execute(
                    sa.select(p.connection, p.kind, sa.func.count())
                    .group_by(p.connection, p.kind)
                    .order_by(p.connection, p.kind)
                )
            ]
            runs = [
                {
                    "id": r.id,
                    "command": r.command,
                    "connection": r.connection,
                    "status": r.status,
                    "started_at": _iso(r.started_at),
                    "finished_at": _iso(r.finished_at),
                    "counts": r.counts,
                }
                for r in conn.execute(sa.select(RUNS).order_by(RUNS.c.id.desc()).limit(10))
            ]
            cursors = [
                {
                    "connection": r.connection,
                    "stream": r.stream,
                    "cursor": r.cursor,
                    "updated_at": _iso(r.updated_at),
                }
                for r in conn.execute(
                    sa.select(SYNC_STATE).order_by(SYNC_STATE.c.connection, SYNC_STATE.c.stream)
                )
            ]
        from deskmove.store.quarantine import open_by_reason

        quarantine = open_by_reason(self)
        return {
            "totals": totals,
            "sources": sources,
            "runs": runs,
            "cursors": cursors,
            "quarantine": quarantine,
        }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _store_error(exc: SQLAlchemyError) -> StoreError:
    text = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
    if "disk" in text.lower() and "full" in text.lower():
        return StoreError(
            "the disk is full; the last batch was rolled back",
            "free space and re-run; nothing was lost",
        )
    if "locked" in text.lower():
        return StoreError(
            "the store is locked by another deskmove process", "wait for it to finish and re-run"
        )
    return StoreError(
        f"the store failed: {text}", "check the database and re-run; the last batch was rolled back"
    )
