"""Helpers for the CSV tests: write small CSV files, dump a store for comparison."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from deskmove.model import Attachment, Group, Message, Organization, Person, PersonEmail, Ticket
from deskmove.store import Store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TICKET_HEADER = [
    "id",
    "source",
    "source_id",
    "subject",
    "status",
    "priority",
    "type",
    "channel",
    "requester_email",
    "assignee_email",
    "group",
    "organization",
    "tags",
    "created_at",
    "updated_at",
    "solved_at",
    "message_count",
    "custom_fields",
]
MESSAGE_HEADER = [
    "id",
    "ticket_id",
    "source_id",
    "message_id",
    "author_email",
    "author_name",
    "direction",
    "public",
    "created_at",
    "subject",
    "body_text",
    "body_html",
    "attachment_count",
]


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    bom: bool = False,
) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode(encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def ticket_row(tid: str, subject: str = "Objednávka č. 42", **kw: str) -> list[str]:
    base = dict.fromkeys(TICKET_HEADER, "")
    base.update(
        id=tid,
        subject=subject,
        status="open",
        channel="email",
        requester_email="jana@zakaznik.cz",
        created_at="2024-03-01T09:30:00+01:00",
    )
    base.update(kw)
    return [base[h] for h in TICKET_HEADER]


def message_row(mid: str, tid: str, body: str = "Dobrý den", **kw: str) -> list[str]:
    base = dict.fromkeys(MESSAGE_HEADER, "")
    base.update(
        id=mid,
        ticket_id=tid,
        author_email="jana@zakaznik.cz",
        author_name="Jana",
        direction="inbound",
        public="true",
        created_at="2024-03-01T09:30:00+01:00",
        body_text=body,
    )
    base.update(kw)
    return [base[h] for h in MESSAGE_HEADER]


def canonical_folder(folder: Path, tickets: list[list[str]], messages: list[list[str]]) -> Path:
    write_csv(folder / "tickets.csv", TICKET_HEADER, tickets)
    write_csv(folder / "messages.csv", MESSAGE_HEADER, messages)
    return folder


def dump(store: Store) -> dict[str, Any]:
    """Everything a round trip must keep, keyed by what survives it (not by store ids)."""
    t, m, a, p, e = (x.__table__.c for x in (Ticket, Message, Attachment, Person, PersonEmail))
    o, g = Organization.__table__.c, Group.__table__.c
    with store.engine.connect() as c:
        emails: dict[int, list[str]] = {}
        for pid, email in c.execute(
            sa.select(e.person_id, e.email).order_by(e.person_id, e.primary.desc(), e.id)
        ):
            emails.setdefault(pid, []).append(email)
        orgs = dict(c.execute(sa.select(o.id, o.name)).all())
        groups = dict(c.execute(sa.select(g.id, g.name)).all())
        people = {}
        for r in c.execute(sa.select(Person.__table__)):
            if r.id in emails:
                people[emails[r.id][0]] = (
                    r.name,
                    r.role,
                    r.phone,
                    orgs.get(r.organization_id),
                    sorted(emails[r.id]),
                )

        def who(pid: int | None) -> Any:
            return emails.get(pid, [None])[0] if pid else None

        atts: dict[int, list[tuple]] = {}
        for r in c.execute(sa.select(Attachment.__table__).order_by(a.id)):
            atts.setdefault(r.message_id, []).append(
                (r.filename, r.content_type, r.size, r.sha256, r.content_id, r.inline)
            )
        msgs: dict[int, list[tuple]] = {}
        for r in c.execute(sa.select(Message.__table__).order_by(m.ticket_id, m.created_at, m.id)):
            msgs.setdefault(r.ticket_id, []).append(
                (
                    who(r.author_id),
                    r.public,
                    r.direction,
                    r.created_at,
                    r.created_tz,
                    r.subject,
                    r.body_text,
                    r.body_html,
                    r.to,
                    r.cc,
                    r.message_id,
                    r.in_reply_to,
                    r.references,
                    r.headers,
                    r.is_auto,
                    atts.get(r.id, []),
                )
            )
        tickets = []
        for r in c.execute(sa.select(Ticket.__table__).order_by(t.created_at, t.subject, t.id)):
            tickets.append(
                (
                    r.subject,
                    r.status,
                    r.priority,
                    r.type,
                    r.channel,
                    who(r.requester_id),
                    who(r.assignee_id),
                    groups.get(r.group_id),
                    orgs.get(r.organization_id),
                    r.tags,
                    r.custom_fields,
                    r.created_at,
                    r.updated_at,
                    r.solved_at,
                    r.is_auto,
                    r.is_spam,
                    r.thread_key,
                    msgs.get(r.id, []),
                )
            )
    return {"people": people, "tickets": tickets}
