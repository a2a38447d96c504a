"""The workspace's writes and small reads: accounts, sessions, login throttling,
presence, ticket changes, notes, reply drafts.

Every change an agent makes is recorded like an import's: a provenance row of
connection ``@workspace`` carries the id of a ``serve`` run newer than any push,
so ``sync``/``export`` see the ticket as changed (deskmove.store.delta) and push
the workspace's replies, notes and field changes to the configured target.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from deskmove.errors import StoreError, UsageError
from deskmove.model import (
    PRIORITIES,
    STATUSES,
    Message,
    Person,
    PersonEmail,
    Provenance,
    Run,
    Ticket,
    utcnow,
)
from deskmove.store import changes as change_counter
from deskmove.store import edits, search
from deskmove.store.people import primary_email
from deskmove.store.webmodel import (
    ACCOUNT_ROLES,
    WebDraft,
    WebLoginFailure,
    WebPresence,
    WebSession,
    WebUser,
)

if TYPE_CHECKING:
    from deskmove.store import Store

WORKSPACE = "@workspace"
USERS = WebUser.__table__
SESSIONS = WebSession.__table__
LOGIN_FAILURES = WebLoginFailure.__table__
PRESENCE = WebPresence.__table__
DRAFTS = WebDraft.__table__
TICKETS = Ticket.__table__
MESSAGES = Message.__table__
PEOPLE = Person.__table__
EMAILS = PersonEmail.__table__
PROVENANCE = Provenance.__table__
RUNS = Run.__table__

SESSION_IDLE = timedelta(hours=12)
SESSION_MAX = timedelta(days=14)
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_LIMIT = 5
PRESENCE_FRESH = timedelta(seconds=30)


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str | None
    role: str
    person_id: int | None
    language: str | None
    timezone: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def label(self) -> str:
        return self.name or self.email


def _account(row: Any) -> Account:
    return Account(row.id, row.email, row.name, row.role, row.person_id, row.language, row.timezone)


# -- accounts ------------------------------------------------------------------------
def add_user(
    store: Store, *, email: str, password_hash: str, role: str = "agent", name: str | None = None
) -> Account:
    """Create an account linked to the agent person with that address (made if missing)."""
    email = email.strip().lower()
    if role not in ACCOUNT_ROLES:
        raise UsageError(f"unknown role '{role}'", f"use one of: {', '.join(ACCOUNT_ROLES)}")
    if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        raise UsageError(f"'{email}' is not an e-mail address", "give the agent's address")
    now = utcnow()
    with store.write() as conn:
        if conn.execute(sa.select(USERS.c.id).where(USERS.c.email == email)).first():
            raise UsageError(
                f"an account for {email} already exists",
                "remove it first with `deskmove users remove`",
            )
        pid = conn.execute(sa.select(EMAILS.c.person_id).where(EMAILS.c.email == email)).scalar()
        if pid is None:
            pid = conn.execute(
                PEOPLE.insert().values(name=name, role="agent").returning(PEOPLE.c.id)
            ).scalar_one()
            conn.execute(EMAILS.insert().values(person_id=pid, email=email, primary=True))
        else:
            conn.execute(PEOPLE.update().where(PEOPLE.c.id == pid).values(role="agent"))
            if name is None:
                name = conn.execute(sa.select(PEOPLE.c.name).where(PEOPLE.c.id == pid)).scalar()
        uid = conn.execute(
            USERS.insert()
            .values(
                email=email,
                name=name,
                role=role,
                password_hash=password_hash,
                person_id=pid,
                created_at=now,
            )
            .returning(USERS.c.id)
        ).scalar_one()
        return _account(conn.execute(sa.select(USERS).where(USERS.c.id == uid)).one())


def list_users(store: Store) -> list[Account]:
    with store.begin() as conn:
        return [_account(r) for r in conn.execute(sa.select(USERS).order_by(USERS.c.email))]


def count_users(store: Store) -> int:
    with store.begin() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(USERS)).scalar_one()


def remove_user(store: Store, email: str) -> bool:
    """Delete an account and its sessions; the person and their history stay."""
    email = email.strip().lower()
    with store.write() as conn:
        uid = conn.execute(sa.select(USERS.c.id).where(USERS.c.email == email)).scalar()
        if uid is None:
            return False
        conn.execute(SESSIONS.delete().where(SESSIONS.c.user_id == uid))
        conn.execute(PRESENCE.delete().where(PRESENCE.c.user_id == uid))
        conn.execute(USERS.delete().where(USERS.c.id == uid))
        return True


def password_hash_of(store: Store, email: str) -> tuple[int, str] | None:
    with store.begin() as conn:
        row = conn.execute(
            sa.select(USERS.c.id, USERS.c.password_hash).where(
                USERS.c.email == email.strip().lower()
            )
        ).first()
    return (row.id, row.password_hash) if row else None


def set_password_hash(store: Store, user_id: int, password_hash: str) -> None:
    with store.write() as conn:
        conn.execute(
            USERS.update().where(USERS.c.id == user_id).values(password_hash=password_hash)
        )


def set_preferences(
    store: Store, user_id: int, *, language: str | None, timezone: str | None
) -> None:
    with store.write() as conn:
        conn.execute(
            USERS.update()
            .where(USERS.c.id == user_id)
            .values(language=language or None, timezone=timezone or None)
        )


def agents(store: Store) -> list[tuple[int, str]]:
    """(person id, label) of every person with the agent role, for the assignee pickers."""
    p = PEOPLE.c
    email = primary_email(p.id)
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(p.id, p.name, email).where(p.role == "agent").order_by(p.name, p.id)
        )
        return [(pid, name or mail or f"#{pid}") for pid, name, mail in rows]


def is_agent(store: Store, person_id: int) -> bool:
    p = PEOPLE.c
    with store.begin() as conn:
        return (
            conn.execute(sa.select(p.id).where(p.id == person_id, p.role == "agent")).first()
            is not None
        )


# -- sessions -------------------------------------------------------------------------
def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(store: Store, user_id: int) -> tuple[str, str]:
    """A new login: returns (cookie token, CSRF token); only the token's hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with store.write() as conn:
        conn.execute(SESSIONS.delete().where(SESSIONS.c.expires_at < now))
        conn.execute(
            SESSIONS.insert().values(
                token_hash=_digest(token),
                user_id=user_id,
                csrf=csrf,
                created_at=now,
                seen_at=now,
                expires_at=now + SESSION_IDLE,
            )
        )
    return token, csrf


def session_user(store: Store, token: str) -> tuple[Account, str] | None:
    """The account and CSRF token of a live session; idle or too old sessions are over."""
    if not token or len(token) > 200:
        return None
    now = utcnow()
    s = SESSIONS.c
    with store.begin() as conn:
        row = conn.execute(
            sa.select(USERS, s.csrf, s.seen_at, s.created_at, s.expires_at)
            .join(SESSIONS, s.user_id == USERS.c.id)
            .where(s.token_hash == _digest(token))
        ).first()
        if row is None:
            return None
    if row.expires_at < now or row.created_at + SESSION_MAX < now:
        return None  # removed by the next login's clean-up
    if now - row.seen_at > timedelta(minutes=5):
        try:  # best effort: a store busy with a sync must not log the agent out
            with store.write() as conn:
                conn.execute(
                    SESSIONS.update()
                    .where(s.token_hash == _digest(token))
                    .values(seen_at=now, expires_at=now + SESSION_IDLE)
                )
        except StoreError:
            pass
    return _account(row), row.csrf


def end_session(store: Store, token: str) -> None:
    with store.write() as conn:
        conn.execute(SESSIONS.delete().where(SESSIONS.c.token_hash == _digest(token)))


# -- login throttling -----------------------------------------------------------------
def login_wait(store: Store, keys: list[str], now: datetime | None = None) -> int:
    """Seconds until another login attempt is allowed for these keys (0: now)."""
    now = now or utcnow()
    with store.begin() as conn:
        rows = conn.execute(sa.select(LOGIN_FAILURES).where(LOGIN_FAILURES.c.key.in_(keys))).all()
    wait = 0
    for r in rows:
        if r.count >= THROTTLE_LIMIT and r.first_at + THROTTLE_WINDOW > now:
            wait = max(wait, int((r.first_at + THROTTLE_WINDOW - now).total_seconds()) + 1)
    return wait


def login_failed(store: Store, keys: list[str]) -> None:
    now = utcnow()
    f = LOGIN_FAILURES.c
    with store.write() as conn:
        for key in keys:
            row = conn.execute(sa.select(LOGIN_FAILURES).where(f.key == key)).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(LOGIN_FAILURES.insert().values(key=key, count=1, first_at=now))
                except IntegrityError:
                    conn.execute(
                        LOGIN_FAILURES.update().where(f.key == key).values(count=f.count + 1)
                    )
            elif row.first_at + THROTTLE_WINDOW < now:
                conn.execute(
                    LOGIN_FAILURES.update().where(f.key == key).values(count=1, first_at=now)
                )
            else:
                conn.execute(LOGIN_FAILURES.update().where(f.key == key).values(count=f.count + 1))


def login_succeeded(store: Store, keys: list[str]) -> None:
    with store.write() as conn:
        conn.execute(LOGIN_FAILURES.delete().where(LOGIN_FAILURES.c.key.in_(keys)))


# -- presence -------------------------------------------------------------------------
def touch_presence(store: Store, ticket_id: int, user_id: int, state: str) -> list[dict[str, Any]]:
    """Record that this agent is here (viewing or replying); returns the others still here."""
    with store.write() as conn:
        return _touch(conn, ticket_id, user_id, state)


def heartbeat(
    store: Store, ticket_id: int, user_id: int, state: str
) -> tuple[list[dict[str, Any]], int]:
    """The ticket page's heartbeat: presence recorded, the others here, the newest message id."""
    with store.write() as conn:
        return _touch(conn, ticket_id, user_id, state), _latest_message_id(conn, ticket_id)


def _touch(conn: Connection, ticket_id: int, user_id: int, state: str) -> list[dict[str, Any]]:
    state = state if state in ("viewing", "replying") else "viewing"
    now = utcnow()
    p = PRESENCE.c
    done = conn.execute(
        PRESENCE.update()
        .where(p.ticket_id == ticket_id, p.user_id == user_id)
        .values(state=state, seen_at=now)
    ).rowcount
    if not done:
        try:
            with conn.begin_nested():
                conn.execute(
                    PRESENCE.insert().values(
                        ticket_id=ticket_id, user_id=user_id, state=state, seen_at=now
                    )
                )
        except IntegrityError:
            pass
    return _others(conn, ticket_id, user_id, now)


def leave_presence(store: Store, ticket_id: int, user_id: int) -> None:
    p = PRESENCE.c
    with store.write() as conn:
        conn.execute(PRESENCE.delete().where(p.ticket_id == ticket_id, p.user_id == user_id))


def others_present(store: Store, ticket_id: int, user_id: int) -> list[dict[str, Any]]:
    with store.begin() as conn:
        return _others(conn, ticket_id, user_id, utcnow())


def _others(conn: Connection, ticket_id: int, user_id: int, now: datetime) -> list[dict[str, Any]]:
    p, u = PRESENCE.c, USERS.c
    rows = conn.execute(
        sa.select(u.name, u.email, p.state)
        .join(USERS, u.id == p.user_id)
        .where(p.ticket_id == ticket_id, p.user_id != user_id, p.seen_at > now - PRESENCE_FRESH)
        .order_by(u.email)
    )
    return [{"name": name or email, "state": state} for name, email, state in rows]


# -- recording changes ------------------------------------------------------------------
def _change_run(conn: Connection) -> int:
    """A ``serve`` run newer than every other run: reused while no other run started since."""
    last = conn.execute(
        sa.select(RUNS.c.id, RUNS.c.command).order_by(RUNS.c.id.desc()).limit(1)
    ).first()
    if last is not None and last.command == "serve":
        return last.id
    now = utcnow()
    return conn.execute(
        RUNS.insert()
        .values(
            command="serve",
            connection=WORKSPACE,
            started_at=now,
            finished_at=now,
            status="done",
            counts={},
        )
        .returning(RUNS.c.id)
    ).scalar_one()


def record_change(conn: Connection, kind: str, entity_id: int) -> None:
    """Mark a ticket or message as changed by the workspace, for the next push."""
    run_id = _change_run(conn)
    p = PROVENANCE.c
    now = utcnow()
    where = (p.connection == WORKSPACE, p.kind == kind, p.native_id == str(entity_id))
    if not conn.execute(
        PROVENANCE.update().where(*where).values(run_id=run_id, updated_at=now)
    ).rowcount:
        conn.execute(
            PROVENANCE.insert().values(
                connection=WORKSPACE,
                kind=kind,
                native_id=str(entity_id),
                entity_id=entity_id,
                content_hash=None,
                run_id=run_id,
                updated_at=now,
            )
        )


# -- ticket changes ---------------------------------------------------------------------
def update_ticket(store: Store, ticket_id: int, changes: dict[str, Any]) -> bool:
    """Change status, priority, tags, assignee or group; False if the ticket does not exist."""
    allowed = {"status", "priority", "tags", "assignee_id", "group_id"}
    bad = set(changes) - allowed
    if bad:
        raise UsageError(
            f"cannot change {', '.join(sorted(bad))}", "change status, priority, tags or assignee"
        )
    if "status" in changes and changes["status"] not in STATUSES:
        raise UsageError(
            f"unknown status '{changes['status']}'", f"use one of: {', '.join(STATUSES)}"
        )
    if changes.get("priority") not in (None, *PRIORITIES):
        raise UsageError(
            f"unknown priority '{changes['priority']}'", f"use one of: {', '.join(PRIORITIES)}"
        )
    now = utcnow()
    t = TICKETS.c
    cols = [t.solved_at, *(getattr(t, f) for f in edits.EDITABLE)]
    with store.write() as conn:
        row = conn.execute(sa.select(*cols).where(t.id == ticket_id)).first()
        if row is None:
            return False
        edits.remember(conn, ticket_id, dict(row._mapping), changes)  # kept across imports
        values = dict(changes)
        if "status" in values:
            solved = values["status"] in ("solved", "closed")
            if solved and row.solved_at is None:
                values["solved_at"] = now
            elif not solved:
                values["solved_at"] = None
        if values:
            values["updated_at"] = now
            conn.execute(TICKETS.update().where(t.id == ticket_id).values(**values))
            record_change(conn, "ticket", ticket_id)
            change_counter.bump(conn)  # last: see deskmove.store.changes
        return True


def add_note(store: Store, ticket_id: int, account: Account, body: str) -> int | None:
    """An internal note by this agent; returns the message id (None: no such ticket)."""
    now = utcnow()
    with store.write() as conn:
        if conn.execute(sa.select(TICKETS.c.id).where(TICKETS.c.id == ticket_id)).first() is None:
            return None
        mid = conn.execute(
            MESSAGES.insert()
            .values(
                ticket_id=ticket_id,
                author_id=account.person_id,
                public=False,
                direction="outbound",
                created_at=now,
                created_tz=None,
                body_text=body,
                to=[],
                cc=[],
                references=[],
                headers={},
                is_auto=False,
            )
            .returning(MESSAGES.c.id)
        ).scalar_one()
        conn.execute(TICKETS.update().where(TICKETS.c.id == ticket_id).values(updated_at=now))
        record_change(conn, "message", mid)
        search.index_tickets(conn, [ticket_id])
        change_counter.bump(conn)
        return mid


# -- reply drafts ----------------------------------------------------------------------
def latest_message_id(store: Store, ticket_id: int) -> int:
    with store.begin() as conn:
        return _latest_message_id(conn, ticket_id)


def _latest_message_id(conn: Connection, ticket_id: int) -> int:
    return conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(MESSAGES.c.id), 0)).where(
            MESSAGES.c.ticket_id == ticket_id
        )
    ).scalar_one()


@dataclass
class TicketPage:
    """What the ticket page shows besides the conversation, read in one transaction."""

    ticket: Any
    drafts: list[Any]
    reply: dict[str, Any]
    latest_message_id: int


def ticket_page(store: Store, ticket_id: int) -> TicketPage | None:
    """The ticket, its unsent replies, the reply form's headers and the newest message id
    (one transaction instead of four: on PostgreSQL each is a round trip or more)."""
    from deskmove.store.worklist import ticket_row

    with store.begin() as conn:
        t = ticket_row(conn, ticket_id)
        if t is None:
            return None
        return TicketPage(
            t,
            _drafts_for(conn, ticket_id),
            _reply_headers(conn, ticket_id),
            _latest_message_id(conn, ticket_id),
        )


def reply_headers(store: Store, ticket_id: int) -> dict[str, Any]:
    """Whom a reply goes to and what it answers: the newest mail's Message-ID and references."""
    with store.begin() as conn:
        return _reply_headers(conn, ticket_id)


def _reply_headers(conn: Connection, ticket_id: int) -> dict[str, Any]:
    m, t = MESSAGES.c, TICKETS.c
    ticket = conn.execute(sa.select(t.subject, t.requester_id).where(t.id == ticket_id)).first()
    if ticket is None:
        return {}
    last = conn.execute(
        sa.select(m.message_id, m.references, m.subject)
        .where(m.ticket_id == ticket_id, m.message_id.is_not(None), m.public.is_(True))
        .order_by(m.created_at.desc(), m.id.desc())
        .limit(1)
    ).first()
    to = (
        conn.execute(sa.select(primary_email(ticket.requester_id))).scalar()
        if ticket.requester_id
        else None
    )
    refs = list(last.references or []) + [last.message_id] if last else []
    return {
        "to": [to] if to else [],
        "subject": ticket.subject or "",
        "in_reply_to": last.message_id if last else None,
        "references": refs[-20:],
    }


def create_draft(store: Store, **values: Any) -> tuple[int, bool]:
    """Store a reply draft; the same form token again returns the first one (id, created)."""
    now = utcnow()
    d = DRAFTS.c
    with store.write() as conn:
        existing = conn.execute(
            sa.select(d.id).where(d.form_token == values["form_token"])
        ).scalar()
        if existing is not None:
            return existing, False
        try:
            with conn.begin_nested():
                did = conn.execute(
                    DRAFTS.insert().values(created_at=now, updated_at=now, **values).returning(d.id)
                ).scalar_one()
        except IntegrityError:
            did = conn.execute(
                sa.select(d.id).where(d.form_token == values["form_token"])
            ).scalar_one()
            return did, False
        return did, True


def get_draft(store: Store, draft_id: int) -> Any:
    with store.begin() as conn:
        return conn.execute(sa.select(DRAFTS).where(DRAFTS.c.id == draft_id)).first()


def drafts_for(store: Store, ticket_id: int) -> list[Any]:
    """Replies of this ticket that did not go out (held, failed, or caught mid-send)."""
    with store.begin() as conn:
        return _drafts_for(conn, ticket_id)


def _drafts_for(conn: Connection, ticket_id: int) -> list[Any]:
    d, u = DRAFTS.c, USERS.c
    return list(
        conn.execute(
            sa.select(DRAFTS, u.name.label("author_name"), u.email.label("author_email"))
            .outerjoin(USERS, u.id == d.user_id)
            .where(d.ticket_id == ticket_id, d.state != "sent")
            .order_by(d.id)
        )
    )


def claim_draft(store: Store, draft_id: int, *, allow_unknown: bool = False) -> bool:
    """Move a draft to ``sending``; only one caller ever wins, so it is sent once.

    A draft left in ``sending`` (the process died during the send) may have gone
    out: it is claimed again only when the agent says so (``allow_unknown``).
    """
    d = DRAFTS.c
    states = ["held", "failed"] + (["sending"] if allow_unknown else [])
    with store.write() as conn:
        return bool(
            conn.execute(
                DRAFTS.update()
                .where(d.id == draft_id, d.state.in_(states))
                .values(state="sending", updated_at=utcnow(), error=None)
            ).rowcount
        )


def hold_draft(store: Store, draft_id: int, seen_upto: int, body: str | None = None) -> None:
    d = DRAFTS.c
    values: dict[str, Any] = {"state": "held", "seen_upto": seen_upto, "updated_at": utcnow()}
    if body is not None:
        values["body"] = body
    with store.write() as conn:
        conn.execute(DRAFTS.update().where(d.id == draft_id, d.state != "sent").values(**values))


def fail_draft(store: Store, draft_id: int, error: str) -> None:
    d = DRAFTS.c
    with store.write() as conn:
        conn.execute(
            DRAFTS.update()
            .where(d.id == draft_id, d.state == "sending")
            .values(state="failed", error=error[:1000], updated_at=utcnow())
        )


def discard_draft(store: Store, draft_id: int) -> bool:
    d = DRAFTS.c
    with store.write() as conn:
        return bool(
            conn.execute(
                DRAFTS.delete().where(d.id == draft_id, d.state.in_(["held", "failed"]))
            ).rowcount
        )


def newer_messages(store: Store, ticket_id: int, seen_upto: int, account: Account) -> list[Any]:
    """Messages that arrived after the agent opened the form, other than their own notes."""
    m, p = MESSAGES.c, PEOPLE.c
    with store.begin() as conn:
        return list(
            conn.execute(
                sa.select(
                    m.id, m.public, m.direction, m.created_at, m.author_id, p.name.label("author")
                )
                .outerjoin(PEOPLE, p.id == m.author_id)
                .where(m.ticket_id == ticket_id, m.id > seen_upto)
                .where(sa.or_(m.public.is_(True), m.author_id.is_distinct_from(account.person_id)))
                .order_by(m.id)
            )
        )


def sent_draft(
    store: Store, draft_id: int, *, author_id: int | None, raw_sha256: str, from_addr: str
) -> int:
    """The reply went out: store it as the outbound message, mark the draft sent."""
    now = utcnow()
    d = DRAFTS.c
    with store.write() as conn:
        draft = conn.execute(sa.select(DRAFTS).where(d.id == draft_id)).one()
        mid = conn.execute(
            MESSAGES.insert()
            .values(
                ticket_id=draft.ticket_id,
                author_id=author_id,
                public=True,
                direction="outbound",
                created_at=now,
                created_tz=0,
                subject=draft.subject,
                body_text=draft.body,
                to=list(draft.to),
                cc=list(draft.cc),
                message_id=draft.mail_id,
                in_reply_to=draft.in_reply_to,
                references=list(draft.references),
                raw_sha256=raw_sha256,
                headers={"from": from_addr},
                is_auto=False,
            )
            .returning(MESSAGES.c.id)
        ).scalar_one()
        conn.execute(
            DRAFTS.update()
            .where(d.id == draft_id)
            .values(state="sent", message_row_id=mid, updated_at=now, error=None)
        )
        t = TICKETS.c
        conn.execute(TICKETS.update().where(t.id == draft.ticket_id).values(updated_at=now))
        if conn.execute(
            TICKETS.update().where(t.id == draft.ticket_id, t.status == "new").values(status="open")
        ).rowcount:
            edits.remember(conn, draft.ticket_id, {"status": "new"}, {"status": "open"})
        record_change(conn, "message", mid)
        record_change(conn, "ticket", draft.ticket_id)
        search.index_tickets(conn, [draft.ticket_id])
        change_counter.bump(conn)
        return mid
