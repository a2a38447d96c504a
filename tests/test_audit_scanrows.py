"""The audit's message scan reads raw column values fast, and must give what the model's
column types give: decoded JSON, aware UTC datetimes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from deskmove.model import Message, Ticket
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec


def test_scan_rows_hold_the_values_the_model_reads(any_store):
    prague = timezone(timedelta(hours=2))
    msgs = [
        MessageRec(
            native_id="m1",
            created_at=datetime(2024, 3, 1, 9, 30, 0, 123456, tzinfo=prague),
            author=PersonRef(email="jana@example.cz"),
            to=["podpora@shop.cz"],
            cc=["a@b.cz", "c@d.cz"],
            headers={"x-original-to": ["info@shop.cz"], "via": {"channel": "web"}},
            is_auto=True,
            subject="Dotaz",
            body_text="Dobrý den",
        ),
        MessageRec(native_id="m2", created_at=datetime(2024, 3, 1, 10, 0, tzinfo=UTC)),
        MessageRec(native_id="m3", created_at=None, headers={"list-id": "<x.example>"}),
    ]
    batch = Batch(
        tickets=[TicketRec(native_id="t1", subject="Objednávka", channel="web", messages=msgs)]
    )
    any_store.ingestor("csv", None).ingest(batch)
    m, t = Message.__table__.c, Ticket.__table__.c
    model = (
        sa.select(
            m.ticket_id,
            m.author_id,
            m.direction,
            m.created_at,
            m.to,
            m.cc,
            m.headers,
            m.is_auto,
            m.subject,
            m.body_text,
            t.channel,
            t.subject,
        )
        .join(Ticket.__table__, t.id == m.ticket_id)
        .order_by(m.id)
    )
    with any_store.engine.connect() as conn:
        expected = [tuple(r) for r in conn.execute(model)]
    with any_store.audit() as db:
        got = [tuple(r) for r in db.messages_to_scan()]
    assert got == expected
    assert [repr(r[3]) for r in got] == [repr(r[3]) for r in expected]  # the same tzinfo too
    assert got[0][3] == datetime(2024, 3, 1, 7, 30, 0, 123456, tzinfo=UTC)
    assert got[0][6]["via"] == {"channel": "web"} and got[1][4] == [] and got[1][6] == {}
