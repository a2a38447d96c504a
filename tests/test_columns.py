"""One source of truth for columns: hashes, bulk inserts and the CSV layout follow the tables."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from deskmove import csvlayout
from deskmove.model import Message, Ticket
from deskmove.records import AttachmentRec, MessageRec, PersonRef, TicketRec
from deskmove.store.ingest import _MSG_COLS, message_hash, ticket_hash

# A table column that holds a store id is a reference in the record.
REFERENCES = {
    "author_id": "author",
    "author_email": "author",  # the address the message was sent from
    "requester_id": "requester",
    "assignee_id": "assignee",
    "group_id": "group",
    "organization_id": "organization",
}


def _other(value):  # noqa: ANN001, ANN202
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, datetime):
        return datetime(2001, 2, 3, tzinfo=UTC)
    if isinstance(value, int):
        return value + 60
    if isinstance(value, list):
        return [*value, "x"]
    if isinstance(value, dict):
        return {**value, "x": ["1"]}
    if isinstance(value, PersonRef):
        return PersonRef(email="other@example.cz")
    return f"{value}-other"


def _fields(table, skip: set[str]) -> list[str]:  # noqa: ANN001
    return [REFERENCES.get(c.name, c.name) for c in table.columns if c.name not in skip]


MESSAGE = MessageRec(
    "m1",
    datetime(2024, 1, 2, 3, 4, tzinfo=UTC),
    PersonRef(email="jana@example.cz"),
    subject="s",
    body_text="b",
    body_html="<p>b</p>",
    to=["a@x"],
    cc=["c@x"],
    message_id="<m>",
    in_reply_to="<p>",
    references=["<r>"],
    raw_sha256="ab",
    headers={"h": ["v"]},
    created_tz=60,
    origin_id="o",
    attachments=[AttachmentRec("cd", 1, "f.pdf")],
)
TICKET = TicketRec(
    "t1",
    subject="s",
    priority="low",
    type="question",
    requester=PersonRef(email="r@x"),
    assignee=PersonRef(email="a@x"),
    group="g",
    organization="o",
    tags=["t"],
    custom_fields={"k": "v"},
    created_at=datetime(2024, 1, 1, tzinfo=UTC),
    updated_at=datetime(2024, 1, 2, tzinfo=UTC),
    solved_at=datetime(2024, 1, 3, tzinfo=UTC),
    origin_source="csv",
    origin_id="9",
    thread_key="k",
)


@pytest.mark.parametrize("name", _fields(Message.__table__, {"id", "ticket_id"}))
def test_every_message_column_is_in_the_message_hash(name: str) -> None:
    changed = dataclasses.replace(MESSAGE, **{name: _other(getattr(MESSAGE, name))})
    assert message_hash(changed, "t1") != message_hash(MESSAGE, "t1")


@pytest.mark.parametrize("name", _fields(Ticket.__table__, {"id"}))
def test_every_ticket_column_is_in_the_ticket_hash(name: str) -> None:
    changed = dataclasses.replace(TICKET, **{name: _other(getattr(TICKET, name))})
    assert ticket_hash(changed) != ticket_hash(TICKET)


def test_bulk_inserts_write_every_message_column() -> None:
    assert set(_MSG_COLS) == {c.name for c in Message.__table__.columns} - {"id"}


# Message columns the CSV layout carries under another name or inside another column.
CSV_MESSAGE_NAMES = {"author_id": "author_name", "origin_id": "source_id", "is_auto": "flags"}
CSV_NOT_CARRIED = {"raw_sha256", "created_tz"}  # the raw mail stays in the store; the offset
# is part of created_at


def test_the_csv_layout_carries_every_message_column() -> None:
    columns = {c.name for c in Message.__table__.columns} - {"id"} - CSV_NOT_CARRIED
    assert {CSV_MESSAGE_NAMES.get(c, c) for c in columns} <= set(csvlayout.MESSAGES)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 3, 4, 10, 0, tzinfo=UTC),
        datetime(2024, 3, 4, 10, 0, 0, 7, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime.fromisoformat("2024-03-31T02:30:00+02:00"),
        datetime.fromisoformat("2024-03-04T10:00:00.5-05:30"),
        datetime.fromisoformat("2024-03-04T10:00:00Z"),
    ],
)
def test_bulk_inserts_write_times_as_the_column_type_does_on_sqlite(value: datetime) -> None:
    """The bulk path's own conversion gives the text SQLAlchemy's type and driver would."""
    import sqlalchemy as sa

    from deskmove.model import UTCDateTime
    from deskmove.store.ingest import _sqlite_time

    engine = sa.create_engine("sqlite://")
    processed = UTCDateTime().process_bind_param(value, engine.dialect)
    bind = sa.DateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)
    assert _sqlite_time(value) == bind(processed)
    assert _sqlite_time(None) is None
