"""The write side of every adapter family."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from deskmove.config import Connection, Project
    from deskmove.store import Store


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
                k: {"created": self.created[k], "matched": self.matched[k], "updated": self.updated[k],
                    "unchanged": self.unchanged[k], "failed": self.failed[k]}
                for k in kinds
            },
            "notes": self.notes,
        }  # fmt: skip


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


class Target(ABC):
    """Takes the store's changes since its last push and writes them.

    Every created object goes into the id map as soon as it exists, so a crash
    between two calls never creates a duplicate on the re-run.
    """

    scheme: ClassVar[str]
    description: ClassVar[str] = ""
    example: ClassVar[str] = ""

    def __init__(self, conn: Connection, project: Project) -> None:
        self.conn = conn
        self.project = project

    def check(self) -> None:  # noqa: B027 - optional hook
        """Fail early with a clear error when the target cannot be written at all."""

    # Optional capabilities: targets that can be reconciled and rolled back implement these.
    def fetch_ticket(self, native_id: str) -> RemoteTicket | None:
        """The ticket as the target holds it now (None when it is gone), for verify."""
        raise NotImplementedError(f"the {self.scheme} target cannot be verified")

    def delete(self, kind: str, native_id: str) -> None:
        """Remove one object deskmove created (rollback); missing objects are not an error."""
        raise NotImplementedError(f"the {self.scheme} target cannot roll back")

    @abstractmethod
    def push(
        self, store: Store, run_id: int, *, dry_run: bool = False, progress: bool = False
    ) -> PushReport:
        """Write what changed since the last push; with ``dry_run`` only report it."""
