"""The canonical model: the store's tables, as SQLModel classes.

Bulk paths use the Core tables (``Ticket.__table__``); everything else may use
the ORM classes. Every timestamp is timezone-aware and stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from deskmove.vocabulary import CHANNELS, DIRECTIONS, PRIORITIES, ROLES, STATUSES  # noqa: F401


class UTCDateTime(sa.types.TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _JSONB(sa.types.TypeDecorator):
    """PostgreSQL's JSONB, its dialect loaded when a PostgreSQL store first uses it (a
    SQLite store's commands need not import the PostgreSQL dialect)."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        from sqlalchemy.dialects.postgresql import JSONB

        return dialect.type_descriptor(JSONB())


JSONType = sa.JSON().with_variant(_JSONB(), "postgresql")


def _ts(**kw: Any) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), **kw))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=sa.Column(JSONType, nullable=False))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    domains: list[str] = _json(list)


class Group(SQLModel, table=True):
    __tablename__ = "groups"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)


class Person(SQLModel, table=True):
    __tablename__ = "people"
    id: int | None = Field(default=None, primary_key=True)
    name: str | None = None
    role: str = "customer"
    phone: str | None = None
    organization_id: int | None = Field(default=None, foreign_key="organizations.id", index=True)


class PersonEmail(SQLModel, table=True):
    """One of a person's addresses; an address belongs to one person (lower-cased)."""

    __tablename__ = "person_emails"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    email: str = Field(sa_column=sa.Column(sa.String, nullable=False, unique=True))
    primary: bool = False


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    id: int | None = Field(default=None, primary_key=True)
    subject: str | None = None
    status: str = "open"
    priority: str | None = None
    type: str | None = None
    channel: str = "other"
    requester_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="people.id")
    group_id: int | None = Field(default=None, foreign_key="groups.id")
    organization_id: int | None = Field(default=None, foreign_key="organizations.id")
    tags: list[str] = _json(list)
    custom_fields: dict[str, Any] = _json(dict)
    created_at: datetime | None = _ts(index=True)
    updated_at: datetime | None = _ts(index=True)
    solved_at: datetime | None = _ts()
    is_auto: bool = False
    is_spam: bool = False
    # Where the ticket first came from, kept across CSV hops: "source" / native id.
    origin_source: str | None = None
    origin_id: str | None = None
    # Mail threading keeps the key of the conversation root here.
    thread_key: str | None = Field(default=None, index=True)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    public: bool = True
    direction: str = "inbound"
    created_at: datetime | None = _ts(index=True)
    # The sender's UTC offset in minutes, when the source said (mail Date header).
    created_tz: int | None = None
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    to: list[str] = _json(list)
    cc: list[str] = _json(list)
    message_id: str | None = Field(default=None, index=True)
    in_reply_to: str | None = None
    references: list[str] = _json(list)
    raw_sha256: str | None = None
    # Selected headers the audit reads (Delivered-To, X-Mailer, List-Id, Reply-To, via, …).
    headers: dict[str, Any] = _json(dict)
    is_auto: bool = False
    origin_id: str | None = None
    # The address this message was sent from, which may be one of its author's other
    # addresses (0005); the author's main address when empty.
    author_email: str | None = None


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", index=True)
    filename: str | None = None
    content_type: str = "application/octet-stream"
    size: int = 0
    sha256: str = Field(index=True)
    content_id: str | None = None
    inline: bool = False


class Provenance(SQLModel, table=True):
    """Where an entity came from: (connection, kind, native_id) -> entity, with a content hash."""

    __tablename__ = "provenance"
    __table_args__ = (
        sa.UniqueConstraint("connection", "kind", "native_id"),
        sa.Index("ix_provenance_run", "run_id"),  # delta sync: changed since a push (0002)
    )
    id: int | None = Field(default=None, primary_key=True)
    connection: str
    kind: str
    native_id: str
    entity_id: int = Field(index=True)
    content_hash: str | None = None
    run_id: int | None = None
    updated_at: datetime | None = _ts()


class IdMap(SQLModel, table=True):
    """Where an entity went: (target connection, kind, entity) -> native id there."""

    __tablename__ = "id_map"
    __table_args__ = (
        sa.UniqueConstraint("connection", "kind", "entity_id"),
        sa.Index("ix_id_map_native", "connection", "kind", "native_id"),
        sa.Index("ix_id_map_state", "connection", "state"),  # 0002
        sa.Index("ix_id_map_run", "connection", "run_id"),  # rollback --run (0002)
    )
    id: int | None = Field(default=None, primary_key=True)
    connection: str
    kind: str
    entity_id: int
    native_id: str | None = None
    pushed_hash: str | None = None
    # "pending" is written before a create call, "done" after; see DESIGN.md rule 3.
    state: str = "done"
    run_id: int | None = None
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class SyncState(SQLModel, table=True):
    __tablename__ = "sync_state"
    connection: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    cursor: dict[str, Any] = _json(dict)
    updated_at: datetime | None = _ts()


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    command: str
    connection: str | None = None
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    status: str = "running"
    counts: dict[str, Any] = _json(dict)


class Quarantine(SQLModel, table=True):
    """What could not be imported: kept with its reason and raw bytes, never dropped."""

    __tablename__ = "quarantine"
    __table_args__ = (
        sa.Index("ix_quarantine_ref", "connection", "native_ref"),
        sa.Index("ix_quarantine_item", "connection", "kind", "native_id"),  # 0003
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, index=True)
    connection: str
    native_ref: str
    reason: str
    raw_sha256: str | None = None
    created_at: datetime | None = _ts()
    resolved: bool = False
    # 0003: the record the item would have become (when known), what its source needs to
    # retry it, and how it left the quarantine ("imported" or "dropped"), why and when.
    kind: str | None = None
    native_id: str | None = None
    context: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column(JSONType, nullable=True)
    )
    resolution: str | None = None
    note: str | None = None
    resolved_at: datetime | None = _ts()


class AuditCheck(SQLModel, table=True):
    """A consultant's tick and note on an audit checklist item; survives re-runs."""

    __tablename__ = "audit_checks"
    item: str = Field(primary_key=True)
    checked: bool = False
    note: str | None = None
    evidence_hash: str | None = None
    updated_at: datetime | None = _ts()


class Blob(SQLModel, table=True):
    """A small blob (raw mail, attachment) kept inside the database, keyed by its sha256.

    Bigger ones (above :data:`deskmove.blobs.INLINE_MAX`) are files in the blob folder.
    """

    __tablename__ = "blobs"
    sha256: str = Field(primary_key=True)
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))


metadata = SQLModel.metadata
