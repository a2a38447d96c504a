"""A SQLite store's write-ahead log checkpointed in a thread of its own while an import writes.

In WAL mode with ``synchronous=NORMAL`` a commit only appends to the log; the disk is
flushed at a *checkpoint*, when the log's pages are copied into the database file and
both files are synced. SQLite runs that checkpoint inside the commit that takes the
log past 1,000 pages, so every second or third batch of a mail import waited for the
disk: 100-160 ms each, on a CPU budget of 30 ms (5,000 mails: 0.54 s of a 2.5 s run
spent waiting in commits, with the parsing workers idle behind it).

Here the importing connection leaves the log to :class:`WalCheckpointer`: after each
batch is committed, a thread on its own connection copies the log into the database
(``PRAGMA wal_checkpoint(PASSIVE)``, which never holds up the writer) while the
importer goes on with the next batch. The copy and the syncs are the same as before,
only no longer in the writer's path. SQLite's own checkpoint stays as a backstop: the
importing connection runs it itself only once the log holds :data:`BACKSTOP_PAGES`.

A pass starts only once the log's file holds :data:`START_PAGES` (where SQLite's
own checkpoint would start), so a small import keeps the database file as small as
before: a checkpoint makes the file as large as the log while the log stays on disk.
The log cannot grow without bound: after a pass, a log still longer than
:data:`LIMIT_PAGES` (a disk slower than the import) is checkpointed in ``RESTART``
mode, which waits for the writer's transaction to end, copies the rest, and makes
the next transaction write the log from its start again, as the writer's own
checkpoint would. Nothing here changes what a commit means: a checkpoint is
SQLite's own operation and a kill at any moment leaves the store as SQLite
guarantees for any checkpoint. A failed checkpoint changes nothing either: the
pages stay in the log, and the next one (the thread's or the writer's) copies them.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

START_PAGES = 1000  # no pass while the log's file is shorter (SQLite's own autocheckpoint)
LIMIT_PAGES = 4000  # a log longer than this after a pass is checkpointed in RESTART mode
BACKSTOP_PAGES = 4 * LIMIT_PAGES  # the importing connection's own wal_autocheckpoint
BUSY_MS = 30_000  # how long a RESTART checkpoint waits for the writer (as the store's busy timeout)


class WalCheckpointer:
    """Checkpoints one SQLite database's log in a background thread, once per :meth:`poke`.

    At most one thread runs; a poke while it runs makes it run one more pass. The
    thread ends when no poke is left, so none lingers after an import."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._poked = False
        self._thread: threading.Thread | None = None
        self.passes = 0  # checkpoints run (for tests)
        self.restarts = 0  # of those, in RESTART mode

    def poke(self) -> None:
        """A batch was committed: checkpoint the log soon, in the background."""
        with self._lock:
            self._poked = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name="deskmove-wal-checkpoint"
                )
                self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Until the thread has run every pass asked for (or ``timeout`` seconds)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(
                self.database, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False
            )
            page = db.execute("PRAGMA page_size").fetchone()[0]
            wal = Path(f"{self.database}-wal")
            while self._next():
                if _size(wal) < START_PAGES * page:
                    continue  # a small log waits, as SQLite's own checkpoint would
                _busy, log, _copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.passes += 1
                if log > LIMIT_PAGES:
                    db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    self.restarts += 1
        except sqlite3.Error:
            pass  # the pages stay in the log; the next checkpoint (ours or SQLite's) copies them
        finally:
            with self._lock:
                if self._thread is threading.current_thread():  # ended by an error
                    self._thread = None
            if db is not None:
                db.close()

    def _next(self) -> bool:
        with self._lock:
            poked, self._poked = self._poked, False
            if not poked:
                self._thread = None  # a poke from now on starts a new thread
            return poked


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
