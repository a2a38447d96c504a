"""Joining a child CSV file (messages, attachments) to its parent (tickets, messages)
without holding either in memory.

When the child rows come grouped by parent and in the parent file's order (what
``deskmove export csv`` writes), one forward pass over both files suffices
(:class:`MergedChildren`). Otherwise the child rows are parked in the store's
scratch spool by parent key (:class:`SpilledChildren`): slower, still flat in
memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import groupby
from typing import TYPE_CHECKING

from deskmove.sources.csvrows import Row

if TYPE_CHECKING:
    from deskmove.store.spool import KeyedSpool

KeyFn = Callable[[Row], str | None]


def follows(parent_keys: Iterator[str], child_keys: Iterable[str]) -> bool:
    """True when child keys come in contiguous groups, in the parents' order, each with a parent."""
    for key, _rows in groupby(child_keys):  # a group's rows are skipped at C speed
        for parent in parent_keys:
            if parent == key:
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
    """Child rows parked in a scratch spool by parent key (any order, flat memory)."""

    def __init__(self, rows: Iterable[Row], key: KeyFn, spool: KeyedSpool) -> None:
        super().__init__()
        self._spool = spool
        try:
            self._fill(rows, key)
        except BaseException:
            spool.close()
            raise

    def _fill(self, rows: Iterable[Row], key: KeyFn) -> None:
        batch: list[tuple[str, tuple[int, list[str], bytes, str | None]]] = []
        for row in rows:
            k = key(row)
            if k is None:
                self.bad.append(row)
                continue
            batch.append((k, (row.line, row.values, row.raw, row.error)))
            if len(batch) >= 5000:
                self._spool.add(batch)
                batch.clear()
        self._spool.add(batch)

    def take(self, keys: list[str]) -> dict[str, list[Row]]:
        return {k: [Row(*v) for v in vs] for k, vs in self._spool.take(keys).items()}

    def leftovers(self) -> Iterator[Row]:
        for _key, v in self._spool.remaining():
            yield Row(*v)

    def close(self) -> None:
        self._spool.close()
