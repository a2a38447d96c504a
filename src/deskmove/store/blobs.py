"""The store's blob folder (:mod:`deskmove.blobs`: plain files, no database, so a mail-parsing
worker process writes blobs without loading the store)."""

from __future__ import annotations

from deskmove.blobs import CHUNK, BlobStore

__all__ = ["CHUNK", "BlobStore"]
