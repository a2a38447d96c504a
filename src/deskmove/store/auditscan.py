"""What the audit's channel scan reads, without SQLAlchemy or the model: its rows, the
keys for the headers it reads, and a plain ``sqlite3`` reader of a SQLite store, so a
worker process of the scan (:mod:`deskmove.audit.parallel`) starts quickly.

:mod:`deskmove.store.audit` builds the scan's query; this module only reads its rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from deskmove.records import ENVELOPE_HEADERS

# The headers the channel rules read, in four parts. The scan reads each part as one
# text key (the same text for the same values), so the audit decides once per distinct
# key what a part means, instead of once per message.
ENVELOPE_PART = (*ENVELOPE_HEADERS, "recipient")
SIGNAL_PART = (
    "list-id",
    "x-mailer",
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-php-originating-script",
    "user-agent",
)
FORM_PART = ("reply-to", "form-from", "sender", "return-path", "content-type")
VIA_PART = ("via", "recipient")  # read for tickets whose channel is not e-mail only


class ScanRow(NamedTuple):
    """One message as the channel scan reads it.

    ``to`` and ``cc`` are keys for :meth:`AuditQueries.address_list`; ``envelope``,
    ``signals``, ``form`` and ``via`` are keys for :meth:`AuditQueries.header_part`
    (``via`` is None on e-mail tickets). Equal keys stand for equal values.
    """

    ticket_id: int
    author_id: int | None
    direction: str
    created_at: datetime | None
    to: Any
    cc: Any
    envelope: Any
    signals: Any
    form: Any
    via: Any
    is_auto: bool
    subject: str | None
    body_text: str | None
    channel: str
    ticket_subject: str | None


def _json(value: Any) -> Any:
    """A JSON column's value: text on SQLite (decoded here), already decoded on PostgreSQL."""
    if value.__class__ is not str:
        return value
    if value == "[]":
        return []
    if value == "{}":
        return {}
    return json.loads(value)


class _Decoded(dict):
    """Decoded keys, kept up to a bound (then forgotten): memory stays flat however many
    distinct values a store holds, and a forgotten key is only decoded again."""

    LIMIT = 20000

    def __init__(self, decode: Any) -> None:
        super().__init__()
        self._decode = decode

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.LIMIT:
            self.clear()
        value = self[key] = self._decode(key)
        return value


def _decode_part(key: tuple[str, tuple[str, ...]]) -> dict[str, Any]:
    text, names = key
    values = _json(text)
    return {n: v for n, v in zip(names, values, strict=True) if v is not None}


class _Stamps:
    """A timestamp column's value as the model's UTCDateTime gives it, read fast when it is
    the store's own SQLite text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC); other values go
    through the column type's own processing (imported only then)."""

    def __init__(self, dialect: Any) -> None:
        self._dialect = dialect
        self._processor: Callable[[Any], datetime | None] | None = None

    def _slow(self, value: Any) -> datetime | None:
        if self._processor is None:
            from deskmove.model import Message

            dialect = self._dialect
            if dialect is None:
                from sqlalchemy.dialects import sqlite

                dialect = sqlite.dialect()
            column_type = Message.__table__.c.created_at.type
            self._processor = column_type.dialect_impl(dialect).result_processor(dialect, None)
        return self._processor(value) if self._processor else value

    def __call__(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if value.__class__ is str and len(value) == 26:
            try:  # naive text is UTC; text with an offset of its own fails here
                return _from_iso(value + "+00:00")
            except ValueError:
                return self._slow(value)
        return self._slow(value)


_from_iso = datetime.fromisoformat


@dataclass(frozen=True)
class ScanSource:
    """Where another process reads the messages from (sent to it through a pipe, never on
    a command line: a PostgreSQL URL may hold a password)."""

    dialect: str
    url: str  # the SQLite file's path, or the PostgreSQL URL
    snapshot: str | None  # PostgreSQL: the exported snapshot to read

    def __repr__(self) -> str:
        return f"ScanSource({self.dialect!r})"


def scan_rows(rows: Iterable[tuple[Any, ...]], stamp: _Stamps) -> Iterator[ScanRow]:
    """The scan query's raw rows as :class:`ScanRow` (timestamps decoded, flags as bools)."""
    make = ScanRow._make
    for tid, aid, direction, at, to, cc, env, signals, form, via, auto, *rest in rows:
        yield make(
            (tid, aid, direction, stamp(at), to, cc, env, signals, form, via, bool(auto), *rest)
        )


class ScanKeys:
    """What the keys of a :class:`ScanRow` stand for, decoded once per distinct key."""

    def __init__(self) -> None:
        self._lists = _Decoded(_json)
        self._parts = _Decoded(_decode_part)

    def address_list(self, key: Any) -> list[str] | None:
        """The addresses a ``to`` or ``cc`` key stands for (shared between equal keys: do
        not change it)."""
        return self._lists[key]

    def header_part(self, key: Any, names: tuple[str, ...]) -> dict[str, Any]:
        """name -> value of the headers a part key stands for (absent and JSON-null headers
        left out; shared between equal keys: do not change it)."""
        if key is None:
            return {}
        return self._parts[(key, names)]


class SqliteScanReader(ScanKeys):
    """The scan's rows from a SQLite store opened read-only with plain ``sqlite3``, in one
    read transaction; ``sql`` is the scan's query for a range of messages, as
    :meth:`deskmove.store.audit.AuditQueries.scan_sql` writes it."""

    def __init__(self, path: str, sql: str) -> None:
        super().__init__()
        self._sql = sql
        self._con = sqlite3.connect(
            "file:" + quote(path) + "?mode=ro", uri=True, timeout=30, isolation_level=None
        )
        self._con.execute("BEGIN")

    def messages_to_scan(
        self, batch: int = 2000, *, after: int | None = None, upto: int | None = None
    ) -> Iterator[ScanRow]:
        """The rows of the range the query was written for (``after``/``upto`` are in it)."""
        cursor = self._con.cursor()
        try:
            cursor.execute(self._sql)
            yield from scan_rows(_batches(cursor, batch), _Stamps(None))
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()


def _batches(cursor: sqlite3.Cursor, batch: int) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(batch):
        yield from rows
