"""Small file-backed adapters for the sync, verify and rollback tests.

``jsonl:FILE`` is an incremental source: one JSON line per incoming message,
the cursor is the byte offset already read (like an IMAP UID), so new lines are
"mail that arrived since the last sync". ``jsondesk:FILE`` is a helpdesk that
keeps its tickets in one JSON file, with Zendesk's shape (tickets with
comments, an ``external_id``), and implements ``fetch_ticket`` and ``delete``.
Both survive a SIGKILL'd deskmove, so subprocess tests can use them too
(``python -m tests.sync_helpers ARGS`` runs the CLI with them registered).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from deskmove import registry
from deskmove.errors import InputError
from deskmove.model import Attachment, Message, Person, PersonEmail, Ticket
from deskmove.records import AttachmentRec, Batch, MessageRec, PersonRef, TicketRec
from deskmove.sources.base import Source
from deskmove.store import Store, TicketScope, content_hash
from deskmove.targets.base import PushReport, RemoteMessage, RemoteTicket, Target


def register() -> None:
    registry.SOURCES["jsonl"] = "tests.sync_helpers:JsonlSource"
    registry.TARGETS["jsondesk"] = "tests.sync_helpers:JsonDesk"


def mail_line(
    ticket: str,
    n: int,
    *,
    day: int = 1,
    note: bool = False,
    attach: str | None = None,
    author: str = "zakaznik@example.cz",
) -> str:
    return json.dumps(
        {
            "ticket": ticket,
            "id": f"{ticket}-{n}",
            "from": author,
            "note": note,
            "attach": attach,
            "at": f"2026-0{1 + day // 28}-{1 + day % 28:02d}T10:{n % 60:02d}:00+00:00",
            "subject": f"Objednávka {ticket} — žluťoučký kůň",
            "body": f"zpráva {n} pro {ticket}",
        },
        ensure_ascii=False,
    )


class JsonlSource(Source):
    scheme = "jsonl"
    item_kinds = ("message",)

    def check(self) -> None:
        if not os.path.exists(self.conn.location):
            raise InputError(f"{self.conn.location} does not exist", "check the path")

    def batches(self, state: dict[str, dict[str, Any]], store: Store) -> Iterator[Batch]:
        offset = int(state.get("lines", {}).get("offset", 0))
        with open(self.conn.location, "rb") as fh:
            fh.seek(offset)
            while True:
                lines = [fh.readline() for _ in range(3)]
                lines = [ln for ln in lines if ln.endswith(b"\n")]
                if not lines:
                    return
                offset += sum(len(ln) for ln in lines)
                batch = Batch(read=len(lines), state={"lines": {"offset": offset}})
                for line in lines:
                    batch.tickets.append(_ticket(json.loads(line), store))
                yield batch


def _ticket(d: dict[str, Any], store: Store) -> TicketRec:
    at = datetime.fromisoformat(d["at"])
    atts = []
    if d.get("attach"):
        data = d["attach"].encode()
        atts.append(AttachmentRec(store.blobs.put(data), len(data), "příloha.txt", "text/plain"))
    who = PersonRef(email=d["from"], role="agent" if d["from"].endswith("@shop.example") else None)
    msg = MessageRec(
        d["id"],
        at,
        who,
        public=not d.get("note"),
        body_text=d["body"],
        subject=d["subject"],
        attachments=atts,
    )
    # A ticket record carries only its new messages; the store keeps the earlier ones.
    return TicketRec(
        d["ticket"],
        subject=d["subject"],
        channel="email",
        requester=who,
        created_at=at,
        messages=[msg],
    )


class JsonDesk(Target):
    """A helpdesk in a JSON file: tickets with comments, found again by external_id."""

    scheme = "jsondesk"

    @property
    def path(self) -> Path:
        return Path(self.conn.location)

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"next": 1, "tickets": {}}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def save(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def push(
        self,
        store: Store,
        run_id: int,
        *,
        dry_run: bool = False,
        progress: bool = False,
        only: TicketScope | None = None,
    ) -> PushReport:
        report = PushReport(dry_run=dry_run)
        name = self.conn.name
        tickets = store.id_map(name, "ticket")
        messages = store.id_map(name, "message")
        for tid, rows in _store_tickets(store, only.tickets if only else None):
            hit = tickets.get(tid)
            native = hit[0] if hit and hit[2] == "done" else None
            if native is None:
                if dry_run:
                    report.created["ticket"] += 1
                    report.created["message"] += len(rows)
                    continue
                if hit is None or hit[2] != "pending" or not (native := self._find(f"dm-{tid}")):
                    store.map_put(
                        name, "ticket", tid, None, pushed_hash=None, state="pending", run_id=run_id
                    )
                    native = self._create(f"dm-{tid}", rows[0]["subject"])
                    report.created["ticket"] += 1
                store.map_put(name, "ticket", tid, native, pushed_hash=None, run_id=run_id)
            for m in rows:
                mh = messages.get(m["id"])
                if mh and mh[2] == "done":
                    report.unchanged["message"] += 1
                    continue
                if dry_run:
                    report.created["message"] += 1
                    continue
                key = f"dm-m{m['id']}"
                cid = self._find_comment(native, key) if mh else None
                if cid is None:
                    store.map_put(
                        name,
                        "message",
                        m["id"],
                        None,
                        pushed_hash=None,
                        state="pending",
                        run_id=run_id,
                    )
                    cid = self._comment(native, key, m, store)
                    report.created["message"] += 1
                store.map_put(name, "message", m["id"], cid, pushed_hash=None, run_id=run_id)
        return report

    def _find(self, external_id: str) -> str | None:
        for nid, t in self.load()["tickets"].items():
            if t["external_id"] == external_id:
                return nid
        return None

    def _find_comment(self, native: str, key: str) -> str | None:
        t = self.load()["tickets"].get(native)
        return next((c["id"] for c in (t or {}).get("comments", []) if c["key"] == key), None)

    def _create(self, external_id: str, subject: str | None) -> str:
        data = self.load()
        nid = str(data["next"])
        data["next"] += 1
        data["tickets"][nid] = {"external_id": external_id, "subject": subject, "comments": []}
        self.save(data)
        return nid

    def _comment(self, native: str, key: str, m: dict[str, Any], store: Store) -> str:
        data = self.load()
        t = data["tickets"][native]
        cid = f"{native}.{len(t['comments']) + 1}"
        t["comments"].append(
            {
                "id": cid,
                "key": key,
                "author": m["author"],
                "public": m["public"],
                "created_at": m["created_at"].isoformat() if m["created_at"] else None,
                "attachments": [hashlib.sha256(store.blobs.get(s)).hexdigest() for s in m["shas"]],
            }
        )
        self.save(data)
        return cid

    def fetch_ticket(self, native_id: str) -> RemoteTicket | None:
        t = self.load()["tickets"].get(native_id)
        if t is None:
            return None
        msgs = [
            RemoteMessage(
                c["id"],
                c["author"],
                datetime.fromisoformat(c["created_at"]) if c["created_at"] else None,
                c["public"],
                c["attachments"],
            )
            for c in t["comments"]
        ]
        return RemoteTicket(native_id, "open", msgs)

    def delete(self, kind: str, native_id: str) -> None:
        data = self.load()
        if kind == "ticket":
            data["tickets"].pop(native_id, None)
        elif kind == "message":
            tnid = native_id.split(".")[0]
            t = data["tickets"].get(tnid)
            if t:
                t["comments"] = [c for c in t["comments"] if c["id"] != native_id]
        self.save(data)


def _store_tickets(
    store: Store, only: list[int] | None = None
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    t, m, a, e = Ticket.__table__, Message.__table__, Attachment.__table__, PersonEmail.__table__
    with store.begin() as conn:
        query = (
            sa.select(m.c.id, m.c.ticket_id, m.c.public, m.c.created_at, t.c.subject, e.c.email)
            .join(t, t.c.id == m.c.ticket_id)
            .outerjoin(e, sa.and_(e.c.person_id == m.c.author_id, e.c.primary.is_(True)))
            .order_by(m.c.ticket_id, m.c.created_at, m.c.id)
        )
        if only is not None:
            query = query.where(m.c.ticket_id.in_(only))
        rows = conn.execute(query).all()
        shas: dict[int, list[str]] = {}
        for mid, sha in conn.execute(sa.select(a.c.message_id, a.c.sha256).order_by(a.c.id)):
            shas.setdefault(mid, []).append(sha)
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.ticket_id, []).append(
            {
                "id": r.id,
                "public": r.public,
                "created_at": r.created_at,
                "subject": r.subject,
                "author": r.email,
                "shas": shas.get(r.id, []),
            }
        )
    yield from out.items()


def desk_state(path: Path) -> list[tuple[str, str | None, list[tuple[Any, ...]]]]:
    """The helpdesk's content without its ids: what two runs must agree on."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return sorted(
        (
            t["external_id"],
            t["subject"],
            sorted(
                (c["key"], c["author"], c["public"], c["created_at"], tuple(c["attachments"]))
                for c in t["comments"]
            ),
        )
        for t in data["tickets"].values()
    )


def store_state(store: Store) -> list[Any]:
    """The store's content without surrogate keys: what two runs must agree on."""
    t, m, e = Ticket.__table__, Message.__table__, PersonEmail.__table__
    with store.begin() as conn:
        msgs = conn.execute(
            sa.select(t.c.subject, m.c.body_text, m.c.created_at, m.c.public, e.c.email)
            .join(t, t.c.id == m.c.ticket_id)
            .outerjoin(e, e.c.person_id == m.c.author_id)
        ).all()
        people = conn.execute(sa.select(sa.func.count()).select_from(Person.__table__)).scalar_one()
        tickets = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
    return [tickets, people, sorted(map(tuple, msgs))] + [content_hash(sorted(map(tuple, msgs)))]


if __name__ == "__main__":  # the CLI with these adapters registered, for subprocess tests
    register()
    from deskmove.cli import app

    sys.exit(app(sys.argv[1:]))
