"""What a run is waiting for, told to the person watching: a stderr line and the progress bar.

The library calls :func:`say` (a line worth reading once, such as the first
retry of a request) and :func:`waiting` (what the progress bar should show
right now, or None when the wait is over). The CLI decides whether anyone is
listening (:func:`enable`); by default both only go to the ``deskmove`` log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("deskmove")
_enabled = False
_bars: list[Any] = []  # the tqdm bars on screen, innermost last


def enable(on: bool) -> None:
    global _enabled
    _enabled = on


@contextmanager
def showing(bar: Any) -> Iterator[None]:
    """Let :func:`waiting` write on this progress bar while the block runs."""
    _bars.append(bar)
    try:
        yield
    finally:
        _bars.remove(bar)


def say(line: str) -> None:
    log.info(line)
    if not _enabled:
        return
    if _bars and not getattr(_bars[-1], "disable", True):
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def waiting(text: str | None) -> None:
    """Show ``text`` on the progress bar (a terminal only); None clears it."""
    for bar in _bars[-1:]:
        if not getattr(bar, "disable", True):
            bar.set_postfix_str(text or "", refresh=True)
