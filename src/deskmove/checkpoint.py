"""Crash checkpoints: the commit points where a test may kill deskmove with SIGKILL.

``DESKMOVE_CRASH_AT=push:7`` makes the process kill itself (SIGKILL, no cleanup,
exactly like ``kill -9`` or a power cut) when it reaches the 7th checkpoint named
``push``. ``DESKMOVE_CRASH_LOG=FILE`` appends every checkpoint reached to FILE,
so a test can count the points of a clean run and then kill at each one.

Checkpoints sit where a crash hurts most: just before and just after a batch
commit in the import, and around every id-map write of a push (after the target
call, before its id-map write). Without the variables set, a checkpoint is a
dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_counts: Counter[str] = Counter()


def checkpoint(name: str, detail: str = "") -> None:
    """Count a commit point; die here if ``DESKMOVE_CRASH_AT`` names it."""
    crash_at = os.environ.get("DESKMOVE_CRASH_AT")
    log = os.environ.get("DESKMOVE_CRASH_LOG")
    if not crash_at and not log:
        return
    _counts[name] += 1
    n = _counts[name]
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{name}:{n} {detail}\n")
    if crash_at == f"{name}:{n}":
        os.kill(os.getpid(), signal.SIGKILL)
