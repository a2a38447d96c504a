"""The run-wide deadline (``deskmove --deadline SECONDS``): how long a whole run may wait.

Set once by the CLI; every network wait checks it (the REST client bounds each
socket read and each pause between retries by what is left), and a run that
passes it stops with :class:`~deskmove.errors.DeadlineExceeded` instead of
waiting on. Batches committed before that stay committed, so the next run
resumes where this one stopped.
"""

from __future__ import annotations

import time

from deskmove.errors import DeadlineExceeded

_ends_at: float | None = None
_seconds: float | None = None


def start(seconds: float | None) -> None:
    """Give the run ``seconds`` from now (None: no run-wide deadline)."""
    global _ends_at, _seconds
    _seconds = seconds
    _ends_at = None if seconds is None else time.monotonic() + seconds


def remaining() -> float | None:
    """Seconds left before the run's deadline, or None without one."""
    return None if _ends_at is None else _ends_at - time.monotonic()


def expired() -> bool:
    left = remaining()
    return left is not None and left <= 0


def exceeded(waiting_for: str) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"the run's deadline (--deadline {_seconds:g} s) passed while {waiting_for}",
        "what was committed stays; run again later, or with a longer --deadline, "
        "and deskmove resumes where it stopped",
    )
