"""The audit's message scan reads raw column values fast, and must give what the model's
column types give: decoded JSON, aware UTC datetimes, on SQLite and PostgreSQL. The headers
the rules read come as keys, one per part, that decode to the very values stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from deskmove.model import Message, Ticket
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from deskmove.store.audit import ENVELOPE_PART, FORM_PART, SIGNAL_PART, VIA_PART

PARTS = ENVELOPE_PART + SIGNAL_PART + FORM_PART


def decoded(db, row) -> tuple:
    """A scan row with its keys decoded: the headers the rules read, as one dict."""
    headers = {}
    for key, names in (
        (row.envelope, ENVELOPE_PART),
        (row.signals, SIGNAL_PART),
        (row.form, FORM_PART),
        (row.via, VIA_PART),
    ):
        headers.update(db.header_part(key, names))
    to, cc = db.address_list(row.to), db.address_list(row.cc)
    return (*row[:4], to, cc, headers, *row[10:])


def read(headers: dict, channel: str) -> dict:
    """What of a message's headers the scan should see."""
    names = PARTS + (VIA_PART if channel != "email" else ())
    return {k: v for k, v in headers.items() if k in names and v is not None}


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
    expected = [(*r[:6], read(r[6], r[10]), *r[7:]) for r in expected]
    with any_store.audit() as db:
        got = [decoded(db, r) for r in db.messages_to_scan()]
    assert got == expected
    assert [repr(r[3]) for r in got] == [repr(r[3]) for r in expected]  # the same tzinfo too
    assert got[0][3] == datetime(2024, 3, 1, 7, 30, 0, 123456, tzinfo=UTC)
    assert got[0][6]["via"] == {"channel": "web"} and got[1][4] == [] and got[1][6] == {}


ODD = [
    {"reply-to": "jana@seznam.cz", "x-mailer": ["PHPMailer 6.8", None], "precedence": 7},
    {"list-id": [], "auto-submitted": False, "x-autoreply": True, "sender": {"a": [1, 2.5]}},
    {"delivered-to": ["Č <podpora@shop.cz>"], "recipient": None, "user-agent": "Мой клиент"},
    {"content-type": "multipart/report; boundary=x", "via": "web", "folder": "INBOX"},
]


def test_header_keys_decode_to_the_stored_values_and_equal_values_share_a_key(any_store):
    msgs = [
        MessageRec(native_id=f"m{i}", created_at=None, headers=h, to=["a@b.cz"])
        for i, h in enumerate(ODD + ODD)
    ]
    batch = Batch(tickets=[TicketRec(native_id="t1", channel="web", messages=msgs)])
    any_store.ingestor("csv", None).ingest(batch)
    with any_store.audit() as db:
        rows = list(db.messages_to_scan())
        got = [decoded(db, r)[6] for r in rows]
    assert got == [read(h, "web") for h in ODD + ODD]
    half = len(ODD)
    for first, again in zip(rows[:half], rows[half:], strict=True):
        assert first[4:10] == again[4:10]  # the same values, the same keys
