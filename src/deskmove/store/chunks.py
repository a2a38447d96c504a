"""Long id lists cut into pieces for ``IN (...)``: databases cap the parameters of one
statement, and short lists plan better."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

CHUNK = 500  # ids per IN (...) lookup


def chunks(seq: Sequence[Any], n: int = CHUNK) -> Iterator[Sequence[Any]]:
    """``seq`` in slices of at most ``n`` items."""
    for i in range(0, len(seq), n):
        yield seq[i : i + n]
