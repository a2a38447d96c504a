"""Big, short-lived buffers given back to the system, so a long import's memory stays flat.

A mail import allocates and frees, batch after batch, buffers of tens of KiB to
megabytes: the raw mails, the batches pickled to the parsing workers and their
answers, bodies, query results. glibc's malloc serves a request above its mmap
threshold with a mapping of its own, unmapped when freed; but the threshold starts
at 128 KiB and rises to the size of each such block freed (up to 32 MiB), so after
the first large mail every later one is carved out of the heap, among long-lived
small allocations that keep the freed space from ever being returned. The heap then
grows with the input: measured on an IMAP import, 93 MB of free heap after 4,000
mails. :func:`steady_heap` fixes the threshold at 128 KiB, which also stops it rising.

Only on glibc (Linux); elsewhere, and when the C library cannot be reached, nothing.
"""

from __future__ import annotations

import sys

MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept from rising
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
_done = False


def steady_heap() -> bool:
    """Fix malloc's mmap threshold for this process (once); whether it was set."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return _done
