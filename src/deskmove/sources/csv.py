"""The ``csv:`` source: a folder in the canonical CSV layout, or one tickets CSV file
(canonical, or any other layout through ``?mapping=NAME``).

Options (``csv:PATH?encoding=cp1250&delimiter=;&timezone=Europe/Prague``): the
encoding and delimiter are detected when not given, and said in the notes;
``timezone`` reads canonical timestamps written without an offset.

Every row ends imported or quarantined (file, line, reason, raw bytes). ``read``
counts ticket, message and people rows, plus any other row that was quarantined.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deskmove import csvlayout as L
from deskmove.errors import InputError
from deskmove.mappings import Mapping, load_mapping
from deskmove.records import (
    AttachmentRec,
    Batch,
    MessageRec,
    PersonRec,
    PersonRef,
    QuarantineRec,
    TicketRec,
)
from deskmove.sources.base import Retried, Source
from deskmove.sources.csvjoin import Children, MergedChildren, SpilledChildren, follows
from deskmove.sources.csvrows import Dialect, Row, RowReader, detect
from deskmove.vocabulary import CHANNELS, DIRECTIONS, PRIORITIES, ROLES, STATUSES

if TYPE_CHECKING:
    from deskmove.store import Store
    from deskmove.store.quarantine import Item

BATCH_TICKETS = 2000
BATCH_PEOPLE = 2000


class CsvSource(Source):
    scheme: ClassVar[str] = "csv"
    description: ClassVar[str] = (
        "CSV: the canonical layout (folder), or a ticket export with ?mapping=NAME"
    )
    example: ClassVar[str] = "deskmove import csv:examples/helpdesk"
    item_kinds: ClassVar[tuple[str, ...]] = ("ticket", "message", "person")
    spec_options: ClassVar[tuple[str, ...]] = ("mapping", "encoding", "delimiter", "timezone")

    def __init__(self, conn: Any, project: Any) -> None:
        super().__init__(conn, project)
        self.path = Path(conn.location)
        self.mapping_ref: str | None = conn.option("mapping")
        self.encoding: str | None = conn.option("encoding")
        self.delimiter: str | None = conn.option("delimiter")
        self.naive_tz = _zone(conn.option("timezone"))
        self.mapping: Mapping | None = None
        self._dialects: dict[Path, Dialect] = {}

    # -- checks --------------------------------------------------------------------
    def check(self) -> None:
        if not self.path.exists():
            raise InputError(
                f"{self.path} does not exist",
                "check the path; csv: takes a folder in the canonical layout or a tickets CSV file",
            )
        if self.mapping_ref:
            self.mapping = load_mapping(self.mapping_ref)
        tickets = self.tickets_file()
        header = self.reader(tickets).header
        if not self.mapping and "id" not in header:
            raise InputError(
                f"{tickets.name} is not in deskmove's canonical CSV layout (it has no 'id' column)",
                "pass ?mapping=NAME for another layout, e.g. csv:FILE?mapping=zendesk-csv",
            )
        if self.mapping:
            col = self.mapping.columns.get("id")
            if not col or col not in header:
                raise InputError(
                    f"{tickets.name} has no column '{col}' that mapping {self.mapping.name} reads ticket ids from",
                    f"check that the file is a {self.mapping.name} export, or use another mapping",
                )

    def tickets_file(self) -> Path:
        if self.path.is_file():
            return self.path
        f = self.path / "tickets.csv"
        if not f.is_file():
            raise InputError(
                f"{self.path} has no tickets.csv",
                "give a folder in the canonical CSV layout, or a CSV file (with ?mapping=NAME for other layouts)",
            )
        return f

    def reader(self, path: Path) -> RowReader:
        if path not in self._dialects:
            dialect = detect(path, self.encoding, self.delimiter)
            self._dialects[path] = dialect
            self.notes.append(dialect.describe(path.name))
        return RowReader(path, self._dialects[path], unescape=self.escaped(path))

    def escaped(self, path: Path) -> bool:
        """A deskmove export whose formula cells carry a leading ' (canonical layout only)."""
        return self.mapping_ref is None and L.cells_escaped(path.parent)

    # -- progress ------------------------------------------------------------------
    def size_bytes(self) -> int | None:
        try:
            tickets = self.tickets_file()
            files = (
                [tickets]
                if self.path.is_file()
                else [
                    p
                    for n in ("tickets.csv", "messages.csv", "people.csv", "attachments.csv")
                    if (p := self.path / n).is_file()
                ]
            )
            return sum(p.stat().st_size for p in files)
        except (OSError, InputError):
            return None

    def bytes_read(self) -> int:
        return self._progress() if getattr(self, "_progress", None) else 0

    # -- reading -------------------------------------------------------------------
    def batches(self, state: dict[str, dict[str, Any]], store: Store) -> Iterator[Batch]:
        if self.mapping is None and self.mapping_ref:
            self.mapping = load_mapping(self.mapping_ref)
        if self.mapping is not None:
            from deskmove.sources.csvmapped import mapped_batches

            yield from mapped_batches(self, self.mapping)
        else:
            yield from Canonical(self, store).batches()

    def retry(self, items: list[Item], store: Store) -> Iterator[Retried]:
        """Quarantined rows again, through today's code and mapping.

        A row of a single CSV file is read again on its own, from the bytes kept in
        the quarantine. Rows of a folder in the canonical layout are joined across its
        files, so the folder is read again as a whole: rows that import now leave the
        quarantine, the rest stay.
        """
        if self.mapping is None and self.mapping_ref:
            self.mapping = load_mapping(self.mapping_ref)
        alone = [i for i in items if "header" in i.context and i.raw_sha256]
        joined = [i for i in items if i not in alone]
        if alone:
            rows = [
                (str(i.context["file"]), _reread(i, store), list(i.context["header"]))
                for i in alone
            ]
            if self.mapping is not None:
                from deskmove.sources.csvmapped import mapped_retry

                batch = mapped_retry(self.mapping, rows)
            else:
                batch = self._canonical_retry(rows)
            yield [i.id for i in alone], batch
        if joined:
            self.check()
            self.notes.append(f"{self.path.name}: read again as a whole for the retry")
            for batch in Canonical(self, store).batches():
                yield [], batch

    def _canonical_retry(self, rows: list[tuple[str, Row, list[str]]]) -> Batch:
        batch = Batch()
        for name, row, header in rows:
            try:
                if row.error:
                    raise ValueError(row.error)
                batch.tickets.append(
                    _ticket(dict(zip(header, row.values, strict=False)), self.naive_tz)
                )
            except ValueError as exc:
                nid = row_key(row, header, "id")
                batch.quarantined.append(
                    quarantine(name, row, str(exc), kind="ticket", native_id=nid)
                )
        batch.read = len(batch.tickets) + len(batch.quarantined)
        return batch


def _reread(item: Item, store: Store) -> Row:
    """One quarantined row parsed again on its own, with its header and dialect."""
    import io
    import tempfile

    ctx = item.context
    encoding = str(ctx.get("encoding") or "utf-8")
    delimiter = str(ctx.get("delimiter") or ",")
    head = io.StringIO()
    csv.writer(head, delimiter=delimiter, lineterminator="\r\n").writerow(ctx["header"])
    data = head.getvalue().encode("utf-8" if encoding == "utf-8-sig" else encoding)
    data += store.blobs.get(str(item.raw_sha256))
    with tempfile.TemporaryDirectory(prefix="deskmove-retry-") as tmp:
        path = Path(tmp) / str(ctx.get("file") or "row.csv")
        path.write_bytes(data)
        with RowReader(path, Dialect(encoding, delimiter)) as reader:
            row = next(iter(reader), None)
    if row is None:
        row = Row(0, [], b"", "the kept bytes hold no row")
    row.line = int(ctx.get("line") or 0)
    return row


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone '{name}'", "use a name like Europe/Prague or UTC"
        ) from exc


def quarantine(
    name: str,
    row: Row,
    reason: str,
    *,
    kind: str | None = None,
    native_id: str | None = None,
    header: list[str] | None = None,
    dialect: Dialect | None = None,
) -> QuarantineRec:
    """A row kept with its file and line; with the record it would have become when its key
    column reads (so importing that record later takes it out of the quarantine), and what
    ``retry`` needs to read the row again on its own."""
    context: dict[str, Any] = {"file": name, "line": row.line}
    if header is not None and dialect is not None:
        context.update(header=header, encoding=dialect.encoding, delimiter=dialect.delimiter)
    return QuarantineRec(
        native_ref=f"{name} line {row.line}",
        reason=reason,
        raw=row.raw,
        kind=kind if native_id else None,
        native_id=native_id or None,
        context=context,
    )


def row_key(row: Row, header: list[str], column: str, lower: bool = False) -> str | None:
    """A row's key column, when its columns line up."""
    if column not in header or len(row.values) != len(header):
        return None
    value = row.values[header.index(column)].strip()
    return (value.lower() if lower else value) or None


def _key(idx: int, width: int) -> Any:
    """The join key of a row whose columns line up (even if its bytes were bad), else None."""

    def key(row: Row) -> str | None:
        return (row.values[idx].strip() or None) if len(row.values) == width else None

    return key


class _Unclean(Exception):
    """The quick order check met a row it cannot judge: take the safe (spilled) join."""


class Canonical:
    """One import of a folder in the canonical layout."""

    def __init__(self, src: CsvSource, store: Store) -> None:
        self.src = src
        self.store = store
        tickets = src.tickets_file()
        self.folder = tickets.parent if src.path.is_file() else src.path
        self.single = src.path.is_file()
        self.files = {"tickets.csv": tickets}
        if not self.single:
            for name in ("messages.csv", "people.csv", "attachments.csv"):
                if (self.folder / name).is_file():
                    self.files[name] = self.folder / name
        self.quarantined: list[QuarantineRec] = []

    def open(self, name: str) -> tuple[RowReader, dict[str, int]]:
        reader = self.src.reader(self.files[name])
        col = {h: i for i, h in enumerate(reader.header)}
        missing = [c for c in L.REQUIRED[name] if c not in col]
        if missing:
            reader.close()
            raise InputError(
                f"{name} has no '{missing[0]}' column",
                f"the canonical layout's {name} starts with: {', '.join(L.FILES[name][:6])}",
            )
        extra = [h for h in reader.header if h not in L.FILES[name]]
        note = f"{name}: ignored columns {', '.join(extra)}"
        if extra and note not in self.src.notes:
            self.src.notes.append(note)
        return reader, col

    def keys(self, name: str, column: str) -> Iterator[str]:
        """The key column of a file, read at C speed, for the order check."""
        path = self.files[name]
        dialect = self.src._dialects[path]
        escaped = self.src.escaped(path)
        with path.open(encoding=dialect.encoding, errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=dialect.delimiter, strict=True)
            try:
                header = [h.strip() for h in next(reader)]
                idx, width = header.index(column), len(header)
                for row in reader:
                    if len(row) != width:
                        if row:
                            raise _Unclean(name)
                        continue
                    if k := row[idx].strip():
                        yield k[1:] if escaped and k[:1] == "'" else k
            except csv.Error as exc:
                raise _Unclean(name) from exc

    # -- the run -------------------------------------------------------------------
    def batches(self) -> Iterator[Batch]:
        if "people.csv" in self.files:
            yield from self.people()
        yield from self.tickets()

    def people(self) -> Iterator[Batch]:
        reader, col = self.open("people.csv")
        self.src._progress = reader.tell
        batch = Batch()
        with reader:
            for row in reader:
                try:
                    if row.error:
                        raise ValueError(row.error)
                    batch.people.append(
                        _person(dict(zip(reader.header, row.values, strict=False)), col)
                    )
                except ValueError as exc:
                    email = row_key(row, reader.header, "email", lower=True)
                    batch.quarantined.append(
                        quarantine("people.csv", row, str(exc), kind="person", native_id=email)
                    )
                if len(batch.people) + len(batch.quarantined) >= BATCH_PEOPLE:
                    batch.read = len(batch.people) + len(batch.quarantined)
                    yield batch
                    batch = Batch()
        batch.read = len(batch.people) + len(batch.quarantined)
        if batch.read:
            yield batch

    def children(self, name: str, column: str, parent: tuple[str, str], merge: bool) -> Children:
        reader, col = self.open(name)
        header = reader.header
        key = _key(col[column], len(header))

        def rows() -> Iterator[Row]:
            with reader:
                for row in reader:
                    if not row.error and key(row) is None:
                        row.error = f"missing {column}"
                    yield row

        try:
            ordered = merge and follows(self.keys(*parent), self.keys(name, column))
        except _Unclean:
            ordered = False
        if ordered:
            return MergedChildren(rows(), key)
        self.src.notes.append(
            f"{name} is not in {parent[0]} order: joined through a temporary index (slower)"
        )
        return SpilledChildren(rows(), key, self.store.spool("deskmove-join-"))

    def tickets(self) -> Iterator[Batch]:
        messages = attachments = None
        if "messages.csv" in self.files:
            messages = self.children("messages.csv", "ticket_id", ("tickets.csv", "id"), True)
            if "attachments.csv" in self.files:
                merged = isinstance(messages, MergedChildren)
                attachments = self.children(
                    "attachments.csv", "message_id", ("messages.csv", "id"), merged
                )
        reader, _col = self.open("tickets.csv")
        self.header = reader.header
        self.src._progress = self._joined_progress(reader)
        try:
            with reader:
                chunk: list[Row] = []
                for row in reader:
                    chunk.append(row)
                    if len(chunk) >= BATCH_TICKETS:
                        yield self.build(chunk, messages, attachments)
                        chunk = []
                yield self.build(chunk, messages, attachments)
            yield from self.orphans(messages, attachments)
        finally:
            for c in (messages, attachments):
                if c is not None:
                    c.close()

    def _joined_progress(self, tickets: RowReader) -> Any:
        """Bytes read: people.csv (done before), then tickets.csv with the messages and
        attachments joined to it, counted by how far tickets.csv is read."""
        sizes = {n: p.stat().st_size for n, p in self.files.items()}
        before = sizes.get("people.csv", 0)
        joined = sum(sizes.values()) - before
        own = sizes["tickets.csv"] or 1
        return lambda: before + int(joined * min(1.0, tickets.tell() / own))

    def build(
        self, chunk: list[Row], messages: Children | None, attachments: Children | None
    ) -> Batch:
        batch = Batch()
        key = _key(self.header.index("id"), len(self.header))
        rows = [(r, key(r), dict(zip(self.header, r.values, strict=False))) for r in chunk]
        groups = messages.take([k for _r, k, _d in rows if k]) if messages else {}
        msg_header = self._msg_header() if messages else []
        for row, k, d in rows:
            mrows = groups.pop(k, []) if k else []
            try:
                if row.error:
                    raise ValueError(row.error)
                t = _ticket(d, self.src.naive_tz)
            except ValueError as exc:
                batch.quarantined.append(
                    quarantine(
                        self.files["tickets.csv"].name,
                        row,
                        str(exc),
                        kind="ticket",
                        native_id=k,
                        header=self.header if self.single else None,
                        dialect=self.src._dialects[self.files["tickets.csv"]],
                    )
                )
                self.quarantine_children(batch, row, mrows, msg_header, attachments)
                continue
            self.add_messages(batch, t, mrows, msg_header, attachments)
            batch.tickets.append(t)
        for c, name in ((messages, "messages.csv"), (attachments, "attachments.csv")):
            if c is not None:
                batch.quarantined += [
                    quarantine(name, r, r.error or "unreadable row") for r in c.bad
                ]
                c.bad.clear()
        batch.read = (
            len(batch.tickets)
            + sum(len(t.messages) for t in batch.tickets)
            + len(batch.quarantined)
        )
        return batch

    def _msg_header(self) -> list[str]:
        if not hasattr(self, "_mh"):
            reader, _ = self.open("messages.csv")
            self._mh = reader.header
            reader.close()
        return self._mh

    def _att_header(self) -> list[str]:
        if not hasattr(self, "_ah"):
            reader, _ = self.open("attachments.csv")
            self._ah = reader.header
            reader.close()
        return self._ah

    def quarantine_children(
        self,
        batch: Batch,
        ticket: Row,
        mrows: list[Row],
        header: list[str],
        attachments: Children | None,
    ) -> None:
        """A quarantined ticket's messages (and their attachments) go with it."""
        why = f"its ticket (tickets.csv line {ticket.line}) was quarantined"
        batch.quarantined += [
            quarantine("messages.csv", m, why, kind="message", native_id=row_key(m, header, "id"))
            for m in mrows
        ]
        if attachments is not None and mrows:
            key = _key(header.index("id"), len(header))
            groups = attachments.take([k for m in mrows if (k := key(m))])
            batch.quarantined += [
                quarantine(
                    "attachments.csv",
                    a,
                    f"its message was quarantined ({why})",
                    kind="message",
                    native_id=mid,
                )
                for mid, rows in groups.items()
                for a in rows
            ]

    def _msg_order(self, header: list[str]) -> list[int] | None:
        """Where each canonical messages.csv column is in this file (-1: absent); None
        when the file has exactly the canonical columns in the canonical order."""
        if not hasattr(self, "_mo"):
            order = [header.index(c) if c in header else -1 for c in L.MESSAGES]
            self._mo = None if tuple(header) == L.MESSAGES else order
        return self._mo

    def add_messages(
        self,
        batch: Batch,
        t: TicketRec,
        mrows: list[Row],
        header: list[str],
        attachments: Children | None,
    ) -> None:
        order = self._msg_order(header)
        if order is None:  # the file has exactly the canonical columns, in order
            parsed = [(m, m.values) for m in mrows]
        else:
            parsed = [(m, [m.values[i] if i >= 0 else "" for i in order]) for m in mrows]
        groups = attachments.take([v[0].strip() for _m, v in parsed]) if attachments else {}
        for m, v in parsed:
            arows = groups.pop(v[0].strip(), [])
            try:
                if m.error:
                    raise ValueError(m.error)
                msg = _message(v, self.src.naive_tz)
            except ValueError as exc:
                mid = v[0].strip() or None
                batch.quarantined.append(
                    quarantine("messages.csv", m, str(exc), kind="message", native_id=mid)
                )
                batch.quarantined += [
                    quarantine(
                        "attachments.csv",
                        a,
                        f"its message (messages.csv line {m.line}) was quarantined",
                        kind="message",
                        native_id=mid,
                    )
                    for a in arows
                ]
                continue
            for a in arows:
                try:
                    msg.attachments.append(
                        self.attachment(dict(zip(self._att_header(), a.values, strict=False)))
                    )
                except ValueError as exc:
                    batch.quarantined.append(quarantine("attachments.csv", a, str(exc)))
            t.messages.append(msg)

    def attachment(self, d: dict[str, str]) -> AttachmentRec:
        rel = d.get("path", "").strip()
        sha = d.get("sha256", "").strip().lower()
        path = (self.folder / rel) if rel else None
        if path is not None and path.is_file():
            with path.open("rb") as f:
                got, size = self.store.blobs.put_stream(f)
            if sha and got != sha:
                raise ValueError(f"{rel}: the bytes do not match sha256 {sha[:12]}…")
            sha = got
        elif sha and (known := self.store.blobs.size(sha)) is not None:
            size = known
        else:
            raise ValueError(f"attachment file '{rel}' is missing")
        declared = d.get("size", "").strip()
        if declared and declared.isdigit() and int(declared) != size:
            raise ValueError(f"{rel}: size is {size} bytes, the row says {declared}")
        return AttachmentRec(
            sha256=sha,
            size=size,
            filename=d.get("filename") or None,
            content_type=d.get("content_type") or "application/octet-stream",
            content_id=d.get("content_id") or None,
            inline=L.parse_bool(d.get("inline", ""), False),
        )

    def orphans(self, messages: Children | None, attachments: Children | None) -> Iterator[Batch]:
        batch = Batch()
        for c, name, parent in (
            (messages, "messages.csv", "ticket"),
            (attachments, "attachments.csv", "message"),
        ):
            if c is None:
                continue
            for r in c.leftovers():
                batch.quarantined.append(quarantine(name, r, f"no {parent} with this {parent}_id"))
            batch.quarantined += [quarantine(name, r, r.error or "unreadable row") for r in c.bad]
            c.bad.clear()
        batch.read = len(batch.quarantined)
        batch.state = {"csv": {"files": {n: p.stat().st_size for n, p in self.files.items()}}}
        yield batch


# -- rows -> records -------------------------------------------------------------------
def _enum(
    d: dict[str, str], name: str, allowed: tuple[str, ...], default: str | None
) -> str | None:
    v = d.get(name, "").strip().lower()
    if not v:
        return default
    if v not in allowed:
        raise ValueError(f"unknown {name} '{d[name].strip()}' (valid: {', '.join(allowed)})")
    return v


def _time(d: dict[str, str], name: str, tz: Any) -> tuple[Any, int | None]:
    try:
        return L.parse_time(d.get(name, ""), tz)
    except ValueError as exc:
        raise ValueError(f"bad date in {name}: {exc}") from None


def _json(d: dict[str, str], name: str, kind: type) -> Any:
    text = d.get(name, "").strip()
    if not text:
        return kind()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON ({exc.msg})") from None
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be a JSON {'object' if kind is dict else 'list'}")
    return value


def _ref(email: str, name: str | None = None, role: str | None = None) -> PersonRef | None:
    email = email.strip().lower()
    if not email and not name:
        return None
    return PersonRef(email=email or None, name=name or None, role=role)


def _ticket(d: dict[str, str], tz: Any) -> TicketRec:
    nid = d.get("id", "").strip()
    if not nid:
        raise ValueError("missing id")
    flags = L.words(d.get("flags", ""))
    return TicketRec(
        native_id=nid,
        subject=d.get("subject") or None,
        status=_enum(d, "status", STATUSES, "open") or "open",
        priority=_enum(d, "priority", PRIORITIES, None),
        type=d.get("type") or None,
        channel=_enum(d, "channel", CHANNELS, "other") or "other",
        requester=_ref(d.get("requester_email", "")),
        assignee=_ref(d.get("assignee_email", ""), role="agent"),
        group=d.get("group") or None,
        organization=d.get("organization") or None,
        tags=L.words(d.get("tags", "")),
        custom_fields=_json(d, "custom_fields", dict),
        created_at=_time_fast(d.get("created_at", ""), tz, "created_at")[0],
        updated_at=_time_fast(d.get("updated_at", ""), tz, "updated_at")[0],
        solved_at=_time_fast(d.get("solved_at", ""), tz, "solved_at")[0],
        is_auto="auto" in flags,
        is_spam="spam" in flags,
        origin_source=d.get("source") or None,
        origin_id=d.get("source_id") or None,
        thread_key=d.get("thread_key") or None,
    )


# The columns _message reads, by name: the layout decides where each one is.
_MESSAGE_FIELDS = itemgetter(
    *map(
        L.MESSAGES.index,
        ("id", "source_id", "message_id", "author_email", "author_name", "direction", "public")
        + ("created_at", "subject", "body_text", "body_html", "to", "cc", "in_reply_to")
        + ("references", "headers", "flags"),
    )
)


def _time_fast(text: str, tz: Any, name: str) -> tuple[Any, int | None]:
    """``L.parse_time`` for one column, with its common case (an ISO time with an offset,
    as deskmove writes them) at C speed; anything else goes the full way."""
    try:
        dt = _fromisoformat(text)
    except ValueError:
        dt = None
    if dt is not None and dt.tzinfo is not None:  # the text had no spaces around it
        if text[-1] in "Zz":
            return dt, None
        return dt, int(dt.utcoffset().total_seconds() // 60)
    try:
        return L.parse_time(text, tz)
    except ValueError as exc:
        raise ValueError(f"bad date in {name}: {exc}") from None


_fromisoformat = datetime.fromisoformat
_PUBLIC = {"true": True, "false": False, "": True}  # else parse_bool decides


def _message(v: list[str], tz: Any) -> MessageRec:
    """A message from its values in the canonical column order (csvlayout.MESSAGES)."""
    fields = _MESSAGE_FIELDS(v)
    nid, source_id, message_id, author_email, author_name, direction, public = fields[:7]
    created_at, subject, body_text, body_html, to, cc, in_reply_to = fields[7:14]
    references, headers, flags = fields[14:]
    nid = nid.strip()
    if not nid:
        raise ValueError("missing id")
    created, offset = _time_fast(created_at, tz, "created_at")
    is_public = _PUBLIC.get(public)
    if is_public is None:
        try:
            is_public = L.parse_bool(public, True)
        except ValueError as exc:
            raise ValueError(f"public: {exc}") from None
    direction = direction.strip().lower() or "inbound"
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction '{direction}' (valid: {', '.join(DIRECTIONS)})")
    email = author_email.strip().lower()
    return MessageRec(
        nid,
        created,
        PersonRef(email or None, author_name or None) if email or author_name else None,
        is_public,
        direction,
        subject or None,
        body_text or None,
        body_html or None,
        to.split() if to else [],
        cc.split() if cc else [],
        message_id or None,
        in_reply_to or None,
        references.split() if references else [],
        None,
        _json({"headers": headers}, "headers", dict) if headers else {},
        [],
        "auto" in flags.split() if flags else False,
        offset,
        source_id or None,
    )


def _person(d: dict[str, str], col: dict[str, int]) -> PersonRec:
    email = d.get("email", "").strip().lower()
    if not email:
        raise ValueError("missing email")
    others = [e.lower() for e in L.words(d.get("other_emails", "")) if e.lower() != email]
    return PersonRec(
        native_id=email,
        name=d.get("name") or None,
        emails=[email, *others],
        phone=d.get("phone") or None,
        role=_enum(d, "role", ROLES, "customer") or "customer",
        organization=d.get("organization") or None,
    )
