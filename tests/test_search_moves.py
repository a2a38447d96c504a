"""A message that an import moves to another ticket takes its words along in the search:
the ticket it left no longer matches them (agents would open a ticket that does not hold
what they searched for)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from deskmove.model import Message, Ticket
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from deskmove.store import search
from tests.webhelp import T0

JANA = PersonRef(email="jana@zakaznik.cz", name="Jana Dvořáková")


def _msg(native_id: str, text: str, hours: int) -> MessageRec:
    return MessageRec(
        native_id=native_id,
        created_at=T0 + timedelta(hours=hours),
        author=JANA,
        body_text=text,
        direction="inbound",
    )


def _ticket(native_id: str, subject: str, messages: list[MessageRec]) -> TicketRec:
    return TicketRec(
        native_id=native_id,
        subject=subject,
        status="open",
        channel="email",
        requester=JANA,
        created_at=T0,
        updated_at=T0 + timedelta(hours=len(messages)),
        messages=messages,
    )


def _import(store, *tickets: TicketRec) -> None:  # noqa: ANN001
    run = store.begin_run("import", "helpdesk")
    store.ingestor("helpdesk", run).ingest(Batch(tickets=list(tickets), read=len(tickets)))


def _found(store, word: str) -> set[str]:  # noqa: ANN001
    t = Ticket.__table__.c
    with store.begin() as c:
        ids = search.first_matches(c, search.terms(word), 50)
        return set(c.execute(sa.select(t.subject).where(t.id.in_(ids))).scalars())


def test_a_moved_message_leaves_the_search_of_its_old_ticket(any_store):
    first = _msg("m1", "Dobrý den, objednávka", 0)
    moved = _msg("m2", "Reklamace: přípravek kvasnice nefunguje", 1)
    _import(any_store, _ticket("A", "Objednávka", [first, moved]))
    assert _found(any_store, "kvasnice") == {"Objednávka"}
    # the source now files that message under a ticket of its own
    _import(
        any_store,
        _ticket("A", "Objednávka", [first]),
        _ticket("B", "Reklamace kvasnic", [moved]),
    )
    m = Message.__table__.c
    with any_store.begin() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(Message.__table__)).scalar() == 2
        assert len(set(c.execute(sa.select(m.ticket_id)).scalars())) == 2
    assert _found(any_store, "kvasnice") == {"Reklamace kvasnic"}
    assert _found(any_store, "objednávka") == {"Objednávka"}
