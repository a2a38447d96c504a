"""The workspace's tables (`deskmove serve`): accounts, sessions, presence, reply drafts.

They reference tickets by plain integer (no foreign key), so mail threading may
merge or delete a ticket without tripping over an agent's draft; a draft whose
ticket went away is shown on the merged ticket's page once it is re-pointed.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from deskmove.model import _json, _ts

AGENT, ADMIN = "agent", "admin"
ACCOUNT_ROLES = (AGENT, ADMIN)


class WebUser(SQLModel, table=True):
    """A workspace account; ``person_id`` is the agent person with the same address."""

    __tablename__ = "web_users"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=sa.Column(sa.String, nullable=False, unique=True))
    name: str | None = None
    role: str = AGENT
    password_hash: str
    person_id: int | None = None
    language: str | None = None
    timezone: str | None = None
    created_at: datetime | None = _ts()


class WebSession(SQLModel, table=True):
    """A login: the cookie holds a random token, the table only its sha256."""

    __tablename__ = "web_sessions"
    token_hash: str = Field(primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("web_users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    csrf: str
    created_at: datetime | None = _ts()
    seen_at: datetime | None = _ts()
    expires_at: datetime | None = _ts()


class WebLoginFailure(SQLModel, table=True):
    """Failed logins per key (an address or a client IP) inside the current window."""

    __tablename__ = "web_login_failures"
    key: str = Field(primary_key=True)
    count: int = 0
    first_at: datetime | None = _ts()


class WebPresence(SQLModel, table=True):
    """Who has a ticket open right now, and whether they are writing a reply."""

    __tablename__ = "web_presence"
    ticket_id: int = Field(primary_key=True)
    user_id: int = Field(primary_key=True)
    state: str = "viewing"
    seen_at: datetime | None = _ts(index=True)


class WebDraft(SQLModel, table=True):
    """A reply on its way out: held, sending, failed (with the error) or sent.

    ``form_token`` is unique: the same form submitted twice is one draft, and a
    draft is claimed for sending by moving it to ``sending`` in one UPDATE, so it
    is never sent twice.
    """

    __tablename__ = "web_drafts"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(index=True)
    user_id: int
    form_token: str = Field(sa_column=sa.Column(sa.String, nullable=False, unique=True))
    state: str = "held"
    to: list[str] = _json(list)
    cc: list[str] = _json(list)
    subject: str | None = None
    body: str = ""
    mail_id: str  # the Message-ID this reply goes out with
    in_reply_to: str | None = None
    references: list[str] = _json(list)
    seen_upto: int = 0  # the newest message id the agent had seen when opening the form
    error: str | None = None
    message_row_id: int | None = None  # the stored outbound message, once sent
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class WebTicketEdit(SQLModel, table=True):
    """A ticket field an agent changed in the workspace, with the value the store had
    before the agent's first change of it (the source's, as last imported).

    An import that brings that same value again keeps the agent's; one that brings
    another (the source changed the field since) wins, and the edit is forgotten.
    """

    __tablename__ = "web_ticket_edits"
    ticket_id: int = Field(primary_key=True)
    field: str = Field(primary_key=True)
    before: str | None = None  # JSON of the value before the agent's first change
    edited_at: datetime | None = _ts()


class StoreChange(SQLModel, table=True):
    """A counter raised at the end of every transaction that changes tickets (an import
    batch, a workspace change), so the workspace knows when what it cached went stale."""

    __tablename__ = "store_changes"
    name: str = Field(primary_key=True)
    n: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
