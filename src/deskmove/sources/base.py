"""The source side of every adapter family."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from deskmove.records import Batch

if TYPE_CHECKING:
    from deskmove.config import Connection, Project
    from deskmove.store import Store


class Source(ABC):
    """Reads from its connection, from its saved state on, and yields batches.

    Each batch and the state that follows it are committed in one transaction;
    a source is strictly read-only on the old system.
    """

    scheme: ClassVar[str]
    description: ClassVar[str] = ""
    example: ClassVar[str] = ""
    # Which records count as input items in "read = imported + unchanged + quarantined".
    item_kinds: ClassVar[tuple[str, ...]] = ("ticket", "message")

    def __init__(self, conn: Connection, project: Project) -> None:
        self.conn = conn
        self.project = project
        self.notes: list[str] = []  # said to the user after the run ("detected encoding …")

    def check(self) -> None:  # noqa: B027 - optional hook
        """Fail early with a clear error when the input cannot be read at all."""

    def estimate(self) -> int | None:
        """How many items this run will read, when cheap to know (for the progress bar)."""
        return None

    @abstractmethod
    def batches(self, state: dict[str, dict[str, Any]], store: Store) -> Iterator[Batch]:
        """Yield batches from ``state`` on; ``store.blobs`` takes attachment bytes."""
