"""``mbox:PATH``: an mbox file (Gmail Takeout, Thunderbird, mboxo/mboxrd), streamed.

Sync state: the byte offset just past the last committed message,
a hash of its first 64 KiB and of the bytes before the offset. A grown file is
read from the offset on; a rewritten one (compacted by Thunderbird, a new
Takeout) is read again from the start, which provenance makes idempotent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from deskmove.errors import InputError
from deskmove.mail.mboxfile import MboxEntry, fingerprint, hash_before, is_from_line, iter_mbox
from deskmove.records import Batch, QuarantineRec
from deskmove.sources.base import Retried, Source, retry_mail

if TYPE_CHECKING:
    # The parser (deskmove.mail.batcher and what it imports) is loaded only when there is
    # mail to read: a cron run on an mbox that did not grow reads no mail.
    from deskmove.mail.batcher import MailBatcher, RawMail
    from deskmove.mail.parallel import Pending
    from deskmove.store import Store
    from deskmove.store.quarantine import Item

STREAM = "mbox"
BATCH_MAILS = 500  # per batch and transaction, as an IMAP fetch (see the README)
BATCH_BYTES = 16 << 20
_MOZ_STATUS = re.compile(rb"^X-Mozilla-Status:\s*([0-9A-Fa-f]{1,4})", re.MULTILINE | re.IGNORECASE)
_GM_LABELS = re.compile(rb"^X-Gmail-Labels:(.*(?:\r?\n[ \t].*)*)", re.MULTILINE | re.IGNORECASE)
MOZ_DELETED = 0x0008
DELETED_REASON = "deleted in Thunderbird (X-Mozilla-Status), kept here instead of imported"


class MboxSource(Source):
    scheme = "mbox"
    description = "an mbox file: Gmail Takeout, Thunderbird, mboxo/mboxrd (streamed, resumable)"
    example = "deskmove import mbox:~/Takeout/Mail/support.mbox"
    item_kinds: ClassVar[tuple[str, ...]] = ("message",)
    spec_options: ClassVar[tuple[str, ...]] = ()

    @property
    def path(self) -> Path:
        return Path(self.conn.location)

    def check(self) -> None:
        path = self.path
        if not path.exists():
            raise InputError(f"{path} does not exist", "check the path after mbox:")
        if path.is_dir():
            raise InputError(
                f"{path} is a folder, not an mbox file",
                "use maildir:PATH for a Maildir or eml:PATH for a folder of .eml files",
            )
        try:
            with path.open("rb") as fh:
                head = fh.read(4096)
        except OSError as exc:
            raise InputError(
                f"cannot read {path}: {exc.strerror}", "check its permissions"
            ) from exc
        first = head.lstrip(b"\xef\xbb\xbf\r\n").split(b"\n", 1)[0]
        if head and not first.startswith(b"From "):
            raise InputError(
                f"{path} is not an mbox file: it does not start with a 'From ' line",
                "for single messages use eml:PATH; for a Maildir use maildir:PATH",
            )

    def estimate(self) -> int | None:
        return None

    def size_bytes(self) -> int | None:
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    def bytes_read(self) -> int:
        return getattr(self, "_pos", 0)

    def batches(self, state: dict[str, dict[str, Any]], store: Store) -> Iterator[Batch]:
        with self.path.open("rb") as fh:
            cursor = self._resume(fh, state.get(STREAM) or {})
            self._pos = cursor
            pending = self._pending(fh, cursor, first=not state.get(STREAM))
            head = next(pending, None)
            if head is None:  # nothing after the saved offset: no batch, as before
                return
            from deskmove.mail.batcher import MailBatcher
            from deskmove.mail.parallel import parse_batches, worker_count

            batcher = MailBatcher(self.project, store, self.conn.name)
            workers = worker_count(os.fstat(fh.fileno()).st_size - cursor)
            for batch in parse_batches(batcher, chain([head], pending), workers=workers):
                if batch.state:  # progress: what is handed to the store, not what is read ahead
                    self._pos = batch.state[STREAM]["offset"]
                yield batch
        self._note(batcher)

    def nothing_new(self, state: dict[str, dict[str, Any]]) -> bool:
        """The saved offset still ends the same bytes (:meth:`_resume`) and no mail follows
        it: what :meth:`batches` finds before it yields nothing. A first import (no saved
        state) records its state even for an empty file, so it is never "nothing"."""
        saved = state.get(STREAM)
        if not saved:
            return False
        notes = list(self.notes)
        try:
            with self.path.open("rb") as fh:
                cursor = self._resume(fh, saved)
                idle = next(self._entries(fh, cursor), None) is None
        except (OSError, ValueError, TypeError):
            return False  # the import says what is wrong
        finally:
            rewritten = self.notes != notes
            self.notes[:] = notes  # the import that follows says it again
        return idle and not rewritten

    def _entries(self, fh: BinaryIO, cursor: int) -> Iterator[MboxEntry]:
        """The mails after ``cursor``."""
        return iter_mbox(fh, cursor, strict=self._strict(fh))

    def _pending(self, fh: BinaryIO, cursor: int, first: bool) -> Iterator[Pending]:
        """The file from ``cursor`` on, in batches of raw mails with the offset after each."""
        entries = self._entries(fh, cursor)
        peek = next(entries, None)
        if peek is None:  # no mail after the cursor
            if first:
                yield self._batch([], [], cursor, fh)
            return
        from deskmove.mail.batcher import RawMail

        mails: list[RawMail] = []
        skipped: list[QuarantineRec] = []
        size, end, saved = 0, cursor, cursor
        folder = self.path.stem
        for entry in chain([peek], entries):
            end = entry.end
            raw = RawMail(
                entry.raw,
                f"offset:{entry.start}",
                fallback_date=entry.date,
                folder=folder,
                labels=_labels(entry.raw),
            )
            if _deleted(entry.raw):
                skipped.append(QuarantineRec(raw.native_id, DELETED_REASON, entry.raw))
            else:
                mails.append(raw)
            size += len(entry.raw)
            if len(mails) + len(skipped) >= BATCH_MAILS or size >= BATCH_BYTES:
                yield self._batch(mails, skipped, end, fh)
                mails, skipped, size, saved = [], [], 0, end
        if mails or skipped or end != saved or first:
            yield self._batch(mails, skipped, end, fh)

    def retry(self, items: list[Item], store: Store) -> Iterator[Retried]:
        """Each raw message again, as the mbox reader would hand it over."""
        from deskmove.mail.batcher import RawMail

        def make(item: Item, raw: bytes) -> RawMail | str:
            if _deleted(raw):
                return DELETED_REASON
            return RawMail(raw, item.native_ref, folder=self.path.stem, labels=_labels(raw))

        return retry_mail(self, items, store, make)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _batch(
        mails: list[RawMail], skipped: list[QuarantineRec], end: int, fh: BinaryIO
    ) -> Pending:
        from deskmove.mail.parallel import Pending

        pos = fh.tell()
        cursor = {"offset": end, "head": fingerprint(fh, end), "before": hash_before(fh, end)}
        fh.seek(pos)
        return Pending(mails, {STREAM: cursor}, len(mails) + len(skipped), skipped)

    def _resume(self, fh: BinaryIO, cursor: dict[str, Any]) -> int:
        """Where to start: the saved offset when the file only grew, else 0."""
        offset = int(cursor.get("offset") or 0)
        if not offset:
            return 0
        size = self.path.stat().st_size
        same = (
            size >= offset
            and cursor.get("head") == fingerprint(fh, offset)
            and cursor.get("before") == hash_before(fh, offset)
        )
        if same:
            if size > offset:
                fh.seek(offset)
                if not is_from_line(fh.readline()):
                    same = False
        if not same:
            self.notes.append(
                f"{self.path.name} was rewritten since the last import; read again from the start "
                "(messages already imported are recognised and left unchanged)"
            )
            return 0
        return offset

    @staticmethod
    def _strict(fh: BinaryIO) -> bool:
        fh.seek(0)
        first = fh.readline()
        return is_from_line(first) or not first.startswith(b"From ")

    def _note(self, batcher: MailBatcher) -> None:
        for note, n in batcher.notes.most_common(5):
            self.notes.append(f"{n} mail(s): {note}")


def _header_block(raw: bytes) -> bytes:
    cut = raw.find(b"\n\n")
    # a CRLF blank line can only come first if it starts before the LF one: look only there
    # (not through the whole body of every LF mail)
    cut2 = raw.find(b"\r\n\r\n", 0, len(raw) if cut == -1 else cut + 2)
    if cut2 != -1 and (cut == -1 or cut2 < cut):
        cut = cut2
    return raw[:cut] if cut != -1 else raw[:65536]


def _deleted(raw: bytes) -> bool:
    m = _MOZ_STATUS.search(_header_block(raw))
    return bool(m) and int(m.group(1), 16) & MOZ_DELETED != 0


def _labels(raw: bytes) -> list[str]:
    m = _GM_LABELS.search(_header_block(raw))
    if not m:
        return []
    from deskmove.mail.charsets import decode_header_value

    value = decode_header_value(m.group(1).decode("utf-8", "surrogateescape"))
    return [label.strip() for label in value.split(",") if label.strip()]
