"""A scratch spool on disk: records kept under a text key until their parent comes by.

A source that reads children before their parents (a helpdesk's bulk message
export before the tickets, a CSV file of messages in another order than its
tickets) parks them here and takes them back per parent, with flat memory
however large the input. It is a private SQLite file in a temporary folder,
without journal or fsync: it lives for one run, and a crash loses only what the
re-run reads again. Records are any picklable values; they come back in the
order they were added.
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

_CHUNK = 500  # keys per statement (SQLite's bound-parameter limit is 999 on old builds)


class KeyedSpool:
    """Values under text keys, in a temporary file; :meth:`close` removes it."""

    def __init__(self, prefix: str = "deskmove-spool-", folder: Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix=prefix, dir=folder)
        # autocommit: each add() is one short transaction, never one that grows in memory
        self._db = sqlite3.connect(Path(self._dir.name) / "spool.db", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE spool (seq INTEGER PRIMARY KEY, key TEXT, data BLOB)")
        self._indexed = False  # the key index is built at the first read: a bulk load is faster

    def add(self, items: Iterable[tuple[str, Any]]) -> None:
        """Keep each ``(key, value)``."""
        rows = [(key, pickle.dumps(value, pickle.HIGHEST_PROTOCOL)) for key, value in items]
        if not rows:
            return
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO spool (key, data) VALUES (?, ?)", rows)
        self._db.execute("COMMIT")

    def take(self, keys: Iterable[str]) -> dict[str, list[Any]]:
        """Key -> its values, for those of ``keys`` that have any; they leave the spool."""
        self._index()
        wanted = sorted(set(keys))
        out: dict[str, list[Any]] = {}
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i : i + _CHUNK]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key, data FROM spool WHERE key IN ({marks}) ORDER BY seq",  # noqa: S608
                part,
            )
            found = False
            for key, data in rows:
                out.setdefault(key, []).append(_load(data))
                found = True
            if found:
                self._db.execute(f"DELETE FROM spool WHERE key IN ({marks})", part)  # noqa: S608
        return out

    def pop(self, key: str) -> list[Any]:
        """The values under ``key`` (none: an empty list); they leave the spool."""
        return self.take([key]).get(key, [])

    def keys(self) -> list[str]:
        """The keys that still hold values, sorted."""
        self._index()
        return [k for (k,) in self._db.execute("SELECT DISTINCT key FROM spool ORDER BY key")]

    def remaining(self) -> Iterator[tuple[str, Any]]:
        """Every ``(key, value)`` still kept, in the order added (they stay)."""
        for key, data in self._db.execute("SELECT key, data FROM spool ORDER BY seq"):
            yield key, _load(data)

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def __enter__(self) -> KeyedSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _index(self) -> None:
        if not self._indexed:
            self._db.execute("CREATE INDEX spool_key ON spool (key)")
            self._indexed = True


def _load(data: bytes) -> Any:
    return pickle.loads(data)  # noqa: S301 - this process's own temporary file
