"""The audit's queries: everything the channel audit and migration plan read or write.

The audit (``deskmove.audit``) decides what the numbers mean; this module only
counts, groups and streams rows, the same way on SQLite and PostgreSQL. All of
it runs in one read transaction, opened by :meth:`deskmove.store.Store.audit`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event

from deskmove.model import (
    Attachment,
    AuditCheck,
    Message,
    Person,
    PersonEmail,
    Provenance,
    Quarantine,
    Ticket,
    utcnow,
)
from deskmove.store import people
from deskmove.store.auditscan import (  # noqa: F401 - the scan's parts, also read from here
    ENVELOPE_PART,
    FORM_PART,
    SIGNAL_PART,
    VIA_PART,
    ScanKeys,
    ScanRow,
    ScanSource,
    _Decoded,
    _Stamps,
    scan_rows,
)
from deskmove.store.people import PRIMARY_FIRST

TICKETS, MESSAGES, ATTACHMENTS = Ticket.__table__, Message.__table__, Attachment.__table__
PEOPLE, EMAILS, QUARANTINE = Person.__table__, PersonEmail.__table__, Quarantine.__table__
CHECKS, PROVENANCE = AuditCheck.__table__, Provenance.__table__
CLOSED = ("solved", "closed")
REPLACEMENT = "\ufffd"
VOLUME_COUNTS = ("tickets", "messages", "attachments", "attachment_bytes", "people")


_SNAPSHOT = re.compile(r"^[0-9A-Fa-f-]+$")


@contextmanager
def scan_reader(source: ScanSource) -> Iterator[AuditQueries]:
    """The audit's queries in another process, read-only: on SQLite over the same file
    opened with ``mode=ro``; on PostgreSQL in a repeatable-read transaction on the
    snapshot the audit's own transaction exported, so both see the same rows."""
    from deskmove.store.engine import make_engine

    if source.dialect == "sqlite":
        uri = "file:" + quote(source.url) + "?mode=ro"

        def connect() -> sqlite3.Connection:
            con = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
            con.isolation_level = None  # BEGIN is issued below
            return con

        engine = sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    else:
        engine = make_engine(source.url)
    try:
        with engine.connect() as conn:
            if source.snapshot is not None:
                if not _SNAPSHOT.match(source.snapshot):
                    raise ValueError("not a snapshot id")
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if source.snapshot is not None:
                    conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{source.snapshot}'")
                yield AuditQueries(conn)
    finally:
        engine.dispose()


class AuditQueries(ScanKeys):
    """The audit's reads (and its ticks) over one open connection."""

    def __init__(self, conn: sa.Connection) -> None:
        super().__init__()
        self._conn = conn
        self._dialect = conn.dialect.name

    # people -----------------------------------------------------------------------
    def person_addresses(self) -> Iterator[tuple[int, str]]:
        """``(person id, address)``, each person's primary address first (store.people)."""
        e = EMAILS.c
        yield from self._conn.execute(
            sa.select(e.person_id, e.email).order_by(e.person_id, *PRIMARY_FIRST)
        )

    def agent_ids(self) -> set[int]:
        p = PEOPLE.c
        return set(self._conn.execute(sa.select(p.id).where(p.role == "agent")).scalars())

    def agent_phones(self) -> list[tuple[str | None, str]]:
        """``(name, phone)`` of the agents whose phone the people table has."""
        p = PEOPLE.c
        query = sa.select(p.name, p.phone).where(p.role == "agent", p.phone.is_not(None))
        return list(self._conn.execute(query.order_by(p.id)))

    def some_addresses(self, limit: int) -> list[str]:
        """Up to ``limit`` of the people's addresses (to guess the country from domains)."""
        return list(self._conn.execute(sa.select(EMAILS.c.email).limit(limit)).scalars())

    def source_connections(self) -> list[str]:
        p = PROVENANCE.c
        query = sa.select(p.connection).distinct().order_by(p.connection)
        return list(self._conn.execute(query).scalars())

    # the message scan ---------------------------------------------------------------
    def messages_to_scan(
        self, batch: int = 2000, *, after: int | None = None, upto: int | None = None
    ) -> Iterator[ScanRow]:
        """Every message (with an id above ``after`` and up to ``upto``, when given), in id
        order, with the columns the channel scan reads, ``batch`` rows at a time.

        The recipients and the headers the rules read come as text keys (see
        :class:`ScanRow`): the database picks the headers out, and the audit decodes each
        distinct key once. Timestamps are decoded here, with a fast path for the store's
        own UTC text: the same values the model's column types would give.
        """
        rows = self._rows(self._scan_query(after, upto), batch)
        return scan_rows(rows, _Stamps(self._conn.dialect))

    def scan_sql(self, after: int | None, upto: int | None) -> str:
        """The scan's query for a range, as SQL text for another process's plain ``sqlite3``
        connection (:class:`deskmove.store.auditscan.SqliteScanReader`)."""
        query = self._scan_query(after, upto)
        return str(
            query.compile(dialect=self._conn.dialect, compile_kwargs={"literal_binds": True})
        )

    def _scan_query(self, after: int | None, upto: int | None) -> sa.Select:
        m, t = MESSAGES.c, TICKETS.c
        query = (
            sa.select(
                m.ticket_id,
                m.author_id,
                m.direction,
                sa.type_coerce(m.created_at, sa.String).label("created_at"),
                self._as_text(m.to).label("to"),
                self._as_text(m.cc).label("cc"),
                self._part(ENVELOPE_PART).label("envelope"),
                self._part(SIGNAL_PART).label("signals"),
                self._part(FORM_PART).label("form"),
                sa.case((t.channel != "email", self._part(VIA_PART))).label("via"),
                m.is_auto,
                m.subject,
                m.body_text,
                t.channel,
                t.subject.label("ticket_subject"),
            )
            .join(TICKETS, t.id == m.ticket_id)
            .order_by(m.id)
        )
        if after is not None:
            query = query.where(m.id > after)
        if upto is not None:
            query = query.where(m.id <= upto)
        return query

    def _rows(self, query: sa.Select, batch: int) -> Iterator[tuple[Any, ...]]:
        """A big read's rows as plain tuples, ``batch`` at a time. On SQLite straight from
        the driver's cursor (in this connection's transaction): the columns are then read
        raw (text, integers), as the callers decode them; elsewhere through SQLAlchemy."""
        if self._dialect != "sqlite":
            yield from self._conn.execute(query.execution_options(yield_per=batch))
            return
        sql = str(query.compile(dialect=self._conn.dialect, compile_kwargs={"literal_binds": True}))
        cursor = self._conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch):
                yield from rows
        finally:
            cursor.close()

    def scan_parts(self, shares: list[float]) -> list[tuple[int | None, int]] | None:
        """The messages cut into id ranges ``(after, upto]`` holding about ``shares`` of
        them each, in id order (``after`` None for the first); None without messages."""
        m = MESSAGES.c
        n, last = self._conn.execute(sa.select(sa.func.count(), sa.func.max(m.id))).one()
        if not n:
            return None
        parts: list[tuple[int | None, int]] = []
        after: int | None = None
        done = 0.0
        for share in shares[:-1]:
            done += share
            offset = min(n - 1, max(0, round(n * done) - 1))
            upto = self._conn.execute(
                sa.select(m.id).order_by(m.id).offset(offset).limit(1)
            ).scalar_one()
            if after is not None and upto <= after:
                continue
            parts.append((after, upto))
            after = upto
        if after is None or after < last:
            parts.append((after, last))
        return parts

    def message_count(self) -> int:
        return self._conn.execute(sa.select(sa.func.count()).select_from(MESSAGES)).scalar_one()

    def share(self) -> ScanSource | None:
        """What another process needs to read this store as this transaction does (see
        :func:`scan_reader`): on PostgreSQL this transaction's snapshot is exported; on
        SQLite the other process reads the same file read-only. None for an in-memory store."""
        url = self._conn.engine.url
        if self._dialect == "sqlite":
            database = url.database
            if not database or database == ":memory:" or database.startswith("file:"):
                return None
            return ScanSource("sqlite", str(Path(database).resolve()), None)
        if self._dialect != "postgresql":
            return None
        snapshot = self._conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
        return ScanSource(self._dialect, url.render_as_string(hide_password=False), snapshot)

    def _as_text(self, col: Any) -> Any:
        """A JSON column as its text (PostgreSQL's jsonb text is canonical: equal values,
        equal text)."""
        if self._dialect == "sqlite":
            return sa.type_coerce(col, sa.String)
        return sa.cast(col, sa.Text)

    def _part(self, names: tuple[str, ...]) -> Any:
        """The values of some headers as one JSON array text (null where absent)."""
        h = MESSAGES.c.headers
        if self._dialect == "sqlite":  # with two or more paths, a JSON array of the values
            paths = [sa.literal_column(f"'$.\"{n}\"'") for n in names]
            return sa.type_coerce(sa.func.json_extract(h, *paths), sa.String)
        values = [h.op("->")(sa.literal_column(f"'{n}'")) for n in names]
        return sa.cast(sa.func.jsonb_build_array(*values), sa.Text)

    def non_email_tickets(self) -> Iterator[tuple[int, str, datetime | None, str | None]]:
        """``(id, channel, created_at, subject)`` of tickets whose channel is not e-mail."""
        t = TICKETS.c
        query = (
            sa.select(t.id, t.channel, t.created_at, t.subject)
            .where(t.channel != "email")
            .execution_options(yield_per=5000)
        )
        yield from self._conn.execute(query)

    # the plan's numbers ---------------------------------------------------------------
    def volume(self) -> dict[str, Any]:
        """Counts per UTC year (``"no date"`` for undated), totals, and the date range."""
        t, m, a = TICKETS.c, MESSAGES.c, ATTACHMENTS.c
        years: dict[str, dict[str, int]] = {}

        def put(rows: Any, *names: str) -> None:
            for y, *nums in rows:
                row = years.setdefault(y or "no date", dict.fromkeys(VOLUME_COUNTS, 0))
                for name, n in zip(names, nums, strict=True):
                    row[name] = int(n or 0)

        ticket_year, message_year = self._year(t.created_at), self._year(m.created_at)
        count, total = sa.func.count, sa.func.coalesce(sa.func.sum(a.size), 0)
        run = self._conn.execute
        put(run(sa.select(ticket_year, count()).group_by(ticket_year)), "tickets")
        put(
            run(
                sa.select(message_year, count(), count(sa.distinct(m.author_id))).group_by(
                    message_year
                )
            ),
            "messages",
            "people",
        )
        put(
            run(
                sa.select(message_year, count(), total)
                .select_from(ATTACHMENTS.join(MESSAGES, m.id == a.message_id))
                .group_by(message_year)
            ),
            "attachments",
            "attachment_bytes",
        )
        first, last = run(sa.select(sa.func.min(m.created_at), sa.func.max(m.created_at))).one()
        tfirst, tlast = run(sa.select(sa.func.min(t.created_at), sa.func.max(t.created_at))).one()
        totals = {k: sum(r[k] for r in years.values()) for k in VOLUME_COUNTS[:4]}
        totals["people"] = run(sa.select(count()).select_from(PEOPLE)).scalar_one()
        return {
            "per_year": [{"year": y, **years[y]} for y in sorted(years)],
            "totals": totals,
            "first": min((x for x in (first, tfirst) if x), default=None),
            "last": max((x for x in (last, tlast) if x), default=None),
        }

    def conversation_spans(self) -> Iterator[tuple[datetime, datetime, int]]:
        """``(first, last, messages)`` of each ticket's dated messages."""
        m = MESSAGES.c
        at = sa.type_coerce(m.created_at, sa.String)  # decoded here, with the fast path
        query = (
            sa.select(sa.func.min(at), sa.func.max(at), sa.func.count())
            .where(m.created_at.is_not(None))
            .group_by(m.ticket_id)
        )
        stamp = _Stamps(self._conn.dialect)
        for first, last, n in self._rows(query, 10000):
            yield stamp(first), stamp(last), n

    def open_tickets(self, *, active_since: datetime | None = None) -> int:
        """Tickets not solved or closed (with a message since ``active_since``, if given)."""
        t, m = TICKETS.c, MESSAGES.c
        if active_since is None:
            query = sa.select(sa.func.count()).where(t.status.not_in(CLOSED))
            return self._conn.execute(query).scalar_one()
        recent = (
            sa.select(m.ticket_id)
            .join(TICKETS, t.id == m.ticket_id)
            .where(t.status.not_in(CLOSED))
            .group_by(m.ticket_id)
            .having(sa.func.max(m.created_at) >= active_since)
            .subquery()
        )
        return self._conn.execute(sa.select(sa.func.count()).select_from(recent)).scalar_one()

    def inbound_offsets(self) -> tuple[int | None, int]:
        """The most common UTC offset (minutes) of inbound mail, and how many have none."""
        m = MESSAGES.c
        inbound = m.direction == "inbound"
        common = self._conn.execute(
            sa.select(m.created_tz, sa.func.count())
            .where(inbound, m.created_tz.is_not(None))
            .group_by(m.created_tz)
            .order_by(sa.func.count().desc())
            .limit(1)
        ).first()
        no_tz = self._conn.execute(
            sa.select(sa.func.count()).where(
                inbound, m.created_at.is_not(None), m.created_tz.is_(None)
            )
        ).scalar_one()
        return (int(common[0]) if common else None), no_tz

    def inbound_by_weekday_hour(self, default_offset: int) -> Iterator[tuple[int, int, int]]:
        """``(weekday 0=Sunday, hour, count)`` of inbound mail in the sender's local time
        (``default_offset`` minutes where the message kept no offset)."""
        m = MESSAGES.c
        dow, hour = self._local_dow_hour(
            m.created_at, sa.func.coalesce(m.created_tz, default_offset)
        )
        query = (
            sa.select(dow, hour, sa.func.count())
            .where(m.direction == "inbound", m.created_at.is_not(None))
            .group_by(dow, hour)
        )
        for d, h, n in self._conn.execute(query):
            yield int(d), int(h), int(n)

    # data quality ---------------------------------------------------------------------
    def quality(self, key: str, now: datetime, examples: int) -> tuple[int, list[Any]]:
        """How many tickets or messages fail one quality check, and the first few of them."""
        t, m = TICKETS.c, MESSAGES.c
        parent = MESSAGES.alias("parent")
        checks: dict[str, tuple[sa.Table, Any]] = {
            "tickets_without_requester": (TICKETS, t.requester_id.is_(None)),
            "tickets_without_messages": (TICKETS, ~sa.exists().where(m.ticket_id == t.id)),
            "messages_without_date": (MESSAGES, m.created_at.is_(None)),
            "dates_in_future": (MESSAGES, m.created_at > now),
            "broken_threads": (
                MESSAGES,
                sa.and_(
                    m.in_reply_to.is_not(None),
                    ~sa.exists().where(parent.c.message_id == m.in_reply_to),
                ),
            ),
            "undecodable_text": (
                MESSAGES,
                sa.or_(m.body_text.contains(REPLACEMENT), m.subject.contains(REPLACEMENT)),
            ),
        }
        table, where = checks[key]
        count = sa.select(sa.func.count()).select_from(table).where(where)
        n = self._conn.execute(count).scalar_one()
        if not n:
            return 0, []
        first = sa.select(table).where(where).order_by(table.c.id).limit(examples)
        return n, list(self._conn.execute(first))

    def people_with_several_addresses(
        self, examples: int
    ) -> tuple[int, list[tuple[int, str | None, list[str]]]]:
        """How many people have more than one address; ``(id, name, addresses)`` of a few."""
        e = EMAILS.c
        many = sa.select(e.person_id).group_by(e.person_id).having(sa.func.count() > 1).subquery()
        n = self._conn.execute(sa.select(sa.func.count()).select_from(many)).scalar_one()
        first = sa.select(many.c.person_id).order_by(many.c.person_id).limit(examples)
        ids = list(self._conn.execute(first).scalars())
        names = people.names(self._conn, ids)
        emails = people.addresses(self._conn, ids)  # primary first, as everywhere (store.people)
        return n, [(pid, names.get(pid), emails.get(pid, [])) for pid in ids]

    def people_sharing_a_name(self, examples: int) -> tuple[int, list[tuple[str, int]]]:
        """How many people share a (case- and space-insensitive) name; ``(name, n)`` of a few."""
        p = PEOPLE.c
        name = sa.func.lower(sa.func.trim(p.name))
        dupes = (
            sa.select(sa.func.min(p.name).label("name"), sa.func.count().label("n"))
            .where(p.name.is_not(None), sa.func.trim(p.name) != "")
            .group_by(name)
            .having(sa.func.count() > 1)
            .subquery()
        )
        total = sa.select(sa.func.coalesce(sa.func.sum(dupes.c.n), 0))
        n = self._conn.execute(total).scalar_one()
        first = (
            sa.select(dupes.c.name, dupes.c.n)
            .order_by(dupes.c.n.desc(), dupes.c.name)
            .limit(examples)
        )
        return int(n), list(self._conn.execute(first))

    def open_quarantine(self, examples: int) -> tuple[int, list[tuple[str, str, str]]]:
        """How many quarantined items are open; ``(connection, reference, reason)`` of a few."""
        q = QUARANTINE.c
        open_ = q.resolved.is_(False)
        n = self._conn.execute(sa.select(sa.func.count()).where(open_)).scalar_one()
        first = sa.select(q.connection, q.native_ref, q.reason).where(open_).order_by(q.id)
        return n, list(self._conn.execute(first.limit(examples)))

    # the consultant's ticks -----------------------------------------------------------
    def saved_checks(self) -> dict[str, Any]:
        """item id -> saved row (``checked``, ``note``, ``evidence_hash``)."""
        return {r.item: r for r in self._conn.execute(sa.select(CHECKS))}

    def save_check(
        self, item: str, *, checked: bool, evidence_hash: str, note: str | None = None
    ) -> None:
        """Tick or untick an item; a note (when given) replaces the old one."""
        values: dict[str, Any] = {
            "checked": checked,
            "evidence_hash": evidence_hash,
            "updated_at": utcnow(),
        }
        if note is not None:
            values["note"] = note
        update = CHECKS.update().where(CHECKS.c.item == item).values(**values)
        if not self._conn.execute(update).rowcount:
            self._conn.execute(CHECKS.insert().values(item=item, **{"note": None, **values}))

    # dates, the same on both databases ------------------------------------------------
    def _year(self, col: Any) -> Any:
        """The UTC year of a timestamp column, as text."""
        if self._dialect == "sqlite":
            return sa.func.strftime("%Y", col)
        return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY")

    def _local_dow_hour(self, col: Any, offset_minutes: Any) -> tuple[Any, Any]:
        """(weekday 0=Sunday, hour) of a UTC timestamp shifted by an offset in minutes."""
        if self._dialect == "sqlite":
            shift = sa.func.printf("%+d minutes", offset_minutes)
            return (
                sa.cast(sa.func.strftime("%w", col, shift), sa.Integer),
                sa.cast(sa.func.strftime("%H", col, shift), sa.Integer),
            )
        local = sa.func.timezone("UTC", col) + sa.func.make_interval(0, 0, 0, 0, 0, offset_minutes)
        return (
            sa.cast(sa.extract("dow", local), sa.Integer),
            sa.cast(sa.extract("hour", local), sa.Integer),
        )
