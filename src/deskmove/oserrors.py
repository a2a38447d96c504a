"""What a failed file-system call means for the user: a full disk, a read-only folder, …

Every path that writes in the project folder (the store, its lock file, the
blobs, an export) turns an ``OSError`` into a :class:`StoreError` through
:func:`explain`, so the message says what was being written and what to do,
never "this is a bug".
"""

from __future__ import annotations

import errno

from deskmove.errors import StoreError

FULL = {errno.ENOSPC, errno.EDQUOT}
READ_ONLY = {errno.EROFS}
DENIED = {errno.EACCES, errno.EPERM}


def explain(exc: OSError, what: str) -> StoreError:
    """``what`` is the action, e.g. "write the lock file deskmove.lock"."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in FULL:
        return StoreError(
            f"the disk is full: cannot {what}{where}",
            "free space on that disk and re-run; nothing was lost",
        )
    if exc.errno in READ_ONLY:
        return StoreError(
            f"cannot {what}{where}: the file system is read-only",
            "deskmove keeps its store, lock and blobs in the project folder: "
            "run it where that folder is writable (or copy the project); `status` still reads it",
        )
    if exc.errno in DENIED:
        return StoreError(
            f"cannot {what}{where}: permission denied",
            "check the owner and permissions of the project folder, or run as its owner",
        )
    return StoreError(f"cannot {what}{where}: {exc.strerror or exc}", "check the disk and re-run")
