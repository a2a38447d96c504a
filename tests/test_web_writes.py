"""The workspace's writes while other agents' pages write too (SQLite).

Two agents on one ticket each send a presence beat every few seconds. A write that reads
first (a note checks its ticket exists, a field change reads the status) and sees another
writer commit before its own first write used to fail at once with "database is locked",
without waiting: the agent got "The store is busy" for a note that was never saved."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from deskmove.errors import StoreError
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from deskmove.store import Store
from deskmove.store import workspace as ws
from tests.webhelp import seed


def _with_writer_between(store: Store, other: Store, ticket_id: int, user_id: int):
    """Before ``store``'s first write that follows a read in a transaction, another agent's
    presence beat (through ``other``, a second engine like a second page) runs and is given
    a second to commit. Returns the beat's outcome: ["ok"] or [the error]."""
    outcome: list[object] = []
    state = {"read": False, "fired": False}

    def beat() -> None:
        try:
            ws.heartbeat(other, ticket_id, user_id, "viewing")
            outcome.append("ok")
        except StoreError as exc:
            outcome.append(exc)

    beater = threading.Thread(target=beat)

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def between(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb == "SELECT":
            state["read"] = True
        elif verb in ("INSERT", "UPDATE", "DELETE") and state["read"] and not state["fired"]:
            state["fired"] = True
            beater.start()
            beater.join(1.0)  # committed by now unless this transaction holds the write lock

    return outcome, beater, state


WRITES: dict[str, Callable[[Store, dict[str, int], ws.Account], object]] = {
    "note": lambda s, ids, a: ws.add_note(s, ids["t-cz"], a, "Volala, chce fakturu."),
    "fields": lambda s, ids, a: ws.update_ticket(s, ids["t-cz"], {"status": "pending"}),
    "draft": lambda s, ids, a: ws.create_draft(
        s,
        ticket_id=ids["t-cz"],
        user_id=a.id,
        form_token="f" * 20,
        state="held",
        to=["jana@zakaznik.cz"],
        cc=[],
        subject="Re: Reklamace",
        body="Dobrý den",
        seen_upto=0,
        mail_id="<r1@shop.example>",
        in_reply_to=None,
        references=[],
    ),
    "user": lambda s, ids, a: ws.add_user(s, email="jan@shop.example", password_hash="x"),
    "login failure": lambda s, ids, a: ws.login_failed(s, ["ip:127.0.0.1", "eva@shop.example"]),
    # cron's import while agents work: a batch reads (its people, threads) before it writes
    "import": lambda s, ids, a: s.ingestor("seed", s.begin_run("import", "seed")).ingest(
        Batch(tickets=[_ticket("t-new")], read=1)
    ),
}


def _ticket(native_id: str) -> TicketRec:
    when = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    jana = PersonRef(email="jana@zakaznik.cz", name="Jana Dvořáková")
    return TicketRec(
        native_id=native_id,
        subject="Faktura",
        status="open",
        requester=jana,
        created_at=when,
        updated_at=when,
        messages=[
            MessageRec(
                native_id=f"{native_id}/1", created_at=when, author=jana, body_text="Dobrý den"
            )
        ],
    )


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_write_waits_for_another_agents_beat_instead_of_failing(kind, store, project):
    ids = seed(store)
    eva = ws.add_user(store, email="eva@shop.example", password_hash="x", role="admin")
    petr = ws.add_user(store, email="petr@shop.example", password_hash="x")
    ws.login_failed(store, ["eva@shop.example"])  # a row to update, not only to insert
    store.limit_lock_wait(5)  # as `deskmove serve` has it
    other = Store.open(project.store_url, project.blob_root, create=False)
    other.limit_lock_wait(5)
    try:
        outcome, beater, state = _with_writer_between(store, other, ids["t-cz"], petr.id)
        assert WRITES[kind](store, ids, eva) is not False  # no "database is locked"
        assert state["fired"], "the write never read before writing: nothing was checked"
        beater.join(10)
        assert outcome == ["ok"]  # and the other page's beat waited for it, then went in
    finally:
        other.close()
    if kind == "note":  # saved once, as a note
        notes = [m for m in ws.newer_messages(store, ids["t-cz"], 0, petr) if not m.public]
        assert len(notes) == 1
