"""Upsert a source's batches into the store by provenance, with SQLAlchemy Core.

One :class:`Ingestor` lives for one run of one source. Each :meth:`Ingestor.ingest`
call writes one batch and the sync state that follows it in one transaction, so a
crash leaves either the whole batch or none of it.

Change detection: every entity's provenance row keeps a hash of what the source
said; the same hash again is "unchanged" and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import (
    Attachment,
    Group,
    Message,
    Organization,
    Person,
    PersonEmail,
    Provenance,
    SyncState,
    Ticket,
    UTCDateTime,
    utcnow,
)
from deskmove.records import (
    Batch,
    GroupRec,
    MessageRec,
    OrgRec,
    PersonRec,
    PersonRef,
    TicketRec,
)
from deskmove.store import blobs as blob_rows
from deskmove.store import changes, edits, provenance, quarantine, search, threads
from deskmove.store.blobs import StoreBlobs
from deskmove.store.chunks import chunks
from deskmove.store.mailscope import SHARED_KINDS, mail_connections
from deskmove.store.walcheckpoint import BACKSTOP_PAGES, WalCheckpointer
from deskmove.textclean import strip_nul

TICKETS = Ticket.__table__
MESSAGES = Message.__table__
ATTACHMENTS = Attachment.__table__
PEOPLE = Person.__table__
EMAILS = PersonEmail.__table__
ORGS = Organization.__table__
GROUPS = Group.__table__
PROVENANCE = Provenance.__table__
SYNC_STATE = SyncState.__table__

PAGE_CACHE_KIB = 8192  # SQLite page cache of the ingesting connection (see _ingest)


@dataclass
class IngestCounts:
    """Per entity kind: how many records were new, changed or unchanged."""

    new: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0
    read: int = 0
    nul_stripped: Counter[str] = field(default_factory=Counter)  # kind.field -> records

    def add(self, other: IngestCounts) -> None:
        self.nul_stripped.update(other.nul_stripped)
        self.new.update(other.new)
        self.changed.update(other.changed)
        self.unchanged.update(other.unchanged)
        self.quarantined += other.quarantined
        self.read += other.read

    def as_dict(self) -> dict[str, Any]:
        kinds = sorted(set(self.new) | set(self.changed) | set(self.unchanged))
        return {
            "read": self.read,
            "quarantined": self.quarantined,
            "kinds": {
                k: {"new": self.new[k], "changed": self.changed[k], "unchanged": self.unchanged[k]}
                for k in kinds
            },
        }


def _part(v: Any) -> str:
    if v is None:
        return "\x00"
    if isinstance(v, str):
        return v
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, bool | int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "\x1e".join(_part(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, default=str, ensure_ascii=False)
    if isinstance(v, PersonRef):
        return "\x1d".join(_part(x) for x in (v.native_id, v.email, v.name, v.role))
    return repr(v)


def content_hash(*parts: Any) -> str:
    """A stable hash of record fields, for change detection."""
    return hashlib.blake2b("\x1f".join(map(_part, parts)).encode(), digest_size=16).hexdigest()


# The two hot hashes build one tuple of plain values and hash its repr: a few C calls
# per record instead of one Python call per field (this is the bulk import's hot path).
def _time_key(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def _ref_key(p: PersonRef | None) -> tuple[Any, ...] | None:
    return (p.native_id, p.email, p.name, p.role) if p is not None else None


def _json_key(v: dict[str, Any]) -> str | None:
    return json.dumps(v, sort_keys=True, default=str, ensure_ascii=False) if v else None


def _digest(key: tuple[Any, ...]) -> str:
    return hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()


def ticket_hash(t: TicketRec) -> str:
    return _digest(
        (
            t.subject,
            t.status,
            t.priority,
            t.type,
            t.channel,
            _ref_key(t.requester),
            _ref_key(t.assignee),
            t.group,
            t.organization,
            t.tags,
            _json_key(t.custom_fields),
            _time_key(t.created_at),
            _time_key(t.updated_at),
            _time_key(t.solved_at),
            t.is_auto,
            t.is_spam,
            t.origin_source,
            t.origin_id,
            t.thread_key,
        )
    )


def message_hash(m: MessageRec, ticket_native_id: str) -> str:
    return _digest(
        (
            ticket_native_id,
            _time_key(m.created_at),
            m.created_tz,
            _ref_key(m.author),
            m.public,
            m.direction,
            m.subject,
            m.body_text,
            m.body_html,
            m.to,
            m.cc,
            m.message_id,
            m.in_reply_to,
            m.references,
            m.raw_sha256,
            _json_key(m.headers),
            m.is_auto,
            m.origin_id,
            [(a.sha256, a.filename, a.content_type, a.content_id, a.inline) for a in m.attachments],
        )
    )


# -- bulk inserts ------------------------------------------------------------------------
# On SQLite the hot inserts skip SQLAlchemy's per-row parameter processing and hand
# tuples straight to the driver's executemany, converted exactly as the column types
# would (UTC timestamps as "YYYY-MM-DD HH:MM:SS.ffffff", JSON as text, booleans as 0/1).
_EMPTY_JSON = {list: "[]", dict: "{}"}


def _sqlite_time(v: datetime | None) -> str | None:
    if v is None:
        return None
    tz = v.tzinfo
    if tz is None:
        raise ValueError(f"naive datetime {v!r} reached the store")
    if tz is not UTC:
        v = v.astimezone(UTC)
    return v.isoformat(" ", "microseconds")[:26]  # without its "+00:00"


def _sqlite_json(v: Any) -> str:
    if not v and type(v) in _EMPTY_JSON:
        return _EMPTY_JSON[type(v)]
    return json.dumps(v)


def _converter(column: sa.Column) -> Any:
    t = column.type
    if isinstance(t, UTCDateTime):
        return _sqlite_time
    if isinstance(t, sa.JSON):
        return _sqlite_json
    return None


_PROV_INSERT = (
    'INSERT INTO "provenance" ("connection", "kind", "native_id", "entity_id", '
    '"content_hash", "run_id", "updated_at") VALUES (?, ?, ?, ?, ?, ?, ?)'
)
_PROV_TOUCH = (
    'UPDATE "provenance" SET "content_hash" = ?, "run_id" = ?, "updated_at" = ? '
    'WHERE "connection" = ? AND "kind" = ? AND "native_id" = ?'
)
# A message's columns come from the table (everything but ``id``). The record carries
# each under the same name, except the store ids the ingest resolves and the address
# the message was sent from (its author reference's).
_MSG_RESOLVED = ("ticket_id", "author_id")
_MSG_SENT_FROM = ("author_email",)
_MSG_PLAIN = tuple(
    c.name
    for c in MESSAGES.columns
    if c.name != "id" and c.name not in _MSG_RESOLVED + _MSG_SENT_FROM
)
_MSG_COLS = _MSG_RESOLVED + _MSG_PLAIN + _MSG_SENT_FROM  # the order values are built in
_MSG_FROM_RECORD = attrgetter(*_MSG_PLAIN)
_MSG_INSERT = 'INSERT INTO "messages" ("id", {}) VALUES ({})'.format(
    ", ".join(f'"{c}"' for c in _MSG_COLS), ", ".join("?" * (len(_MSG_COLS) + 1))
)
# The columns SQLite's driver needs converted, by their place in a row with the id first.
_MSG_SQLITE = tuple(
    (i + 1, f) for i, c in enumerate(_MSG_COLS) if (f := _converter(MESSAGES.c[c])) is not None
)


def _message_values(m: MessageRec, ticket_id: int, author_id: int | None) -> tuple[Any, ...]:
    """A message's column values in ``_MSG_COLS`` order, as the model's types take them."""
    sent_from = m.author.email if m.author is not None else None
    return (ticket_id, author_id, *_MSG_FROM_RECORD(m), sent_from)


def _sqlite_message(eid: int, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """``_message_values`` plus the id, converted for SQLite exactly as bulk_insert would."""
    row = [eid, *values]
    for i, f in _MSG_SQLITE:
        row[i] = f(row[i])
    return tuple(row)


_PLANS: dict[tuple[str, tuple[str, ...]], tuple[str, Any, list[tuple[int, Any]]]] = {}


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows (all with the same keys) as fast as the driver allows."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    keys = tuple(rows[0])
    plan = _PLANS.get((table.name, keys))
    if plan is None:
        cols = ", ".join(f'"{k}"' for k in keys)
        sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join("?" * len(keys))})'
        convs = [(i, f) for i, k in enumerate(keys) if (f := _converter(table.c[k])) is not None]
        plan = (sql, itemgetter(*keys), convs)
        _PLANS[(table.name, keys)] = plan
    sql, get, convs = plan
    params = []
    seen: dict[int, tuple[Any, Any]] = {}  # column -> (last value, converted): batch-wide "now"s
    try:
        for row in rows:
            values = list(get(row)) if len(keys) > 1 else [get(row)]
            for i, f in convs:
                v = values[i]
                last = seen.get(i)
                if last is not None and last[0] is v:
                    values[i] = last[1]
                else:
                    values[i] = out = f(v)
                    seen[i] = (v, out)
            params.append(tuple(values))
    except ValueError as exc:
        raise sa.exc.StatementError(str(exc), sql, None, exc) from exc
    conn.exec_driver_sql(sql, params)


_UPDATE_PLANS: dict[tuple[str, tuple[str, ...]], tuple[str, Any, list[tuple[int, Any]]]] = {}


def bulk_update(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """UPDATE many rows by id (``_id``; every row with the same keys), on SQLite straight to
    the driver with the values converted as :func:`bulk_insert` converts them."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.update().where(table.c.id == sa.bindparam("_id")), rows)
        return
    keys = tuple(k for k in rows[0] if k != "_id")
    plan = _UPDATE_PLANS.get((table.name, keys))
    if plan is None:
        sets = ", ".join(f'"{k}" = ?' for k in keys)
        sql = f'UPDATE "{table.name}" SET {sets} WHERE "id" = ?'
        convs = [(i, f) for i, k in enumerate(keys) if (f := _converter(table.c[k])) is not None]
        plan = (sql, itemgetter(*keys, "_id"), convs)
        _UPDATE_PLANS[(table.name, keys)] = plan
    sql, get, convs = plan
    params = []
    try:
        for row in rows:
            values = list(get(row))
            for i, f in convs:
                values[i] = f(values[i])
            params.append(tuple(values))
    except ValueError as exc:
        raise sa.exc.StatementError(str(exc), sql, None, exc) from exc
    conn.exec_driver_sql(sql, params)


def _unique_waves(records: list[Any], key: Any = lambda r: r.native_id) -> list[list[Any]]:
    """Split records so no native id repeats inside one wave (later ones see earlier ones)."""
    waves: list[list[Any]] = [[]]
    seen: set[str] = set()
    for r in records:
        k = key(r)
        if k in seen:
            waves.append([])
            seen = set()
        seen.add(k)
        waves[-1].append(r)
    return [w for w in waves if w]


class Ingestor:
    """Writes batches from one source connection; caches lookups for the run."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        blobs: StoreBlobs,
        connection: str,
        run_id: int | None,
        *,
        checkpoints: WalCheckpointer | None = None,
    ) -> None:
        self.begin = begin  # Store.write: one transaction holding the write lock, errors mapped
        self.blobs = blobs
        self.connection = connection
        self.run_id = run_id
        self.checkpoints = checkpoints  # SQLite: the log is checkpointed off the writer's path
        self._emails: dict[str, int] = {}
        self._refs: dict[tuple[str, str], int] = {}  # (kind, native id or name) -> id
        self._done: set[tuple[str, int]] = set()  # ("agent" | "named", person id) already settled
        self._open_records: bool | None = None  # open quarantine naming a record (asked once)
        # per batch, emptied when it is written (they hold its records)
        self._index: dict[int, search.NewText] = {}  # tickets whose search document changes
        self._rebuild: set[int] = set()  # of those, the ones rebuilt from the store

    # -- public -------------------------------------------------------------------
    def ingest(self, batch: Batch) -> IngestCounts:
        counts = IngestCounts(read=batch.read)
        counts.nul_stripped = strip_nul(batch)  # one rule on every store: see textclean
        self._next_id: dict[str, int] = {}  # per transaction: see _new_ids
        self._shared: list[str] | None = [] if batch.scope != "mail" else None
        snapshot = (dict(self._emails), dict(self._refs), set(self._done))
        try:
            with self.begin() as conn:
                self._ingest(conn, batch, counts)
        except BaseException:
            self._emails, self._refs, self._done = (
                snapshot  # ids made in a rolled-back transaction are gone
            )
            raise
        finally:  # the batch's records go with it, written or not
            self._index, self._rebuild = {}, set()
        if self.checkpoints is not None:
            self.checkpoints.poke()  # this batch's pages go to the database file meanwhile
        return counts

    # -- internals ----------------------------------------------------------------
    def _ingest(self, conn: Connection, batch: Batch, counts: IngestCounts) -> None:
        if conn.dialect.name == "sqlite" and not conn.info.get("deskmove_cache"):
            # A page cache of a fixed size, larger than the 2 MB default (which made every
            # batch re-read the provenance and message indexes) but filled within the first
            # thousand mails: 64 MB grew with the store up to 20,000 mails, and saved no
            # measurable CPU (20k tickets from CSV: 10.4 vs 10.6 CPU s; 201 vs 138 MB).
            conn.exec_driver_sql(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
            if self.checkpoints is not None:  # see deskmove.store.walcheckpoint
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            conn.info["deskmove_cache"] = True
        if batch.blobs:  # the raw mails and small attachments the batch's rows name
            blob_rows.insert(conn, batch.blobs)
        for org in batch.organizations:
            self._upsert_named(conn, "organization", org, counts)
        for grp in batch.groups:
            self._upsert_named(conn, "group", grp, counts)
        for wave in _unique_waves(batch.people):
            self._upsert_people(conn, wave, counts)
        for wave in _unique_waves(batch.tickets):
            self._upsert_tickets(conn, wave, counts)
        if self._open_records is None:
            self._open_records = quarantine.has_open_records(conn, self.connection)
        if self._open_records:  # a record once quarantined now imports: it leaves the quarantine
            quarantine.clear_imported(conn, self.connection, self.run_id, batch)
        if batch.quarantined:
            quarantine.write(conn, self.blobs, self.connection, self.run_id, batch.quarantined)
            counts.quarantined += len(batch.quarantined)
            self._open_records = self._open_records or any(q.native_id for q in batch.quarantined)
        if self._rebuild:  # a changed message: its old text is somewhere in the document
            search.index_tickets(conn, self._rebuild)
            for tid in self._rebuild:
                del self._index[tid]
        if self._index:
            search.index_added(conn, self._index)
        if batch.state:
            self._save_state(conn, batch.state)
        if batch.tickets or self._index or self._rebuild:
            changes.bump(conn)  # last: see deskmove.store.changes

    def _new_ids(self, conn: Connection, table: sa.Table, n: int) -> list[int]:
        """Ids for ``n`` new rows, so inserts need no RETURNING (plain, fast executemany).

        PostgreSQL hands them out from the table's sequence. SQLite continues after the
        current maximum, under the write lock this transaction takes first; every insert
        into people, tickets and messages in the transaction goes through here.
        """
        if n <= 0:
            return []
        name = table.name
        if conn.dialect.name == "postgresql":
            return list(
                conn.execute(
                    sa.text(
                        "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                    ),
                    {"t": name, "n": n},
                ).scalars()
            )
        nxt = self._next_id.get(name)
        if nxt is None:
            conn.exec_driver_sql(f"DELETE FROM {name} WHERE 0")  # take the write lock now
            nxt = (conn.exec_driver_sql(f"SELECT max(id) FROM {name}").scalar() or 0) + 1
        self._next_id[name] = nxt + n
        return list(range(nxt, nxt + n))

    def _insert_new(
        self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]]
    ) -> list[int]:
        """Insert rows with fresh ids; returns the ids in order."""
        ids = self._new_ids(conn, table, len(rows))
        for row, eid in zip(rows, ids, strict=True):
            row["id"] = eid
        bulk_insert(conn, table, rows)
        return ids

    def _lookup(
        self, conn: Connection, kind: str, native_ids: Sequence[str]
    ) -> dict[str, tuple[int, str | None]]:
        found: dict[str, tuple[int, str | None]] = {}
        for nid, eid, h in provenance.by_native_id(conn, self.connection, kind, list(native_ids)):
            found[nid] = (eid, h)
        if kind in SHARED_KINDS and len(found) < len(set(native_ids)):
            found.update(self._adopt(conn, kind, [n for n in native_ids if n not in found]))
        return found

    def _adopt(
        self, conn: Connection, kind: str, native_ids: list[str]
    ) -> dict[str, tuple[int, str | None]]:
        """Mail another mail connection already imported: the same entity, our provenance."""
        if self._shared is None:
            self._shared = mail_connections(conn, self.connection)
        if not self._shared:
            return {}
        p = PROVENANCE.c
        found: dict[str, tuple[int, str | None]] = {}
        for part in chunks(list(dict.fromkeys(native_ids))):
            rows = conn.execute(
                sa.select(p.native_id, p.entity_id, p.content_hash)
                .where(p.connection.in_(self._shared), p.kind == kind, p.native_id.in_(part))
                .order_by(p.id)
            )
            for nid, eid, h in rows:
                found.setdefault(nid, (eid, h))
        self._add_provenance(conn, kind, [(nid, eid, h) for nid, (eid, h) in found.items()])
        return found

    def _add_provenance(
        self, conn: Connection, kind: str, rows: list[tuple[str, int, str | None]]
    ) -> None:
        if not rows:
            return
        now = utcnow()
        if conn.dialect.name == "sqlite":
            c, k, run, at = self.connection, kind, self.run_id, _sqlite_time(now)
            conn.exec_driver_sql(
                _PROV_INSERT, [(c, k, nid, eid, h, run, at) for nid, eid, h in rows]
            )
            return
        bulk_insert(
            conn,
            PROVENANCE,
            [
                {
                    "connection": self.connection,
                    "kind": kind,
                    "native_id": nid,
                    "entity_id": eid,
                    "content_hash": h,
                    "run_id": self.run_id,
                    "updated_at": now,
                }
                for nid, eid, h in rows
            ],
        )

    def _touch_provenance(self, conn: Connection, kind: str, rows: list[tuple[str, str]]) -> None:
        if not rows:
            return
        if conn.dialect.name == "sqlite":
            c, k, run, at = self.connection, kind, self.run_id, _sqlite_time(utcnow())
            conn.exec_driver_sql(_PROV_TOUCH, [(h, run, at, c, k, nid) for nid, h in rows])
            return
        p = PROVENANCE.c
        conn.execute(
            PROVENANCE.update()
            .where(
                p.connection == self.connection, p.kind == kind, p.native_id == sa.bindparam("nid")
            )
            .values(content_hash=sa.bindparam("h"), run_id=self.run_id, updated_at=utcnow()),
            [{"nid": nid, "h": h} for nid, h in rows],
        )

    # organizations and groups ---------------------------------------------------
    def _upsert_named(
        self, conn: Connection, kind: str, rec: OrgRec | GroupRec, counts: IngestCounts
    ) -> None:
        table = ORGS if kind == "organization" else GROUPS
        values: dict[str, Any] = {"name": rec.name}
        if isinstance(rec, OrgRec):
            values["domains"] = rec.domains
        h = content_hash(*values.values())
        hit = self._lookup(conn, kind, [rec.native_id]).get(rec.native_id)
        if hit and hit[1] == h:
            counts.unchanged[kind] += 1
        elif hit:
            conn.execute(table.update().where(table.c.id == hit[0]).values(**values))
            self._touch_provenance(conn, kind, [(rec.native_id, h)])
            counts.changed[kind] += 1
        else:
            eid = self._by_name(conn, table, rec.name)
            if eid is None:
                eid = conn.execute(
                    table.insert().values(**values).returning(table.c.id)
                ).scalar_one()
            self._add_provenance(conn, kind, [(rec.native_id, eid, h)])
            counts.new[kind] += 1
        self._refs[(kind, rec.native_id)] = hit[0] if hit else eid

    @staticmethod
    def _by_name(conn: Connection, table: sa.Table, name: str) -> int | None:
        return conn.execute(sa.select(table.c.id).where(table.c.name == name).limit(1)).scalar()

    def _resolve_named(self, conn: Connection, kind: str, ref: str | None) -> int | None:
        """An organization/group reference: a native id this source gave, else a name."""
        if not ref:
            return None
        key = (kind, ref)
        if key in self._refs:
            return self._refs[key]
        table = ORGS if kind == "organization" else GROUPS
        hit = self._lookup(conn, kind, [ref]).get(ref)
        eid = hit[0] if hit else self._by_name(conn, table, ref)
        if eid is None:
            extra = {"domains": []} if kind == "organization" else {}
            eid = conn.execute(
                table.insert().values(name=ref, **extra).returning(table.c.id)
            ).scalar_one()
        self._refs[key] = eid
        return eid

    # people -------------------------------------------------------------------------
    def _load_emails(self, conn: Connection, emails: Iterable[str]) -> None:
        missing = sorted({e for e in emails if e and e not in self._emails})
        e = EMAILS.c
        for part in chunks(missing):
            rows = provenance.select_in(conn, (e.email, e.person_id), e.email, part)
            for email, pid in rows:
                self._emails[email] = pid

    def _add_emails(
        self,
        conn: Connection,
        person_id: int,
        emails: Iterable[str],
        primary_first: bool,
        sink: list[dict[str, Any]] | None = None,
    ) -> None:
        """Give a person addresses nobody has yet; rows go to ``sink`` when one is given."""
        rows = []
        for i, email in enumerate(emails):
            if email and email not in self._emails:
                self._emails[email] = person_id
                rows.append(
                    {"person_id": person_id, "email": email, "primary": primary_first and i == 0}
                )
        if sink is not None:
            sink += rows
        elif rows:
            conn.execute(EMAILS.insert(), rows)

    def _upsert_people(self, conn: Connection, wave: list[PersonRec], counts: IngestCounts) -> None:
        known = self._lookup(conn, "person", [p.native_id for p in wave])
        self._load_emails(conn, (e for p in wave for e in p.emails))
        new_prov, touched = [], []
        fresh: dict[int, dict[str, Any]] = {}  # people made in this wave, inserted at the end
        new_emails: list[dict[str, Any]] = []
        pool: list[int] = []
        for rec in wave:
            h = content_hash(rec.name, rec.emails, rec.phone, rec.role, rec.organization)
            org_id = self._resolve_named(conn, "organization", rec.organization)
            values = {
                "name": rec.name,
                "phone": rec.phone,
                "role": rec.role,
                "organization_id": org_id,
            }
            hit = known.get(rec.native_id)
            if hit and hit[1] == h:
                counts.unchanged["person"] += 1
                pid = hit[0]
            elif hit:
                pid = hit[0]
                conn.execute(PEOPLE.update().where(PEOPLE.c.id == pid).values(**values))
                self._add_emails(conn, pid, rec.emails, False)
                touched.append((rec.native_id, h))
                counts.changed["person"] += 1
            else:
                pid = next((self._emails[e] for e in rec.emails if e in self._emails), None)
                if pid is None:
                    if not pool:
                        pool = self._new_ids(conn, PEOPLE, len(wave))[::-1]
                    pid = pool.pop()
                    fresh[pid] = {"id": pid, **values}
                else:  # the same person met before by address: fill in what this source knows
                    fill = {k: v for k, v in values.items() if v is not None and k != "role"}
                    if rec.role == "agent":
                        fill["role"] = "agent"
                    if pid in fresh:
                        fresh[pid].update(fill)
                    elif fill:
                        conn.execute(PEOPLE.update().where(PEOPLE.c.id == pid).values(**fill))
                self._add_emails(conn, pid, rec.emails, True, sink=new_emails)
                new_prov.append((rec.native_id, pid, h))
                counts.new["person"] += 1
            self._refs[("person", rec.native_id)] = pid
        if fresh:
            bulk_insert(conn, PEOPLE, list(fresh.values()))
        if new_emails:
            bulk_insert(conn, EMAILS, new_emails)
        self._add_provenance(conn, "person", new_prov)
        self._touch_provenance(conn, "person", touched)

    def _resolve_people(self, conn: Connection, refs: list[PersonRef]) -> None:
        """Make sure every reference has a person; create the missing ones in bulk."""
        # A batch names the same people again and again: once each is enough (in the order
        # first met; a repeated reference would find its person and change nothing).
        refs = list(dict(zip(map(_REF_FIELDS, refs), refs, strict=True)).values())
        native = [n for r in refs if (n := _person_key(r)) and ("person", n) not in self._refs]
        if native:
            for nid, (eid, _h) in self._lookup(conn, "person", native).items():
                self._refs[("person", nid)] = eid
        self._load_emails(conn, (r.email for r in refs if r.email))
        agents: set[int] = set()
        names: dict[int, str] = {}
        fresh: list[dict[str, Any]] = []
        new_emails: list[dict[str, Any]] = []
        new_prov: list[tuple[str, int, str | None]] = []
        pool: list[int] = []
        for ref in refs:
            pid = self._person_id(ref)
            if pid is None:
                if not pool:
                    missing = {
                        (_person_key(r), r.email, r.name)
                        for r in refs
                        if self._person_id(r) is None
                    }
                    pool = self._new_ids(conn, PEOPLE, len(missing))[::-1]
                pid = pool.pop()
                fresh.append({"id": pid, "name": ref.name, "role": ref.role or "customer"})
                if ref.email:
                    self._add_emails(conn, pid, [ref.email], True, sink=new_emails)
                key = _person_key(ref)
                if key:  # a name-only reference is found again by its name on the next run
                    new_prov.append((key, pid, None))
                    self._refs[("person", key)] = pid
                self._done.add(("named", pid))
                if ref.role == "agent":
                    self._done.add(("agent", pid))
                continue
            if ref.role == "agent" and ("agent", pid) not in self._done:
                agents.add(pid)
                self._done.add(("agent", pid))
            if ref.name and ("named", pid) not in self._done:
                names.setdefault(pid, ref.name)
                self._done.add(("named", pid))
        if fresh:
            bulk_insert(conn, PEOPLE, fresh)
        if new_emails:
            bulk_insert(conn, EMAILS, new_emails)
        self._add_provenance(conn, "person", new_prov)
        if agents:
            conn.execute(
                PEOPLE.update()
                .where(PEOPLE.c.id.in_(sorted(agents)), PEOPLE.c.role != "agent")
                .values(role="agent")
            )
        if names:  # a person first met without a name takes the first name a source gives
            conn.execute(
                PEOPLE.update()
                .where(PEOPLE.c.id == sa.bindparam("_id"), PEOPLE.c.name.is_(None))
                .values(name=sa.bindparam("_name")),
                [{"_id": pid, "_name": n} for pid, n in names.items()],
            )

    def _person_id(self, ref: PersonRef | None) -> int | None:
        if ref is None:
            return None
        key = _person_key(ref)
        if key and ("person", key) in self._refs:
            return self._refs[("person", key)]
        if ref.email and ref.email in self._emails:
            return self._emails[ref.email]
        return None

    # tickets and messages -------------------------------------------------------------
    def _upsert_tickets(
        self, conn: Connection, wave: list[TicketRec], counts: IngestCounts
    ) -> None:
        refs = [r for t in wave for r in (t.requester, t.assignee) if r is not None]
        refs += [m.author for t in wave for m in t.messages if m.author is not None]
        if refs:
            self._resolve_people(conn, refs)
        known = self._lookup(conn, "ticket", [t.native_id for t in wave])
        inserts, updates, new_prov, touched = [], [], [], []
        ticket_ids: dict[str, int] = {}
        for t in wave:
            h = ticket_hash(t)
            hit = known.get(t.native_id)
            if hit and hit[1] == h:
                counts.unchanged["ticket"] += 1
                ticket_ids[t.native_id] = hit[0]
                continue
            row = self._ticket_row(conn, t)
            if hit:
                ticket_ids[t.native_id] = hit[0]
                updates.append({"_id": hit[0], **row})
                touched.append((t.native_id, h))
                counts.changed["ticket"] += 1
            else:
                inserts.append((t.native_id, h, row))
                counts.new["ticket"] += 1
        if inserts:
            ids = self._insert_new(conn, TICKETS, [row for _n, _h, row in inserts])
            for (nid, h, row), eid in zip(inserts, ids, strict=True):
                ticket_ids[nid] = eid
                new_prov.append((nid, eid, h))
                self._index[eid] = search.NewText(True, (row["subject"], row["requester_id"]))
        for u in updates:
            self._index.setdefault(u["_id"], search.NewText()).head = (
                u["subject"],
                u["requester_id"],
            )
        if updates:
            edits.keep_agents(conn, updates)  # what agents changed since, the source has not
            bulk_update(conn, TICKETS, updates)
        self._add_provenance(conn, "ticket", new_prov)
        self._touch_provenance(conn, "ticket", touched)
        self._upsert_messages(conn, wave, ticket_ids, counts)
        keyed = [(ticket_ids[t.native_id], t) for t in wave if t.thread_keys or t.subject_keys]
        if keyed:  # mail threading's keys, committed with the tickets they find
            threads.record_keys(conn, self.connection, keyed)

    def _ticket_row(self, conn: Connection, t: TicketRec) -> dict[str, Any]:
        return {
            "subject": t.subject,
            "status": t.status,
            "priority": t.priority,
            "type": t.type,
            "channel": t.channel,
            "requester_id": self._person_id(t.requester),
            "assignee_id": self._person_id(t.assignee),
            "group_id": self._resolve_named(conn, "group", t.group),
            "organization_id": self._resolve_named(conn, "organization", t.organization),
            "tags": t.tags,
            "custom_fields": t.custom_fields,
            "created_at": t.created_at,
            "updated_at": t.updated_at,
            "solved_at": t.solved_at,
            "is_auto": t.is_auto,
            "is_spam": t.is_spam,
            "origin_source": t.origin_source,
            "origin_id": t.origin_id,
            "thread_key": t.thread_key,
        }

    def _upsert_messages(
        self,
        conn: Connection,
        wave: list[TicketRec],
        ticket_ids: dict[str, int],
        counts: IngestCounts,
    ) -> None:
        pairs = [(t.native_id, m) for t in wave for m in t.messages]
        for sub in _unique_waves(pairs, key=lambda p: p[1].native_id):
            self._upsert_message_wave(conn, sub, ticket_ids, counts)

    def _upsert_message_wave(
        self,
        conn: Connection,
        pairs: list[tuple[str, MessageRec]],
        ticket_ids: dict[str, int],
        counts: IngestCounts,
    ) -> None:
        known = self._lookup(conn, "message", [m.native_id for _t, m in pairs])
        inserts, updates, new_prov, touched = [], [], [], []
        person_id = self._person_id
        for tnid, m in pairs:
            h = message_hash(m, tnid)
            hit = known.get(m.native_id)
            if hit and hit[1] == h:
                counts.unchanged["message"] += 1
                continue
            values = _message_values(m, ticket_ids[tnid], person_id(m.author))
            if hit:
                self._index.setdefault(values[0], search.NewText())
                self._rebuild.add(values[0])
                updates.append((hit[0], dict(zip(_MSG_COLS, values, strict=True)), m))
                touched.append((m.native_id, h))
                counts.changed["message"] += 1
            else:
                inserts.append((m.native_id, h, values, m))
        counts.new["message"] += len(inserts)
        att_rows: list[dict[str, Any]] = []
        if inserts:
            ids = self._new_ids(conn, MESSAGES, len(inserts))
            self._insert_messages(conn, ids, [v for _n, _h, v, _m in inserts])
            index = self._index
            for (nid, h, v, m), eid in zip(inserts, ids, strict=True):
                new_prov.append((nid, eid, h))
                text = index.get(v[0])
                if text is None:
                    text = index[v[0]] = search.NewText()
                text.messages.append((eid, v[1], m))
                if m.attachments:
                    att_rows += _attachment_rows(eid, m)
        if updates:
            for old in self._tickets_left(conn, [(eid, row) for eid, row, _m in updates]):
                self._index.setdefault(old, search.NewText())  # its document loses that text
                self._rebuild.add(old)
            conn.execute(
                MESSAGES.update().where(MESSAGES.c.id == sa.bindparam("_id")),
                [{"_id": eid, **row} for eid, row, _m in updates],
            )
            conn.execute(
                ATTACHMENTS.delete().where(
                    ATTACHMENTS.c.message_id.in_([eid for eid, _r, _m in updates])
                )
            )
            for eid, _row, m in updates:
                att_rows += _attachment_rows(eid, m)
        if att_rows:
            bulk_insert(conn, ATTACHMENTS, att_rows)
        self._add_provenance(conn, "message", new_prov)
        self._touch_provenance(conn, "message", touched)

    @staticmethod
    def _tickets_left(conn: Connection, updates: list[tuple[int, dict[str, Any]]]) -> set[int]:
        """The tickets that changed messages move away from (before the update)."""
        going = {eid: row["ticket_id"] for eid, row in updates}
        m = MESSAGES.c
        left: set[int] = set()
        for part in chunks(list(going)):
            for eid, tid in conn.execute(sa.select(m.id, m.ticket_id).where(m.id.in_(part))):
                if tid != going[eid]:
                    left.add(tid)
        return left

    @staticmethod
    def _insert_messages(conn: Connection, ids: list[int], values: list[tuple[Any, ...]]) -> None:
        if conn.dialect.name != "sqlite":
            rows = [
                {"id": eid, **dict(zip(_MSG_COLS, v, strict=True))}
                for eid, v in zip(ids, values, strict=True)
            ]
            bulk_insert(conn, MESSAGES, rows)
            return
        try:
            params = list(map(_sqlite_message, ids, values))
        except ValueError as exc:
            raise sa.exc.StatementError(str(exc), _MSG_INSERT, None, exc) from exc
        conn.exec_driver_sql(_MSG_INSERT, params)

    # state ---------------------------------------------------------------------
    def _save_state(self, conn: Connection, state: dict[str, dict[str, Any]]) -> None:
        now = utcnow()
        s = SYNC_STATE.c
        for stream, cursor in state.items():
            done = conn.execute(
                SYNC_STATE.update()
                .where(s.connection == self.connection, s.stream == stream)
                .values(cursor=cursor, updated_at=now)
            ).rowcount
            if not done:
                conn.execute(
                    SYNC_STATE.insert().values(
                        connection=self.connection, stream=stream, cursor=cursor, updated_at=now
                    )
                )


_REF_FIELDS = attrgetter("native_id", "email", "name", "role")


def _person_key(ref: PersonRef) -> str | None:
    """The provenance key of a person reference: its native id; for a reference with
    neither id nor e-mail (an agent named in a CSV export), ``name:<the name>``, so the
    next import of the same connection finds that person again instead of adding one."""
    if ref.native_id:
        return ref.native_id
    if not ref.email and ref.name:
        return f"name:{ref.name.strip()}"
    return None


def _attachment_rows(message_id: int, m: MessageRec) -> list[dict[str, Any]]:
    return [
        {
            "message_id": message_id,
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "sha256": a.sha256,
            "content_id": a.content_id,
            "inline": a.inline,
        }
        for a in m.attachments
    ]
