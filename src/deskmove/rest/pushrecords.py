"""What a REST push sends: one typed record per object, built from the store and the id map.

Store ids and target ids never share a field: ``entity_id`` is always the
store's, every other id (``requester``, ``author``, ``organization``…) is the
target's, or None when the target has none for it. Enumerated values
(``status``, ``priority``, ``type``, ``channel``) are already the target's native
ones, translated through the target's mapping; what had no home there is in
``left_out`` with the reason, and the engine reports it. The hooks module turns
these records into the target's JSON (``*_payload``); it never reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class OrgPush:
    entity_id: int
    external_id: str
    name: str
    domains: list[str] = field(default_factory=list)


@dataclass
class PersonPush:
    entity_id: int
    external_id: str
    name: str | None
    email: str | None
    phone: str | None = None
    role: str = "customer"  # canonical role in the store (customer, agent)
    organization: str | None = None  # the target's organization id


@dataclass
class GroupPush:
    entity_id: int
    external_id: str
    name: str


@dataclass
class FilePush:
    """An attachment: its bytes are in the blob store under ``sha256``."""

    sha256: str
    filename: str
    content_type: str
    size: int
    token: str | None = None  # an upload token, for targets that upload first (Zendesk)


@dataclass
class MessagePush:
    entity_id: int
    author: str | None  # the target's user id that signs the message (None: the API user)
    author_label: str | None  # "Name <email>" of who wrote it, for bodies that must say so
    stand_in: bool  # True: ``author`` is not who wrote it, so the body names the original
    public: bool
    direction: str | None
    created_at: datetime | None
    body_text: str | None
    body_html: str | None
    author_is_agent: bool = False  # ``author`` is an agent of the target (notes may be signed)
    files: list[FilePush] = field(default_factory=list)
    files_left_out: list[str] = field(default_factory=list)  # named in the body, not sent


@dataclass
class TicketPush:
    entity_id: int
    external_id: str
    subject: str | None
    status: Any  # native values, through the target's mapping
    priority: Any = None
    type: Any = None
    channel: Any = None
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    solved_at: datetime | None = None
    canonical_status: str | None = None
    requester: str | None = None  # target ids
    assignee: str | None = None  # an agent of the target, or None
    original_assignee: str | None = None  # "Name <email>" of an assignee the target lacks
    group: str | None = None
    organization: str | None = None
    messages: list[MessagePush] = field(default_factory=list)  # those that go in with the ticket
    left_out: list[str] = field(default_factory=list)  # "field 'x': why", for the report

    @property
    def external_tag(self) -> str:
        """The external id as a tag (tags cannot hold ':')."""
        return self.external_id.replace(":", "-")
