"""What an agent changes in the workspace survives the next import of that ticket, unless
the source changed the same field since: during a cutover, cron brings a customer's reply in
and the assignment, priority, status and tags the agents set must stay."""

from __future__ import annotations

import mailbox
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa

from deskmove.model import Person, Ticket
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from deskmove.store import Store
from deskmove.store import workspace as ws
from deskmove.store.webmodel import WebTicketEdit
from tests.webhelp import T0

JANA = PersonRef(email="jana@zakaznik.cz", name="Jana Dvořáková")
PETRA = PersonRef(email="petra@shop.example", name="Petra Agentová", role="agent")
OLGA = PersonRef(email="olga@shop.example", name="Olga Novotná", role="agent")


def _ticket(replies: int = 0, **fields) -> TicketRec:  # noqa: ANN003
    msgs = [
        MessageRec(
            native_id=f"m{i}",
            created_at=T0 + timedelta(hours=i),
            author=JANA,
            body_text=f"Dobrý den, zpráva č. {i}: kde je moje zásilka?",
            direction="inbound",
        )
        for i in range(replies + 1)
    ]
    values = {"status": "open", "priority": "normal", "tags": ["web"], "assignee": PETRA}
    values.update(fields)
    return TicketRec(
        native_id="T-1",
        subject="Reklamace — žluťoučký kůň",
        channel="email",
        requester=JANA,
        created_at=T0,
        updated_at=T0 + timedelta(hours=replies),
        messages=msgs,
        **values,
    )


def _import(store: Store, t: TicketRec) -> None:
    run = store.begin_run("import", "helpdesk")
    store.ingestor("helpdesk", run).ingest(Batch(tickets=[t], read=1))


def _row(store: Store) -> dict:
    t = Ticket.__table__.c
    with store.begin() as c:
        return dict(
            c.execute(sa.select(t.id, t.status, t.priority, t.tags, t.assignee_id, t.solved_at))
            .one()
            ._mapping
        )


def _edits(store: Store) -> set[str]:
    e = WebTicketEdit.__table__.c
    with store.begin() as c:
        return set(c.execute(sa.select(e.field)).scalars())


def _setup(store: Store) -> tuple[int, int]:
    """One ticket assigned to Petra at the source; Olga exists as an agent too."""
    _import(store, _ticket())
    other = TicketRec(
        native_id="T-2",
        subject="Jiný dotaz",
        status="open",
        requester=JANA,
        assignee=OLGA,
        created_at=T0,
        updated_at=T0,
        messages=[],
    )
    _import(store, other)
    t = Ticket.__table__.c
    with store.begin() as c:
        tid = c.execute(sa.select(t.id).where(t.subject.startswith("Reklamace"))).scalar()
        olga = c.execute(sa.select(t.assignee_id).where(t.subject == "Jiný dotaz")).scalar()
        c.execute(Ticket.__table__.delete().where(t.subject == "Jiný dotaz"))
    return tid, olga


def test_a_customer_reply_keeps_what_the_agents_set(any_store):
    tid, olga = _setup(any_store)
    assert ws.update_ticket(
        any_store,
        tid,
        {"assignee_id": olga, "priority": "urgent", "status": "pending", "tags": ["web", "vip"]},
    )
    _import(any_store, _ticket(replies=1))  # the source sends its old fields with the reply
    row = _row(any_store)
    assert (row["assignee_id"], row["priority"], row["status"], row["tags"]) == (
        olga,
        "urgent",
        "pending",
        ["web", "vip"],
    )
    _import(any_store, _ticket(replies=2))  # and again, a reply later
    assert _row(any_store)["assignee_id"] == olga


def test_a_field_the_source_changed_since_wins_and_the_rest_stays(any_store):
    tid, olga = _setup(any_store)
    assert ws.update_ticket(any_store, tid, {"assignee_id": olga, "priority": "urgent"})
    # the old helpdesk solved it and raised the priority after the agent's change
    _import(any_store, _ticket(replies=1, status="solved", priority="high"))
    row = _row(any_store)
    assert row["status"] == "solved" and row["priority"] == "high"  # the source's news
    assert row["assignee_id"] == olga  # the agent's, untouched at the source
    assert _edits(any_store) == {"assignee_id"}  # the priority edit is forgotten
    # a later agent change of the priority is kept against the source's new value
    assert ws.update_ticket(any_store, tid, {"priority": "low"})
    _import(any_store, _ticket(replies=2, status="solved", priority="high"))
    assert _row(any_store)["priority"] == "low"


def test_a_kept_status_keeps_its_solved_time(any_store):
    tid, _olga = _setup(any_store)
    assert ws.update_ticket(any_store, tid, {"status": "solved"})
    solved_at = _row(any_store)["solved_at"]
    assert solved_at is not None
    _import(any_store, _ticket(replies=1))  # the source still says open, with a new message
    row = _row(any_store)
    assert row["status"] == "solved" and row["solved_at"] == solved_at


def _mail(mid: str, body: str, date: str, reply_to: str | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Jana Dvořáková <jana@zakaznik.cz>"
    m["To"] = "support@shop.example"
    m["Subject"] = ("Re: " if reply_to else "") + "Objednávka 12 — kde je zásilka?"
    m["Message-ID"] = mid
    m["Date"] = date
    if reply_to:
        m["In-Reply-To"] = m["References"] = reply_to
    m.set_content(body)
    return m


def test_an_mbox_delta_import_keeps_the_assignment(cli, project_dir: Path, store: Store):
    box_path = project_dir / "support.mbox"
    box = mailbox.mbox(box_path)
    box.add(_mail("<a1@zakaznik.cz>", "Dobrý den, kde je zásilka?", "Mon, 02 Nov 2026 10:00 +0100"))
    box.flush()
    assert cli("import", f"mbox:{box_path}").exit_code == 0
    p = Person.__table__.c
    with store.begin() as c:
        agent = c.execute(
            Person.__table__.insert().values(name="Petra", role="agent").returning(p.id)
        ).scalar()
    tid = _row(store)["id"]
    assert ws.update_ticket(store, tid, {"assignee_id": agent, "priority": "high"})
    box.add(
        _mail(
            "<a2@zakaznik.cz>",
            "Ještě jednou: kde je?",
            "Tue, 03 Nov 2026 10:00 +0100",
            "<a1@zakaznik.cz>",
        )
    )
    box.flush()
    assert cli("import", f"mbox:{box_path}").exit_code == 0
    row = _row(store)
    assert row["assignee_id"] == agent and row["priority"] == "high"
