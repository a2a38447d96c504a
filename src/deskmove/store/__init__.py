"""The canonical store: engine, schema upgrades, runs, sync state, id map, blobs.

``Store`` and its companions live in :mod:`deskmove.store.core` and load on first
use, so a module of this package that needs only the stdlib (:mod:`.quick`, what
`deskmove status` and an idle `deskmove sync` read) does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deskmove.store.core import (
        BlobStore,
        IngestCounts,
        Ingestor,
        Store,
        TicketScope,
        Transaction,
        content_hash,
    )

__all__ = [
    "Store",
    "BlobStore",
    "IngestCounts",
    "Ingestor",
    "TicketScope",
    "Transaction",
    "content_hash",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from deskmove.store import core

        return getattr(core, name)
    raise AttributeError(f"module 'deskmove.store' has no attribute {name!r}")
