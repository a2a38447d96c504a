"""The store's blobs: small ones in the ``blobs`` table, large ones files in the blob folder.

Content-addressed by sha256 either way. A blob up to :data:`deskmove.blobs.INLINE_MAX`
bytes is a row, inserted with ``ON CONFLICT DO NOTHING``, best in the transaction of
the rows that name it (:func:`insert`: a mail import's batch, a quarantined item), so
a crash never leaves a row naming a blob that is missing. Larger ones are files
(:class:`deskmove.blobs.BlobStore`), written before that transaction commits. Every
reader looks in the table first, then in the folder, where stores written before the
table existed keep their blobs: nothing is moved.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from deskmove.blobs import CHUNK, INLINE_MAX, BlobStore, read_head
from deskmove.errors import StoreError
from deskmove.model import Blob

__all__ = ["CHUNK", "INLINE_MAX", "BlobStore", "StoreBlobs", "insert"]

BLOBS = Blob.__table__
_SQLITE_INSERT = "INSERT INTO blobs (sha256, data) VALUES (?, ?) ON CONFLICT DO NOTHING"


def insert(conn: sa.Connection, blobs: dict[str, bytes] | Iterable[tuple[str, bytes]]) -> None:
    """Insert small blobs (sha256 -> bytes) in the caller's transaction; present ones stay."""
    rows = list(blobs.items() if isinstance(blobs, dict) else blobs)
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_SQLITE_INSERT, rows)
        return
    from sqlalchemy.dialects import postgresql  # a SQLite store's commands never load it

    conn.execute(
        postgresql.insert(BLOBS).on_conflict_do_nothing(index_elements=["sha256"]),
        [{"sha256": sha, "data": data} for sha, data in rows],
    )


class StoreBlobs:
    """``Store.blobs``: put, put_stream, get, open, exists, size over both kinds of blob."""

    def __init__(self, begin: Callable[[], AbstractContextManager[sa.Connection]], root: Path):
        self._begin = begin  # Store.begin: one transaction, database errors mapped
        self.files = BlobStore(root)
        self.root = self.files.root

    # -- writing --------------------------------------------------------------------------
    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store bytes in a transaction of their own; return their sha256."""
        sha = sha256 or hashlib.sha256(data).hexdigest()
        if len(data) > INLINE_MAX:
            return self.files.put(data, sha)
        with self._begin() as conn:
            insert(conn, [(sha, bytes(data))])
        return sha

    def add(self, conn: sa.Connection, data: bytes) -> str:
        """Store bytes within the caller's transaction ``conn`` (large ones: a file now)."""
        sha = hashlib.sha256(data).hexdigest()
        if len(data) > INLINE_MAX:
            return self.files.put(data, sha)
        insert(conn, [(sha, bytes(data))])
        return sha

    def stage(self, data: bytes, into: dict[str, bytes]) -> str:
        """Keep a small blob in ``into`` (a batch's ``blobs``, inserted in the transaction that
        writes the rows naming it); a large one is a file at once. Returns its sha256. For
        readers in another thread than the writer: no transaction of their own competes with
        the batch's (on SQLite one that commits meanwhile makes a reading writer fail)."""
        sha = hashlib.sha256(data).hexdigest()
        if len(data) > INLINE_MAX:
            return self.files.put(data, sha)
        into[sha] = bytes(data)
        return sha

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store a stream, never holding more than a small blob in memory; (sha256, size)."""
        head = read_head(stream)
        if len(head) <= INLINE_MAX:
            return self.put(head), len(head)
        return self.files.put_stream(stream, head)

    # -- reading --------------------------------------------------------------------------
    def _row(self, sha256: str) -> bytes | None:
        with self._begin() as conn:
            data = conn.execute(
                sa.select(BLOBS.c.data).where(BLOBS.c.sha256 == sha256)
            ).scalar_one_or_none()
        return None if data is None else bytes(data)

    def get(self, sha256: str) -> bytes:
        data = self._row(sha256)
        if data is not None:
            return data
        try:
            return self.files.path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(
                f"blob {sha256[:12]}… is missing from the store and from {self.root}",
                "restore the database and the blobs folder from a backup, or re-import the source",
            ) from exc

    def open(self, sha256: str) -> BinaryIO:
        """The blob to read (a file is streamed, not read into memory); FileNotFoundError
        when it is in neither place."""
        data = self._row(sha256)
        if data is not None:
            return io.BytesIO(data)
        return self.files.path(sha256).open("rb")

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def size(self, sha256: str) -> int | None:
        """The blob's size in bytes, None when it is in neither place."""
        with self._begin() as conn:
            n = conn.execute(
                sa.select(sa.func.length(BLOBS.c.data)).where(BLOBS.c.sha256 == sha256)
            ).scalar_one_or_none()
        if n is not None:
            return int(n)
        try:
            return self.files.path(sha256).stat().st_size
        except FileNotFoundError:
            return None
