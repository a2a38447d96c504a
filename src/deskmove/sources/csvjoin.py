"""Joining a child CSV file (messages, attachments) to its parent (tickets, messages)
without holding either in memory.

When the child rows come grouped by parent and in the parent file's order (what
``deskmove export csv`` writes), one forward pass over both files suffices
(:class:`MergedChildren`). Otherwise the child rows are spilled into a temporary
SQLite file indexed by parent key (:class:`SpilledChildren`): slower, still flat
in memory.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from deskmove.sources.csvrows import Row

KeyFn = Callable[[Row], str | None]


def follows(parent_keys: Iterator[str], child_keys: Iterable[str]) -> bool:
    """True when child keys come in contiguous groups, in the parents' order, each with a parent."""
    current = None
    for key in child_keys:
        if key == current:
            continue
        for parent in parent_keys:
            if parent == key:
                current = key
                break
        else:
            return False
    return True


class Children:
    """Child rows per parent key; rows without a usable key go to ``bad``."""

    def __init__(self) -> None:
        self.bad: list[Row] = []

    def take(self, keys: list[str]) -> dict[str, list[Row]]:
        raise NotImplementedError

    def leftovers(self) -> Iterator[Row]:
        """Rows whose parent never came (orphans), at the end."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class MergedChildren(Children):
    def __init__(self, rows: Iterator[Row], key: KeyFn) -> None:
        super().__init__()
        self._rows = rows
        self._key = key
        self._next: tuple[str, Row] | None = None
        self._advance()

    def _advance(self) -> None:
        for row in self._rows:
            k = self._key(row)
            if k is None:
                self.bad.append(row)
                continue
            self._next = (k, row)
            return
        self._next = None

    def take(self, keys: list[str]) -> dict[str, list[Row]]:
        wanted = set(keys)
        out: dict[str, list[Row]] = {}
        while self._next is not None and self._next[0] in wanted:
            k, row = self._next
            out.setdefault(k, []).append(row)
            self._advance()
        return out

    def leftovers(self) -> Iterator[Row]:
        while self._next is not None:
            yield self._next[1]
            self._advance()


class SpilledChildren(Children):
    def __init__(self, rows: Iterable[Row], key: KeyFn, tmp_dir: Path | None = None) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory(prefix="deskmove-join-", dir=tmp_dir)
        self._db = sqlite3.connect(Path(self._tmp.name) / "join.db")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE c (seq INTEGER PRIMARY KEY, k TEXT, line INTEGER, raw BLOB, v TEXT, e TEXT)"
        )
        batch: list[tuple[str, int, bytes, str, str | None]] = []
        for row in rows:
            k = key(row)
            if k is None:
                self.bad.append(row)
                continue
            batch.append(
                (k, row.line, row.raw, json.dumps(row.values, ensure_ascii=False), row.error)
            )
            if len(batch) >= 5000:
                self._insert(batch)
        self._insert(batch)
        self._db.execute("CREATE INDEX c_k ON c (k)")
        self._db.commit()

    def _insert(self, batch: list[tuple[str, int, bytes, str, str | None]]) -> None:
        self._db.executemany("INSERT INTO c (k, line, raw, v, e) VALUES (?, ?, ?, ?, ?)", batch)
        batch.clear()

    def take(self, keys: list[str]) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        uniq = sorted(set(keys))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            marks = ",".join("?" * len(part))
            for k, line, raw, v, e in self._db.execute(
                f"SELECT k, line, raw, v, e FROM c WHERE k IN ({marks}) ORDER BY seq", part
            ):
                out.setdefault(k, []).append(Row(line, json.loads(v), raw, e))
            self._db.execute(f"DELETE FROM c WHERE k IN ({marks})", part)
        return out

    def leftovers(self) -> Iterator[Row]:
        for line, raw, v, e in self._db.execute("SELECT line, raw, v, e FROM c ORDER BY seq"):
            yield Row(line, json.loads(v), raw, e)

    def close(self) -> None:
        self._db.close()
        self._tmp.cleanup()
