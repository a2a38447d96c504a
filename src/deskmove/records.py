"""What sources yield: plain, cheap records the store upserts by provenance.

Sources build these (already validated and normalised: aware datetimes,
canonical status/priority/channel values, lower-cased emails) and hand them to
the store in :class:`Batch` es. Plain dataclasses rather than pydantic models
because the bulk path builds hundreds of thousands of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class PersonRef:
    """A reference to a person: by the source's native id, or by email (or both)."""

    email: str | None = None
    name: str | None = None
    native_id: str | None = None
    role: str | None = None  # a hint: "agent" upgrades a person, never downgrades


@dataclass(slots=True)
class PersonRec:
    native_id: str
    name: str | None = None
    emails: list[str] = field(default_factory=list)
    phone: str | None = None
    role: str = "customer"
    organization: str | None = None  # an organization native id or name


@dataclass(slots=True)
class OrgRec:
    native_id: str
    name: str
    domains: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GroupRec:
    native_id: str
    name: str


@dataclass(slots=True)
class AttachmentRec:
    """An attachment whose bytes are already in the blob store under ``sha256``."""

    sha256: str
    size: int
    filename: str | None = None
    content_type: str = "application/octet-stream"
    content_id: str | None = None
    inline: bool = False


# ``MessageRec.headers`` (stored as ``Message.headers``) is what the channel audit
# reads. Mail sources keep these headers, lower-cased name -> list of decoded
# values, when present; nothing else (the raw mail is in the blob store):
# The envelope headers: which address a mail was delivered to or forwarded through.
ENVELOPE_HEADERS = (
    "delivered-to",
    "x-original-to",
    "x-forwarded-to",
    "x-forwarded-for",
    "resent-to",
    "envelope-to",
)
AUDIT_HEADERS = (
    *ENVELOPE_HEADERS,
    "reply-to",
    "sender",
    "return-path",
    "x-mailer",
    "user-agent",
    "x-php-originating-script",
    "list-id",
    "list-unsubscribe",
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-gm-thrid",
    "x-gmail-labels",
    "thread-index",
    "content-type",
)
# Sources add, where they know them: "folder" (str, IMAP folder / Maildir folder),
# "via" (dict, a REST source's channel record, e.g. Zendesk's ``via``), and
# "recipient" (str, the support address a REST ticket was sent to).


@dataclass(slots=True)
class MessageRec:
    native_id: str
    created_at: datetime | None
    author: PersonRef | None = None
    public: bool = True
    direction: str = "inbound"
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    raw_sha256: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    attachments: list[AttachmentRec] = field(default_factory=list)
    is_auto: bool = False
    created_tz: int | None = None
    origin_id: str | None = None
    # The subject and text folded for the search index (deskmove.textfold.fold_message),
    # when the source folded them already (mail: in the parsing worker processes).
    folded: tuple[str, str] | None = None


@dataclass(slots=True)
class TicketRec:
    native_id: str
    subject: str | None = None
    status: str = "open"
    priority: str | None = None
    type: str | None = None
    channel: str = "other"
    requester: PersonRef | None = None
    assignee: PersonRef | None = None
    group: str | None = None  # a group native id or name
    organization: str | None = None  # an organization native id or name
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    solved_at: datetime | None = None
    is_auto: bool = False
    is_spam: bool = False
    origin_source: str | None = None
    origin_id: str | None = None
    thread_key: str | None = None
    # New or changed messages; messages already stored and not listed are kept.
    messages: list[MessageRec] = field(default_factory=list)
    # Mail threading (deskmove.mail.resolve): keys that find this ticket again (a key the
    # store already knows keeps its ticket), and subject keys that move to this ticket.
    thread_keys: list[str] = field(default_factory=list)
    subject_keys: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StoredTicket:
    """What the store tells mail threading about a ticket it holds."""

    id: int
    native_id: str | None  # this connection's id for it (None: another source made it)
    subject: str | None
    status: str
    channel: str
    thread_key: str | None
    created_at: datetime | None
    updated_at: datetime | None
    tags: list[str]
    is_auto: bool
    requester: PersonRef | None


@dataclass(slots=True)
class QuarantineRec:
    native_ref: str  # where it is in the input: "tickets.csv line 5", "offset:1234"
    reason: str
    raw: bytes | None = None
    # The record it would have become, when the source could read that much: importing
    # that record later (a fixed mapping, a re-export) takes the item out of the quarantine.
    kind: str | None = None
    native_id: str | None = None
    # What the source's ``retry`` needs to run the item again (file, line, header, …).
    context: dict[str, Any] | None = None


@dataclass(slots=True)
class Batch:
    """One unit of work: committed together with the state that follows it.

    ``read`` is how many input items this batch accounts for (rows, mails,
    API objects); each ends imported, unchanged or quarantined.
    """

    tickets: list[TicketRec] = field(default_factory=list)
    people: list[PersonRec] = field(default_factory=list)
    organizations: list[OrgRec] = field(default_factory=list)
    groups: list[GroupRec] = field(default_factory=list)
    quarantined: list[QuarantineRec] = field(default_factory=list)
    state: dict[str, dict[str, Any]] | None = None  # stream -> cursor, saved with the batch
    read: int = 0
    # "mail": ticket and message ids are content-derived and shared by every mail
    # connection of the store (see deskmove.store.mailscope)
    scope: str | None = None
    # Small blobs (sha256 -> bytes, up to deskmove.blobs.INLINE_MAX) the batch's records
    # name: written in the batch's transaction (a mail import's raw mails and attachments)
    blobs: dict[str, bytes] = field(default_factory=dict)
