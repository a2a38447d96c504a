"""The ``csv:`` target: the store as a folder in the canonical CSV layout.

Each export writes a complete snapshot into a temporary folder beside the target
and then swaps it in, so a crash never leaves a half-written export and
re-exporting to the same folder is safe. The id map remembers a hash of every
row written, so the report says what was created, updated or unchanged since
the last export to this folder.

A sample (``migrate --sample N``) writes its tickets into the folder and keeps
every other row where it was; ``rollback`` rewrites the folder without what a
run created (people included: every row in the folder is deskmove's), the same
atomic way; ``verify`` reads the folder back and compares it with the store.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from deskmove import csvlayout as layout
from deskmove.errors import UsageError
from deskmove.targets.base import CONTENT, PushReport, RemoteMessage, RemoteTicket, Target

if TYPE_CHECKING:  # checking deskmove.toml imports this module; the store loads when it runs
    from deskmove.store import Store, TicketScope
    from deskmove.store.csvexport import CsvExport

CHUNK = 1000
Row = list[str]
# The columns rows are keyed by: people by address, tickets by id, messages by ticket.
PERSON_EMAIL = layout.PEOPLE.index("email")
TICKET_ID, TICKET_STATUS = layout.TICKETS.index("id"), layout.TICKETS.index("status")
TICKET_MESSAGES = layout.TICKETS.index("message_count")
MESSAGE_ID, MESSAGE_TICKET = layout.MESSAGES.index("id"), layout.MESSAGES.index("ticket_id")
MESSAGE_AUTHOR, MESSAGE_PUBLIC = (
    layout.MESSAGES.index("author_email"),
    layout.MESSAGES.index("public"),
)
MESSAGE_CREATED = layout.MESSAGES.index("created_at")
ATTACHMENT_MESSAGE = layout.ATTACHMENTS.index("message_id")
ATTACHMENT_SHA, ATTACHMENT_PATH = (
    layout.ATTACHMENTS.index("sha256"),
    layout.ATTACHMENTS.index("path"),
)
csv.field_size_limit(layout.FIELD_LIMIT)


def row_hash(values: list[str]) -> str:
    return hashlib.blake2b("\x1f".join(values).encode(), digest_size=16).hexdigest()


class CsvTarget(Target):
    scheme: ClassVar[str] = "csv"
    spec_options: ClassVar[tuple[str, ...]] = ("formulas",)
    # The canonical layout's columns (deskmove.csvlayout); raw mail and organization
    # domains have none.
    carries: ClassVar[frozenset[str]] = frozenset(CONTENT) - {"message.raw", "organization.domains"}
    description: ClassVar[str] = "CSV: the store as a folder in the canonical layout"
    example: ClassVar[str] = "deskmove export csv:out/"
    owns_people: ClassVar[bool] = True

    def __init__(self, conn: Any, project: Any) -> None:
        super().__init__(conn, project)
        self.dest = Path(conn.location)
        formulas = str(conn.option("formulas") or "escaped").lower()
        if formulas not in layout.FORMULA_MODES:
            raise UsageError(
                f"?formulas={formulas} is not a mode",
                "use ?formulas=escaped (the default: safe to open in a spreadsheet) or ?formulas=raw",
            )
        self.escape = formulas == "escaped"
        self._index: dict[str, RemoteTicket] | None = None

    def check(self) -> None:
        d = self.dest
        if d.exists() and not d.is_dir():
            raise UsageError(f"{d} is a file", "the csv target writes a folder: give a folder path")
        if d.is_dir() and any(d.iterdir()) and not (d / "tickets.csv").exists():
            raise UsageError(
                f"{d} already holds files that deskmove did not export",
                "export into a new or empty folder, or one deskmove exported to before",
            )

    # -- push --------------------------------------------------------------------------
    def push(
        self,
        store: Store,
        run_id: int,
        *,
        dry_run: bool = False,
        progress: bool = False,
        only: TicketScope | None = None,
    ) -> PushReport:
        from deskmove.sync import progress_bar

        report = PushReport(dry_run=dry_run)
        total = _rows_to_write(store) if progress and only is None else None
        with (
            self._temporary() as tmp,
            progress_bar(total, "export csv", progress, unit="row") as bar,
        ):
            with store.csv_export(self.conn.name, run_id, commit=not dry_run) as export:
                files = _Files(tmp, dry_run, self.escape)
                files.bar = bar
                writer = _Writer(files, store, export, report)
                if only is None:
                    writer.snapshot()
                else:
                    writer.merge(self.dest, only)
                if bar.total:
                    bar.total = bar.n  # people without an address are not written
                if not dry_run:
                    self._swap(tmp)
        report.notes.append(f"{'would write' if dry_run else 'wrote'} {self.dest}")
        return report

    @contextmanager
    def _temporary(self) -> Iterator[Path]:
        """A temporary folder beside the target, removed again unless it was swapped in."""
        parent = self.dest.parent
        parent.mkdir(parents=True, exist_ok=True)
        self._recover(parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.tmp-", dir=parent))
        try:
            yield tmp
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _recover(self, parent: Path) -> None:
        """Undo what a crashed export left: restore a moved-away folder, drop temp folders."""
        olds = sorted(parent.glob(f".{self.dest.name}.old-*"))
        if olds and not self.dest.exists():
            os.rename(olds.pop(), self.dest)
        leftovers = [
            *parent.glob(f".{self.dest.name}.tmp-*"),
            *parent.glob(f".{self.dest.name}.gone-*"),
        ]
        for p in olds + leftovers:
            shutil.rmtree(p, ignore_errors=True)

    def _swap(self, tmp: Path) -> None:
        os.chmod(tmp, 0o755)
        if self.dest.exists():
            old = self.dest.parent / f".{self.dest.name}.old-{os.getpid()}"
            os.rename(self.dest, old)
            os.rename(tmp, self.dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, self.dest)

    # -- verify ------------------------------------------------------------------------
    def fetch_ticket(self, native_id: str) -> RemoteTicket | None:
        """The ticket as the folder holds it (None when it is not there)."""
        if self._index is None:
            self._index = self._read_index()
        return self._index.get(native_id)

    def _read_index(self) -> dict[str, RemoteTicket]:
        if not (self.dest / "tickets.csv").exists():
            return {}
        shas: dict[str, list[str]] = defaultdict(list)
        for row in _read(self.dest, "attachments.csv"):
            shas[row[ATTACHMENT_MESSAGE]].append(row[ATTACHMENT_SHA])
        out = {
            row[TICKET_ID]: RemoteTicket(row[TICKET_ID], row[TICKET_STATUS] or None)
            for row in _read(self.dest, "tickets.csv")
        }
        for row in _read(self.dest, "messages.csv"):
            ticket = out.get(row[MESSAGE_TICKET])
            if ticket is None:
                continue
            created, _tz = layout.parse_time(row[MESSAGE_CREATED])
            ticket.messages.append(
                RemoteMessage(
                    row[MESSAGE_ID],
                    row[MESSAGE_AUTHOR] or None,
                    created,
                    public=layout.parse_bool(row[MESSAGE_PUBLIC], True),
                    attachment_sha256=shas.get(row[MESSAGE_ID], []),
                )
            )
        return out

    # -- rollback ----------------------------------------------------------------------
    def delete(self, kind: str, native_id: str) -> None:
        self.delete_many([(kind, native_id)])

    def delete_many(self, objects: list[tuple[str, str]]) -> None:
        """Rewrite the folder without these rows, atomically; rows already gone are fine."""
        if not (self.dest / "tickets.csv").exists():
            return
        gone: dict[str, set[str]] = defaultdict(set)
        for kind, native_id in objects:
            gone[kind].add(native_id)
        with self._temporary() as tmp:
            left = _Pruner(
                self.dest, _Files(tmp, False, layout.cells_escaped(self.dest)), gone
            ).run()
            if left:
                self._swap(tmp)
            else:  # nothing deskmove wrote is left: the folder goes, as before the export
                gone = self.dest.parent / f".{self.dest.name}.gone-{os.getpid()}"
                os.rename(self.dest, gone)
                shutil.rmtree(gone, ignore_errors=True)
        self._index = None


def _rows_to_write(store: Store) -> int:
    """The rows a full export writes: people, tickets, messages and attachments."""
    t = store.summary()["totals"]
    return t["people"] + t["tickets"] + t["messages"] + t["attachments"]


def _read(folder: Path, name: str) -> Iterator[Row]:
    """The rows of one exported file as the store's values, in today's column order
    (formula escaping undone; columns an older export lacks are empty)."""
    path = folder / name
    if not path.exists():
        return
    columns = layout.FILES[name]
    escaped = layout.cells_escaped(folder)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None) or []
        where = [header.index(c) if c in header else None for c in columns]
        for raw in reader:
            row = [raw[i] if i is not None and i < len(raw) else "" for i in where]
            yield layout.unescape_cells(row) if escaped else row


class _Files:
    """Writes the four files of one folder (and the manifest), carries attachment files over.

    With ``escape``, a cell that a spreadsheet would run as a formula gets one leading
    ``'`` (the manifest says so, and ``import csv:`` removes it); the id map hashes the
    values, not how they were written.
    """

    bar: Any = None  # a progress bar that counts the rows written

    def __init__(self, folder: Path, dry_run: bool, escape: bool) -> None:
        self.folder, self.dry_run, self.escape = folder, dry_run, escape
        if not dry_run:
            mode = "escaped" if escape else "raw"
            (folder / layout.MANIFEST).write_text(layout.manifest(mode) + "\n", encoding="utf-8")

    def open(self, name: str) -> IO[str]:
        path = os.devnull if self.dry_run else self.folder / name
        return open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115

    def write(self, name: str, rows: Iterable[Row]) -> int:
        n = 0
        with self.open(name) as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(layout.FILES[name])
            while chunk := list(itertools.islice(rows, CHUNK)):
                w.writerows(layout.cells_out(values, self.escape) for values in chunk)
                n += len(chunk)
                if self.bar is not None:
                    self.bar.update(len(chunk))
            f.flush()
            if not self.dry_run:
                os.fsync(f.fileno())
        return n

    def carry(self, old: Path, rel: str) -> None:
        """An attachment file the old folder holds, into the new one (linked where possible)."""
        dest = self.folder / rel
        if self.dry_run or dest.exists() or not (old / rel).exists():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(old / rel, dest)
        except OSError:
            shutil.copyfile(old / rel, dest)


def _merge(old: Iterable[Row], key: Any, new: dict[str, list[Row]]) -> Iterator[Row]:
    """Old rows in their order, those of a key in ``new`` replaced in place; then new keys."""
    done = set()
    for row in old:
        k = key(row)
        if k in new:
            if k not in done:
                done.add(k)
                yield from new[k]
            continue
        yield row
    for k, rows in new.items():
        if k not in done:
            yield from rows


class _Writer:
    """One export into a fresh folder: every row (a snapshot) or a scope merged into the old."""

    def __init__(self, files: _Files, store: Store, export: CsvExport, report: PushReport) -> None:
        self.files, self.dry_run = files, files.dry_run
        self.store, self.export, self.report = store, export, report

    def snapshot(self) -> None:
        self.files.write("people.csv", self.counted("person", self.people()))
        self.files.write("tickets.csv", self.counted("ticket", self.tickets()))
        self.files.write("messages.csv", self.counted("message", self.messages()))
        self.files.write("attachments.csv", (row for _k, row in self.attachments()))

    def merge(self, old: Path, scope: TicketScope) -> None:
        """The scope's rows written over an earlier export's, everything else kept as it was."""
        people = self._grouped("person", self.people(scope.people), PERSON_EMAIL)
        tickets = self._grouped("ticket", self.tickets(scope.tickets), TICKET_ID)
        messages = self._grouped("message", self.messages(scope.tickets), MESSAGE_TICKET)
        ticket_of = {row[MESSAGE_ID]: t for t, rows in messages.items() for row in rows}
        ticket_of.update(
            (row[MESSAGE_ID], row[MESSAGE_TICKET])
            for row in _read(old, "messages.csv")
            if row[MESSAGE_TICKET] in tickets
        )
        files: dict[str, list[Row]] = defaultdict(list)
        for _key, row in self.attachments(scope.tickets):
            files[ticket_of[row[ATTACHMENT_MESSAGE]]].append(row)

        def attachment_ticket(row: Row) -> str:
            return ticket_of.get(row[ATTACHMENT_MESSAGE], "")

        def kept(rows: Iterable[Row]) -> Iterator[Row]:
            for row in rows:
                if attachment_ticket(row) not in files:  # else replaced by the scope's rows
                    self.files.carry(old, row[ATTACHMENT_PATH])
                yield row

        self.files.write("people.csv", _merge(_read(old, "people.csv"), _at(0), people))
        self.files.write("tickets.csv", _merge(_read(old, "tickets.csv"), _at(0), tickets))
        self.files.write("messages.csv", _merge(_read(old, "messages.csv"), _at(1), messages))
        old_files = kept(_read(old, "attachments.csv"))
        self.files.write("attachments.csv", _merge(old_files, attachment_ticket, files))

    def _grouped(
        self, kind: str, rows: Iterator[tuple[int, str, Row]], at: int
    ) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = defaultdict(list)
        for row in self.counted(kind, rows):
            out[row[at]].append(row)
        return out

    def counted(self, kind: str, rows: Iterator[tuple[int, str, Row]]) -> Iterator[Row]:
        """The rows, each chunk recorded in the id map as it goes by."""
        while chunk := list(itertools.islice(rows, CHUNK)):
            created, updated, unchanged = self.export.account(
                kind, [(eid, nid, row_hash(values)) for eid, nid, values in chunk]
            )
            self.report.created[kind] += created
            self.report.updated[kind] += updated
            self.report.unchanged[kind] += unchanged
            for _eid, _nid, values in chunk:
                yield values

    # -- the store's rows in the layout ------------------------------------------------
    def people(self, only: list[int] | None = None) -> Iterator[tuple[int, str, Row]]:
        for r, emails in self.export.people(only):
            values = in_layout(
                layout.PEOPLE,
                email=emails[0],
                name=r.name or "",
                role=r.role or "customer",
                organization=r.org or "",
                phone=r.phone or "",
                other_emails=" ".join(emails[1:]),
            )
            yield r.id, emails[0], values

    def tickets(self, only: list[int] | None = None) -> Iterator[tuple[int, str, Row]]:
        for r in self.export.tickets(only):
            has_origin = r.origin_source or r.origin_id
            source, source_id = (r.origin_source, r.origin_id) if has_origin else (r.pconn, r.pnid)
            flags = [f for f, on in (("auto", r.is_auto), ("spam", r.is_spam)) if on]
            values = in_layout(
                layout.TICKETS,
                id=str(r.id),
                source=source or "",
                source_id=source_id or "",
                subject=r.subject or "",
                status=r.status,
                priority=r.priority or "",
                type=r.type or "",
                channel=r.channel,
                requester_email=r.req or "",
                assignee_email=r.asg or "",
                group=r.grp or "",
                organization=r.org or "",
                tags=" ".join(r.tags or []),
                created_at=layout.fmt_time(r.created_at, 0),
                updated_at=layout.fmt_time(r.updated_at, 0),
                solved_at=layout.fmt_time(r.solved_at, 0),
                message_count=str(r.n),
                custom_fields=_json(r.custom_fields),
                flags=" ".join(flags),
                thread_key=r.thread_key or "",
            )
            yield r.id, str(r.id), values

    def messages(self, tickets: list[int] | None = None) -> Iterator[tuple[int, str, Row]]:
        for r in self.export.messages(tickets):
            values = in_layout(
                layout.MESSAGES,
                id=str(r.id),
                ticket_id=str(r.ticket_id),
                source_id=r.origin_id or r.pnid or "",
                message_id=r.message_id or "",
                author_email=r.email or "",
                author_name=r.author_name or "",
                direction=r.direction,
                public=layout.fmt_bool(r.public),
                created_at=layout.fmt_time(r.created_at, r.created_tz),
                subject=r.subject or "",
                body_text=r.body_text or "",
                body_html=r.body_html or "",
                attachment_count=str(r.n),
                to=" ".join(r.to or []),
                cc=" ".join(r.cc or []),
                in_reply_to=r.in_reply_to or "",
                references=" ".join(r.references or []),
                headers=_json(r.headers),
                flags="auto" if r.is_auto else "",
            )
            yield r.id, str(r.id), values

    def attachments(self, tickets: list[int] | None = None) -> Iterator[tuple[str, Row]]:
        for r in self.export.attachments(tickets):
            rel = f"attachments/{r.sha256[:2]}/{r.sha256}"
            self.copy_blob(r.sha256, rel)
            values = in_layout(
                layout.ATTACHMENTS,
                message_id=str(r.message_id),
                filename=r.filename or "",
                content_type=r.content_type,
                size=str(r.size),
                sha256=r.sha256,
                path=rel,
                content_id=r.content_id or "",
                inline=layout.fmt_bool(r.inline),
            )
            yield rel, values

    def copy_blob(self, sha: str, rel: str) -> None:
        if self.dry_run:
            return
        dest = self.files.folder / rel
        if dest.exists():
            return
        try:
            src = self.store.blobs.open(sha)
        except FileNotFoundError:
            self.report.failed["attachment"] += 1
            self.report.notes.append(
                f"blob {sha[:12]}… is missing from the store; {rel} not written"
            )
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        # A copy, never a link: editing the export must not touch the store.
        with src, dest.open("wb") as out:
            shutil.copyfileobj(src, out)


def in_layout(columns: tuple[str, ...], **values: str) -> Row:
    """One row in the layout's column order; a column without a value is an error."""
    if len(values) != len(columns):
        raise ValueError(f"values for {sorted(values)} do not match the columns {columns}")
    return [values[c] for c in columns]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""


def _at(i: int) -> Any:
    return lambda row: row[i]


class _Pruner:
    """Copies a folder without some tickets, messages and people (a rollback)."""

    def __init__(self, old: Path, files: _Files, gone: dict[str, set[str]]) -> None:
        self.old, self.files, self.gone = old, files, gone

    def run(self) -> int:
        """Write the pruned folder; how many rows are left in it."""
        tickets, messages = self.gone["ticket"], set(self.gone["message"])
        counts: dict[str, int] = defaultdict(int)
        lost: set[str] = set()  # tickets that stay but lose a message
        for row in _read(self.old, "messages.csv"):
            if row[MESSAGE_TICKET] in tickets or row[MESSAGE_ID] in messages:
                messages.add(row[MESSAGE_ID])
                lost.add(row[MESSAGE_TICKET])
            else:
                counts[row[MESSAGE_TICKET]] += 1
        left = self.files.write(
            "people.csv",
            (
                r
                for r in _read(self.old, "people.csv")
                if r[PERSON_EMAIL] not in self.gone["person"]
            ),
        )
        left += self.files.write("tickets.csv", self._tickets(tickets, lost, counts))
        left += self.files.write(
            "messages.csv",
            (r for r in _read(self.old, "messages.csv") if r[MESSAGE_ID] not in messages),
        )
        self.files.write("attachments.csv", self._attachments(messages))
        return left

    def _tickets(self, gone: set[str], lost: set[str], counts: dict[str, int]) -> Iterator[Row]:
        for row in _read(self.old, "tickets.csv"):
            if row[TICKET_ID] in gone:
                continue
            if row[TICKET_ID] in lost:  # a rolled-back reply no longer counts
                row[TICKET_MESSAGES] = str(counts[row[TICKET_ID]])
            yield row

    def _attachments(self, messages: set[str]) -> Iterator[Row]:
        for row in _read(self.old, "attachments.csv"):
            if row[ATTACHMENT_MESSAGE] in messages:
                continue
            self.files.carry(self.old, row[ATTACHMENT_PATH])
            yield row
