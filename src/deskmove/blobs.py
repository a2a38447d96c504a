"""Content-addressed blob files: ``blobs/ab/cdef…`` keyed by sha256, written atomically.

Blobs up to :data:`INLINE_MAX` bytes live inside the store's database (table ``blobs``,
see :mod:`deskmove.store.blobs`); larger ones, and every blob a store wrote before
the table existed, are files in this folder beside the database. A mail-parsing
worker process writes the large ones here on its own, without the database, and
hands the small ones back to the importing process.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from deskmove.errors import StoreError

CHUNK = 1 << 20
# Blobs up to this size go into the database. Measured on SQLite (WAL, 4 KiB pages, 200
# rows per transaction) against one file each, CPU per blob: 8 KiB: 30 vs 60 us to write,
# 8 vs 17 us to read; 256 KiB: ~1 ms either way to write, 87 vs 35 us to read; 1 MiB:
# 4.7 vs 6.2 ms to write but 1.3 ms vs 75 us to read (the overflow-page chain), and
# every such row also passes through the write-ahead log.
INLINE_MAX = 256 << 10
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root = str(self.root)
        self._folders: set[str] = set()  # ab/ folders this process made or found
        self._count = 0

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        return os.path.exists(os.path.join(self._root, sha256[:2], sha256[2:]))

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store bytes, return their sha256 (``sha256``: already computed by the caller);
        a blob already present is not rewritten."""
        sha = sha256 or hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            self._write(sha, [data])
        return sha

    def put_stream(self, stream: BinaryIO, head: bytes = b"") -> tuple[str, int]:
        """Store a stream (after ``head``, read from it already) without holding it in
        memory; return (sha256, size)."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                chunk = head
                while chunk or (chunk := stream.read(CHUNK)):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                    chunk = b""
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self.path(sha)
            if target.exists():
                os.unlink(tmp)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
            return sha, size
        except OSError as exc:
            _cleanup(tmp)
            raise _store_error(exc) from exc

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(
                f"blob {sha256[:12]}… is missing from {self.root}",
                "restore the blobs folder from a backup, or re-import the source",
            ) from exc

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def _write(self, sha: str, chunks: Iterable[bytes]) -> None:
        """Write a blob under a temporary name in its folder, then rename it into place.

        Plain system calls, about half the CPU of ``mkstemp`` + a file object: a mail
        import writes one blob per mail. The temporary name is unique to this process and
        thread (``O_EXCL`` refuses a leftover); owner-only, like ``mkstemp``'s.
        """
        folder = os.path.join(self._root, sha[:2])
        target = os.path.join(folder, sha[2:])
        self._count += 1
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{threading.get_ident()}-{self._count}")
        try:
            if folder not in self._folders:
                os.makedirs(folder, exist_ok=True)
                self._folders.add(folder)
            try:
                fd = os.open(tmp, _CREATE, 0o600)
            except FileNotFoundError:  # the folder was removed since
                os.makedirs(folder, exist_ok=True)
                fd = os.open(tmp, _CREATE, 0o600)
            except FileExistsError:  # left by a killed process whose pid this one has now
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        except OSError as exc:
            raise _store_error(exc) from exc
        try:
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except OSError as exc:
            _cleanup(tmp)
            raise _store_error(exc) from exc


def read_head(stream: BinaryIO) -> bytes:
    """Up to ``INLINE_MAX + 1`` bytes of a stream: all of it when it is a small blob."""
    parts: list[bytes] = []
    left = INLINE_MAX + 1
    while left > 0 and (chunk := stream.read(min(left, CHUNK))):
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class HashSink:
    """A blob sink that keeps nothing: the sha256 and size of what a parse would store
    (``reclassify`` re-parses mail whose blobs the store holds already)."""

    def put(self, data: bytes, sha256: str | None = None) -> str:
        return sha256 or hashlib.sha256(data).hexdigest()

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size


def _cleanup(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _store_error(exc: OSError) -> StoreError:
    if exc.errno == 28:  # ENOSPC
        return StoreError(
            "the disk is full while writing attachments", "free space and re-run; nothing was lost"
        )
    return StoreError(
        f"cannot write to the blob folder: {exc.strerror}",
        "check the folder's permissions and space",
    )
