"""The ``csv:`` target: the whole store as a folder in the canonical CSV layout.

Each export writes a complete snapshot into a temporary folder beside the target
and then swaps it in, so a crash never leaves a half-written export and
re-exporting to the same folder is safe. The id map remembers a hash of every
row written, so the report says what was created, updated or unchanged since
the last export to this folder.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, ClassVar

import sqlalchemy as sa

from deskmove import csvlayout as L
from deskmove.errors import UsageError
from deskmove.model import (
    Attachment,
    Group,
    IdMap,
    Message,
    Organization,
    Person,
    PersonEmail,
    Provenance,
    Ticket,
    utcnow,
)
from deskmove.store import Store
from deskmove.targets.base import PushReport, Target

T, M, A = Ticket.__table__, Message.__table__, Attachment.__table__
P, E, ORG, G = Person.__table__, PersonEmail.__table__, Organization.__table__, Group.__table__
PROV, IDMAP = Provenance.__table__, IdMap.__table__
CHUNK = 1000


def _email_of(person_id: Any) -> Any:
    e = E.c
    return (
        sa.select(e.email)
        .where(e.person_id == person_id)
        .order_by(e.primary.desc(), e.id)
        .limit(1)
        .scalar_subquery()
    )


def _prov(kind: str, entity_id: Any, column: Any) -> Any:
    p = PROV.c
    return (
        sa.select(column)
        .where(p.kind == kind, p.entity_id == entity_id)
        .order_by(p.id)
        .limit(1)
        .scalar_subquery()
    )


def _count(table: sa.Table, fk: Any, parent: Any) -> Any:
    return sa.select(sa.func.count()).select_from(table).where(fk == parent).scalar_subquery()


def row_hash(values: list[str]) -> str:
    return hashlib.blake2b("\x1f".join(values).encode(), digest_size=16).hexdigest()


class CsvTarget(Target):
    scheme: ClassVar[str] = "csv"
    description: ClassVar[str] = "CSV: the store as a folder in the canonical layout"
    example: ClassVar[str] = "deskmove export csv:out/"

    def __init__(self, conn: Any, project: Any) -> None:
        super().__init__(conn, project)
        self.dest = Path(conn.location)
        formulas = str(conn.option("formulas") or "escaped").lower()
        if formulas not in L.FORMULA_MODES:
            raise UsageError(
                f"?formulas={formulas} is not a mode",
                "use ?formulas=escaped (the default: safe to open in a spreadsheet) or ?formulas=raw",
            )
        self.formulas = formulas

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
        self, store: Store, run_id: int, *, dry_run: bool = False, progress: bool = False
    ) -> PushReport:
        report = PushReport(dry_run=dry_run)
        parent = self.dest.parent
        parent.mkdir(parents=True, exist_ok=True)
        self._recover(parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.tmp-", dir=parent))
        try:
            with store.engine.connect() as read, store.engine.connect() as write:
                tx = write.begin()
                w = _Writer(tmp, store, read, write, self.conn.name, run_id, report, dry_run)
                w.escape = self.formulas == "escaped"
                w.run()
                if dry_run:
                    tx.rollback()
                else:
                    self._swap(tmp)
                    tx.commit()
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        report.notes.append(f"{'would write' if dry_run else 'wrote'} {self.dest}")
        return report

    def _recover(self, parent: Path) -> None:
        """Undo what a crashed export left: restore a moved-away folder, drop temp folders."""
        olds = sorted(parent.glob(f".{self.dest.name}.old-*"))
        if olds and not self.dest.exists():
            os.rename(olds.pop(), self.dest)
        for p in olds + list(parent.glob(f".{self.dest.name}.tmp-*")):
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


class _Writer:
    """One snapshot: streams the store into the four files, counting against the id map."""

    def __init__(
        self, folder: Path, store: Store, read: sa.Connection, write: sa.Connection,
        target: str, run_id: int, report: PushReport, dry_run: bool,
    ) -> None:  # fmt: skip
        self.folder, self.store, self.read, self.write = folder, store, read, write
        self.target, self.run_id, self.report, self.dry_run = target, run_id, report, dry_run
        self.escape = True

    def run(self) -> None:
        if not self.dry_run:
            formulas = "escaped" if self.escape else "raw"
            (self.folder / L.MANIFEST).write_text(L.manifest(formulas) + "\n", encoding="utf-8")
        self.table("people.csv", L.PEOPLE, "person", self.people())
        self.table("tickets.csv", L.TICKETS, "ticket", self.tickets())
        self.table("messages.csv", L.MESSAGES, "message", self.messages())
        self.table("attachments.csv", L.ATTACHMENTS, None, self.attachments())

    def _open(self, name: str) -> IO[str]:
        path = os.devnull if self.dry_run else self.folder / name
        return open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115

    def table(
        self, name: str, columns: tuple[str, ...], kind: str | None,
        rows: Iterator[tuple[int, str, list[str]]],
    ) -> None:  # fmt: skip
        with self._open(name) as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(columns)
            while chunk := list(itertools.islice(rows, CHUNK)):
                # the id map hashes the values, not how they were written
                w.writerows(L.cells_out(values, self.escape) for _eid, _nid, values in chunk)
                if kind:
                    self.account(kind, chunk)
            f.flush()
            if not self.dry_run:
                os.fsync(f.fileno())

    def account(self, kind: str, chunk: list[tuple[int, str, list[str]]]) -> None:
        c = IDMAP.c
        ids = [eid for eid, _n, _v in chunk]
        known = dict(
            self.write.execute(
                sa.select(c.entity_id, c.pushed_hash).where(
                    c.connection == self.target, c.kind == kind, c.entity_id.in_(ids)
                )
            ).all()
        )
        now = utcnow()
        inserts, updates = [], []
        for eid, nid, values in chunk:
            h = row_hash(values)
            if eid not in known:
                self.report.created[kind] += 1
                inserts.append({"connection": self.target, "kind": kind, "entity_id": eid, "native_id": nid,
                                "pushed_hash": h, "state": "done", "run_id": self.run_id,
                                "created_at": now, "updated_at": now})  # fmt: skip
            elif known[eid] != h:
                self.report.updated[kind] += 1
                updates.append({"_eid": eid, "_nid": nid, "_h": h})
            else:
                self.report.unchanged[kind] += 1
        if inserts:
            self.write.execute(IDMAP.insert(), inserts)
        if updates:
            self.write.execute(
                IDMAP.update()
                .where(c.connection == self.target, c.kind == kind, c.entity_id == sa.bindparam("_eid"))
                .values(native_id=sa.bindparam("_nid"), pushed_hash=sa.bindparam("_h"), run_id=self.run_id, updated_at=now),
                updates,
            )  # fmt: skip

    def _stream(self, query: Any) -> Any:
        return self.read.execution_options(stream_results=True, yield_per=CHUNK).execute(query)

    # -- the four files ----------------------------------------------------------------
    def people(self) -> Iterator[tuple[int, str, list[str]]]:
        p, e = P.c, E.c
        q = (
            sa.select(p.id, p.name, p.role, p.phone, ORG.c.name.label("org"), e.email)
            .select_from(
                P.join(E, e.person_id == p.id).outerjoin(ORG, ORG.c.id == p.organization_id)
            )
            .order_by(p.id, e.primary.desc(), e.id)
        )
        for pid, rows in itertools.groupby(self._stream(q), key=lambda r: r.id):
            rows = list(rows)
            r = rows[0]
            emails = [x.email for x in rows]
            yield pid, emails[0], [emails[0], r.name or "", r.role or "customer", r.org or "",
                                   r.phone or "", " ".join(emails[1:])]  # fmt: skip

    def tickets(self) -> Iterator[tuple[int, str, list[str]]]:
        t = T.c
        q = (
            sa.select(
                T, _email_of(t.requester_id).label("req"), _email_of(t.assignee_id).label("asg"),
                G.c.name.label("grp"), ORG.c.name.label("org"),
                _count(M, M.c.ticket_id, t.id).label("n"),
                _prov("ticket", t.id, PROV.c.connection).label("pconn"),
                _prov("ticket", t.id, PROV.c.native_id).label("pnid"),
            )
            .select_from(T.outerjoin(G, G.c.id == t.group_id).outerjoin(ORG, ORG.c.id == t.organization_id))
            .order_by(t.id)
        )  # fmt: skip
        for r in self._stream(q):
            source, source_id = (
                (r.origin_source, r.origin_id)
                if r.origin_source or r.origin_id
                else (r.pconn, r.pnid)
            )
            flags = [f for f, on in (("auto", r.is_auto), ("spam", r.is_spam)) if on]
            yield r.id, str(r.id), [
                str(r.id), source or "", source_id or "", r.subject or "", r.status, r.priority or "",
                r.type or "", r.channel, r.req or "", r.asg or "", r.grp or "", r.org or "",
                " ".join(r.tags or []), L.fmt_time(r.created_at, 0), L.fmt_time(r.updated_at, 0),
                L.fmt_time(r.solved_at, 0), str(r.n),
                json.dumps(r.custom_fields, ensure_ascii=False, sort_keys=True) if r.custom_fields else "",
                " ".join(flags), r.thread_key or "",
            ]  # fmt: skip

    def messages(self) -> Iterator[tuple[int, str, list[str]]]:
        m = M.c
        q = (
            sa.select(
                M, _email_of(m.author_id).label("email"), P.c.name.label("author_name"),
                _count(A, A.c.message_id, m.id).label("n"),
                _prov("message", m.id, PROV.c.native_id).label("pnid"),
            )
            .select_from(M.outerjoin(P, P.c.id == m.author_id))
            .order_by(m.ticket_id, m.created_at, m.id)
        )  # fmt: skip
        for r in self._stream(q):
            yield r.id, str(r.id), [
                str(r.id), str(r.ticket_id), r.origin_id or r.pnid or "", r.message_id or "",
                r.email or "", r.author_name or "", r.direction, L.fmt_bool(r.public),
                L.fmt_time(r.created_at, r.created_tz), r.subject or "", r.body_text or "",
                r.body_html or "", str(r.n), " ".join(r.to or []), " ".join(r.cc or []),
                r.in_reply_to or "", " ".join(r.references or []),
                json.dumps(r.headers, ensure_ascii=False, sort_keys=True) if r.headers else "",
                "auto" if r.is_auto else "",
            ]  # fmt: skip

    def attachments(self) -> Iterator[tuple[int, str, list[str]]]:
        a, m = A.c, M.c
        q = (
            sa.select(A)
            .select_from(A.join(M, m.id == a.message_id))
            .order_by(m.ticket_id, m.created_at, m.id, a.id)
        )
        for r in self._stream(q):
            rel = f"attachments/{r.sha256[:2]}/{r.sha256}"
            self.copy_blob(r.sha256, rel)
            yield r.id, rel, [
                str(r.message_id), r.filename or "", r.content_type, str(r.size), r.sha256, rel,
                r.content_id or "", L.fmt_bool(r.inline),
            ]  # fmt: skip

    def copy_blob(self, sha: str, rel: str) -> None:
        if self.dry_run:
            return
        dest = self.folder / rel
        if dest.exists():
            return
        src = self.store.blobs.path(sha)
        if not src.exists():
            self.report.failed["attachment"] += 1
            self.report.notes.append(
                f"blob {sha[:12]}… is missing from the store; {rel} not written"
            )
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(
            src, dest
        )  # a copy, never a link: editing the export must not touch the store
