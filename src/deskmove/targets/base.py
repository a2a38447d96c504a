"""The write side of every adapter family."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from deskmove.errors import NotSupported

if TYPE_CHECKING:
    from deskmove.config import Connection, Project
    from deskmove.store import Store, TicketScope


@dataclass
class PushReport:
    """What a push did, per entity kind."""

    created: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)  # already in the target: reused
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        kinds = sorted(
            set(self.created)
            | set(self.matched)
            | set(self.updated)
            | set(self.unchanged)
            | set(self.failed)
        )
        return {
            "dry_run": self.dry_run,
            "kinds": {
                k: {
                    "created": self.created[k],
                    "matched": self.matched[k],
                    "updated": self.updated[k],
                    "unchanged": self.unchanged[k],
                    "failed": self.failed[k],
                }
                for k in kinds
            },
            "notes": self.notes,
        }


@dataclass
class RemoteMessage:
    """One message as the target holds it, for ``deskmove verify``."""

    native_id: str
    author: str | None  # email, or the target's user id when it exposes no email
    created_at: datetime | None
    public: bool = True
    attachment_sha256: list[str] = field(default_factory=list)  # empty when not exposed


@dataclass
class RemoteTicket:
    native_id: str
    status: str | None
    messages: list[RemoteMessage] = field(default_factory=list)


# What the store holds that a target may or may not carry over, in the words the audit's
# migration plan uses. Each target says which it writes (``carries``); the plan's "what is
# lost" for a target is the rest of this list, so it cannot drift from the code.
CONTENT: dict[str, str] = {
    "ticket.fields": "ticket status, priority, type, tags and custom fields",
    "ticket.people": "each ticket's requester, assignee, group and organization",
    "ticket.times": "tickets' original created, updated and solved times",
    "message.bodies": "message text and HTML",
    "message.author": "each message's author",
    "message.time": "each message's original time",
    "message.internal": "internal notes kept internal",
    "message.recipients": "To/Cc lists",
    "message.threading": "In-Reply-To/References",
    "message.headers": "the mail headers the audit reads (Delivered-To, Reply-To, X-Mailer, …)",
    "message.raw": "the raw original mail",
    "person.addresses": "a person's second and further addresses",
    "person.phone": "people's phone numbers",
    "attachments": "attachments and inline images",
    "organization.domains": "organizations' mail domains",
}


class Target(ABC):
    """Takes the store's changes since its last push and writes them.

    Every created object goes into the id map as soon as it exists, so a crash
    between two calls never creates a duplicate on the re-run.
    """

    scheme: ClassVar[str]
    description: ClassVar[str] = ""
    example: ClassVar[str] = ""
    # Every person in the target was written by deskmove (a folder), so a rollback removes
    # the people a run created with its tickets; a helpdesk may have matched existing users.
    owns_people: ClassVar[bool] = False

    # The ?key=value options its spec takes; any other is refused (None: not declared).
    spec_options: ClassVar[tuple[str, ...] | None] = None
    # Which of CONTENT this target writes.
    carries: ClassVar[frozenset[str]] = frozenset()

    def carried(self) -> frozenset[str]:
        """What of the store this target writes (a REST target: what its spec allows)."""
        return self.carries

    def lost(self) -> list[str]:
        """What of the store does not reach this target, in words (CONTENT order)."""
        kept = self.carried()
        return [words for key, words in CONTENT.items() if key not in kept]

    def __init__(self, conn: Connection, project: Project) -> None:
        self.conn = conn
        self.project = project

    def option_names(self) -> set[str] | None:
        return None if self.spec_options is None else set(self.spec_options)

    def check(self) -> None:  # noqa: B027 - optional hook
        """Fail early with a clear error when the target cannot be written at all
        (for a remote target: its credentials, with one cheap authenticated read)."""

    def check_config(self) -> None:
        """What :meth:`check` can tell without the network (cron's check on every sync)."""
        self.check()

    # Optional capabilities: targets that can be reconciled and rolled back implement
    # fetch_ticket (verify) and delete or delete_many (rollback).
    def fetch_ticket(self, native_id: str) -> RemoteTicket | None:
        """The ticket as the target holds it now (None when it is gone), for verify."""
        raise NotSupported(f"the {self.scheme} target cannot be verified")

    def delete(self, kind: str, native_id: str) -> None:
        """Remove one object deskmove created (rollback); missing objects are not an error."""
        raise NotSupported(f"the {self.scheme} target cannot roll back")

    def delete_many(self, objects: list[tuple[str, str]]) -> None:
        """Remove several ``(kind, native id)`` at once; targets that rewrite a whole
        folder implement this instead of :meth:`delete`."""
        for kind, native_id in objects:
            self.delete(kind, native_id)

    @property
    def deletes_in_bulk(self) -> bool:
        return type(self).delete_many is not Target.delete_many

    def supports(self, capability: str) -> bool:
        """Whether this target can ``verify`` or ``rollback``."""
        cls = type(self)
        if capability == "verify":
            return cls.fetch_ticket is not Target.fetch_ticket
        if capability == "rollback":
            return cls.delete is not Target.delete or self.deletes_in_bulk
        raise ValueError(capability)

    def require(self, capability: str) -> None:
        """Refuse up front (exit 2) when this target cannot do ``capability``."""
        if not self.supports(capability):
            what = "be verified" if capability == "verify" else "roll back"
            raise NotSupported(
                f"the {self.scheme} target cannot {what}",
                "nothing was changed; see `deskmove adapters list` for what each target supports",
            )

    @abstractmethod
    def push(
        self,
        store: Store,
        run_id: int,
        *,
        dry_run: bool = False,
        progress: bool = False,
        only: TicketScope | None = None,
    ) -> PushReport:
        """Write what changed since the last push; with ``dry_run`` only report it.

        With ``only`` (a sample), write those tickets and what they refer to, nothing else.
        """
