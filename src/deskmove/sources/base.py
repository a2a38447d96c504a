"""The source side of every adapter family."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from deskmove.records import Batch

if TYPE_CHECKING:
    from deskmove.config import Connection, Project
    from deskmove.mail.batcher import RawMail
    from deskmove.store import Store
    from deskmove.store.quarantine import Item

# What a retry yields: the quarantined items a batch accounts for, and the batch. An item
# whose native_ref comes back in ``batch.quarantined`` failed again and stays open.
Retried = tuple[list[int], Batch]


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
    # The ?key=value options its spec takes; any other is refused (None: not declared).
    spec_options: ClassVar[tuple[str, ...] | None] = None

    def option_names(self) -> set[str] | None:
        return None if self.spec_options is None else set(self.spec_options)

    def __init__(self, conn: Connection, project: Project) -> None:
        self.conn = conn
        self.project = project
        self.notes: list[str] = []  # said to the user after the run ("detected encoding …")

    def check(self) -> None:  # noqa: B027 - optional hook
        """Fail early with a clear error when the input cannot be read at all."""

    def nothing_new(self, state: dict[str, dict[str, Any]]) -> bool:
        """Whether :meth:`batches` from ``state`` would certainly yield no batch and add no
        note: a cheap look at the input (no parser, no store) for a cron run with nothing
        to do. False means "not known": the caller imports as usual, which is always right.
        """
        return False

    def estimate(self) -> int | None:
        """How many items this run will read, when cheap to know (for the progress bar)."""
        return None

    def size_bytes(self) -> int | None:
        """How many bytes this run reads, for a progress bar with a total and a time left
        (None: not known; the bar counts items). Sources that give it also give
        :meth:`bytes_read`."""
        return None

    def bytes_read(self) -> int:
        """How many of :meth:`size_bytes` are read so far."""
        return 0

    @abstractmethod
    def batches(self, state: dict[str, dict[str, Any]], store: Store) -> Iterator[Batch]:
        """Yield batches from ``state`` on; ``store.blobs`` takes attachment bytes."""

    def retry(self, items: list[Item], store: Store) -> Iterator[Retried]:
        """Run quarantined items of this connection again through today's code and mappings."""
        from deskmove.errors import UsageError

        raise UsageError(
            f"items quarantined by the {self.scheme} source cannot be run again one by one",
            f"import {self.conn.name} again, or review them and use "
            "`deskmove quarantine drop ID --why TEXT`",
        )


def retry_mail(
    source: Source, items: list[Item], store: Store, make: Callable[[Item, bytes], RawMail | str]
) -> Iterator[Retried]:
    """Retry quarantined mail: each raw message through the same parser and threading.

    ``make`` turns an item's raw bytes into the RawMail the source would have read, or
    returns the reason the source skips it again (a message marked deleted stays so).
    """
    from deskmove.mail.batcher import MailBatcher
    from deskmove.records import QuarantineRec

    batcher = MailBatcher(source.project, store, source.conn.name)
    mails: list[RawMail] = []
    skipped: list[QuarantineRec] = []
    for item in items:
        raw = store.blobs.get(item.raw_sha256) if item.raw_sha256 else None
        if raw is None:
            skipped.append(QuarantineRec(item.native_ref, item.reason))
            continue
        made = make(item, raw)
        if isinstance(made, str):
            skipped.append(QuarantineRec(item.native_ref, made, raw))
        else:
            mails.append(made)
    batch = batcher.batch(mails, read=len(mails) + len(skipped))
    batch.quarantined.extend(skipped)
    yield [i.id for i in items], batch
