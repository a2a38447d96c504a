"""``maildir:PATH`` (a Maildir or Maildir++ tree) and ``eml:PATH`` (a folder of .eml files, or one).

Files are read one at a time, oldest first. Sync state keeps the newest
modification time committed and the files seen at exactly that time, so a
re-run reads only files changed since (renames by a mail client keep the
time and the unique name: nothing is read twice). Add ``?full=1`` to read
everything again, e.g. after restoring old files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from deskmove.errors import InputError
from deskmove.records import Batch, QuarantineRec
from deskmove.sources.base import Retried, Source, retry_mail

if TYPE_CHECKING:
    # The parser is loaded only when there are files to read: a cron run on a Maildir
    # with nothing new reads no mail.
    from deskmove.mail.batcher import RawMail
    from deskmove.mail.parallel import Pending
    from deskmove.store import Store
    from deskmove.store.quarantine import Item

BATCH_MAILS = 500  # per batch and transaction, as an mbox (see the README)
BATCH_BYTES = 16 << 20
TRASHED_REASON = "marked as deleted in the Maildir (T flag), kept here instead of imported"


class _FileMailSource(Source):
    spec_options: ClassVar[tuple[str, ...]] = ("full",)
    item_kinds: ClassVar[tuple[str, ...]] = ("message",)
    stream: ClassVar[str] = "files"

    @property
    def root(self) -> Path:
        return Path(self.conn.location)

    def files(self) -> list[tuple[Path, str, str | None]]:
        """(path, native id, folder) for every mail file."""
        raise NotImplementedError

    def estimate(self) -> int | None:
        try:
            return len(self.files())
        except OSError:
            return None

    def _changed(
        self, state: dict[str, dict[str, Any]]
    ) -> tuple[list[tuple[float, str, Path, str | None, int]], float, set[str]]:
        """The files changed since the saved state, oldest first, with their sizes; the
        saved time and names."""
        cursor = state.get(self.stream) or {}
        since, seen = float(cursor.get("mtime") or 0), set(cursor.get("seen") or [])
        if str(self.conn.option("full", "")).lower() in ("1", "true", "yes"):
            since, seen = -1.0, set()
        entries = []
        for path, native, folder in self.files():
            try:
                info = path.stat()
            except OSError:
                continue  # moved away by a mail client meanwhile: found under its new name next time
            mtime = info.st_mtime
            if mtime > since or (mtime == since and native not in seen):
                entries.append((mtime, native, path, folder, info.st_size))
        entries.sort()
        return entries, since, seen

    def nothing_new(self, state: dict[str, dict[str, Any]]) -> bool:
        """No file changed since the saved state: :meth:`batches` yields nothing. A first
        import (no saved state) records its state even for an empty folder."""
        if not state.get(self.stream):
            return False
        try:
            return not self._changed(state)[0]
        except (OSError, ValueError, TypeError):
            return False  # the import says what is wrong

    def batches(self, state: dict[str, dict[str, Any]], store: Store) -> Iterator[Batch]:
        entries, since, seen = self._changed(state)
        if not entries and state.get(self.stream):  # nothing new: no batch, as before
            return
        from deskmove.mail.batcher import MailBatcher
        from deskmove.mail.parallel import parse_batches, worker_count

        batcher = MailBatcher(self.project, store, self.conn.name)
        workers = worker_count(sum(entry[4] for entry in entries))
        pending = self._pending(entries, since, seen, first=not state.get(self.stream))
        yield from parse_batches(batcher, pending, workers=workers)
        for note, n in batcher.notes.most_common(5):
            self.notes.append(f"{n} mail(s): {note}")

    def retry(self, items: list[Item], store: Store) -> Iterator[Retried]:
        """Each raw message again; one the mail client marked deleted stays quarantined."""
        from deskmove.mail.batcher import RawMail

        def make(item: Item, raw: bytes) -> RawMail | str:
            if item.reason == TRASHED_REASON:
                return TRASHED_REASON
            return RawMail(raw, item.native_ref, folder=item.context.get("folder"))

        return retry_mail(self, items, store, make)

    def _pending(
        self,
        entries: list[tuple[float, str, Path, str | None, int]],
        since: float,
        seen: set[str],
        first: bool,
    ) -> Iterator[Pending]:
        """The changed files in batches of raw mails, each with the state after it (the
        newest file time handed on and the names at that time), parsed in worker processes
        as an mbox's are."""
        from deskmove.mail.batcher import RawMail
        from deskmove.mail.parallel import Pending

        mails: list[RawMail] = []
        skipped: list[QuarantineRec] = []
        size, newest = 0, since

        def pending() -> Pending:
            state = {self.stream: {"mtime": max(newest, 0.0), "seen": sorted(seen)}}
            return Pending(mails, state, len(mails) + len(skipped), skipped)

        for mtime, native, path, folder, _size in entries:
            raw, problem = _read(path)
            when = datetime.fromtimestamp(mtime, UTC)
            if problem:
                skipped.append(QuarantineRec(native, problem, raw))
            elif _trashed(path):
                skipped.append(QuarantineRec(native, TRASHED_REASON, raw))
            else:
                mails.append(RawMail(raw, native, fallback_date=when, folder=folder))
            size += len(raw or b"")
            seen = seen | {native} if mtime == newest else {native}
            newest = mtime
            if len(mails) + len(skipped) >= BATCH_MAILS or size >= BATCH_BYTES:
                yield pending()
                mails, skipped, size = [], [], 0
        if mails or skipped or first:
            yield pending()

    def _require_dir(self, what: str, hint: str) -> None:
        if not self.root.exists():
            raise InputError(f"{self.root} does not exist", f"check the path after {self.scheme}:")
        if not os.access(self.root, os.R_OK):
            raise InputError(f"cannot read {self.root}", "check its permissions")
        if not self.root.is_dir():
            raise InputError(f"{self.root} is not {what}", hint)


def _read(path: Path) -> tuple[bytes | None, str | None]:
    try:
        return path.read_bytes(), None
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror}"


def _trashed(path: Path) -> bool:
    _, sep, flags = path.name.rpartition(":2,")
    return bool(sep) and "T" in flags


class MaildirSource(_FileMailSource):
    scheme = "maildir"
    description = "a Maildir or Maildir++ folder tree (cur/ and new/, subfolders as folders)"
    example = "deskmove import maildir:~/Maildir"
    stream = "maildir"

    def check(self) -> None:
        self._require_dir("a Maildir", "use mbox:PATH for an mbox file or eml:PATH for .eml files")
        if not any((self.root / sub).is_dir() for sub in ("cur", "new")) and not self._subfolders():
            raise InputError(
                f"{self.root} is not a Maildir: it has no cur/ or new/ folder",
                "point maildir: at the folder holding cur/ and new/, or use eml:PATH for .eml files",
            )

    def _subfolders(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.startswith("."))

    def files(self) -> list[tuple[Path, str, str | None]]:
        out = []
        for folder_path, folder in [
            (self.root, "INBOX"),
            *((p, p.name[1:]) for p in self._subfolders()),
        ]:
            for sub in ("new", "cur"):
                d = folder_path / sub
                if not d.is_dir():
                    continue
                for entry in os.scandir(d):
                    if entry.is_file() and not entry.name.startswith("."):
                        unique = entry.name.split(":2,")[
                            0
                        ]  # flags change; the unique name does not
                        out.append((Path(entry.path), f"{folder}/{unique}", folder))
        return out


class EmlSource(_FileMailSource):
    scheme = "eml"
    description = (
        "a folder of .eml files (searched recursively; MH numbered files too), or one .eml file"
    )
    example = "deskmove import eml:exported-mails/"
    stream = "eml"

    def check(self) -> None:
        if self.root.is_file():
            return
        self._require_dir("a folder of .eml files", "give a folder, or one .eml file")

    def files(self) -> list[tuple[Path, str, str | None]]:
        if self.root.is_file():
            return [(self.root, self.root.name, None)]
        out = []
        for path in sorted(self.root.rglob("*")):
            mh_number = not path.suffix and path.name.isdigit()  # MH folders: 1, 2, 3 …
            if path.is_file() and (path.suffix.lower() == ".eml" or mh_number):
                rel = path.relative_to(self.root)
                folder = str(rel.parent) if str(rel.parent) != "." else None
                out.append((path, str(rel), folder))
        return out
