"""Blob writes for a batch of mails, overlapped with parsing.

Creating a file per raw mail costs milliseconds on many filesystems; a few
threads write while the next mail is parsed. :meth:`BlobWriter.wait` returns
only when every blob is on disk, so a batch is never committed before its
blobs exist (a crash leaves at most unreferenced blobs, never missing ones).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from deskmove.blobs import BlobStore

THREADS = 4


class BlobWriter:
    """Duck-types the parts of :class:`BlobStore` parsing uses: put, put_stream, path."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[str]] = []
        self._queued: set[str] = set()

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if sha not in self._queued:
            self._queued.add(sha)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="deskmove-blobs")
            self._pending.append(self._pool.submit(self.blobs.put, data, sha))
        return sha

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        return self.blobs.put_stream(stream)

    def path(self, sha256: str):  # noqa: ANN201 - a Path
        return self.blobs.path(sha256)

    def wait(self) -> None:
        """Block until every queued blob is written; re-raise the first failure (disk full)."""
        pending, self._pending = self._pending, []
        self._queued.clear()
        for future in pending:
            future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
