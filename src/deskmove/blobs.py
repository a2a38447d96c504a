"""Content-addressed blob folder: ``blobs/ab/cdef…`` keyed by sha256, written atomically.

The store keeps one beside its database (``Store.blobs``); a mail-parsing worker
process opens the same folder on its own, without the database.
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

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store a stream without holding it in memory; return (sha256, size)."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
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
