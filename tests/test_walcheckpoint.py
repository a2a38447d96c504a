"""The SQLite log is checkpointed beside the import, not in its commits (store/walcheckpoint.py)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from deskmove.store import Store
from deskmove.store import walcheckpoint as wal
from deskmove.store.engine import PAGE_BYTES
from deskmove.store.walcheckpoint import BACKSTOP_PAGES, WalCheckpointer

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def batch(start: int, n: int = 40, text_kb: int = 40) -> Batch:
    """``n`` tickets of one message each, every body ``text_kb`` KB: a few hundred log pages."""
    tickets = [
        TicketRec(
            native_id=f"t{i}",
            subject=f"Objednávka č. {i}",
            requester=PersonRef(email=f"zakaznik{i}@example.cz"),
            created_at=T0 + timedelta(minutes=i),
            messages=[
                MessageRec(
                    native_id=f"t{i}/m",
                    created_at=T0 + timedelta(minutes=i),
                    author=PersonRef(email=f"zakaznik{i}@example.cz"),
                    body_text=f"zpráva {i} " + "žluťoučký kůň úpěl ďábelské ódy " * (text_kb * 32),
                )
            ],
        )
        for i in range(start, start + n)
    ]
    return Batch(tickets=tickets, read=n)


def log_pages(path) -> tuple[int, int]:
    """(pages in the log, of them in the database file) — a passive checkpoint that copies
    nothing new when the thread has already copied everything."""
    with sqlite3.connect(path) as con:
        _busy, log, copied = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return log, copied


def autocheckpoint(conn) -> int:
    return conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()


@pytest.fixture
def store(tmp_path):
    """A SQLite store in ``tmp_path / "deskmove.db"``, closed after the test."""
    opened = Store.open(f"sqlite:///{tmp_path / 'deskmove.db'}", tmp_path / "blobs")
    yield opened
    opened.close()


def test_batches_reach_the_database_file_without_a_checkpoint_in_the_commit(
    store, tmp_path, monkeypatch
):
    monkeypatch.setattr(wal, "START_PAGES", 10)
    path = tmp_path / "deskmove.db"
    checkpoints = store.wal()
    assert checkpoints is not None and checkpoints.database == path
    ing = store.ingestor("csv:test", None)
    assert ing.checkpoints is checkpoints
    for k in range(3):
        done = ing.ingest(batch(k * 40))
        assert done.new["ticket"] == 40
    checkpoints.wait(timeout=30)
    assert checkpoints.passes >= 1
    log, copied = log_pages(path)
    assert log > 0 and copied == log  # every committed page is in the database file
    # the importing connection leaves the log to the thread, up to the backstop
    with store.write() as conn:
        assert autocheckpoint(conn) == BACKSTOP_PAGES
    assert not [t for t in threading.enumerate() if t.name == "deskmove-wal-checkpoint"]
    with sqlite3.connect(path) as con:  # and it all reads back from the file
        assert con.execute("SELECT count(*) FROM messages").fetchone()[0] == 120


def test_a_log_longer_than_the_limit_is_checkpointed_in_restart_mode(store, tmp_path, monkeypatch):
    monkeypatch.setattr(wal, "START_PAGES", 10)
    monkeypatch.setattr(wal, "LIMIT_PAGES", 10)
    path = tmp_path / "deskmove.db"
    ing = store.ingestor("csv:test", None)
    ing.ingest(batch(0))
    store.wal().wait(timeout=30)
    assert store.wal().restarts >= 1
    big, _copied = log_pages(path)
    # after a RESTART checkpoint the next commit writes the log from its start: it
    # holds that one small commit, not every page written so far
    ing.ingest(Batch(tickets=[batch(100, n=1, text_kb=1).tickets[0]], read=1))
    store.wal().wait(timeout=30)
    small, _copied = log_pages(path)
    assert 0 < small < big / 4, (small, big)


def test_a_small_log_is_left_for_later_as_sqlite_would_leave_it(store, tmp_path):
    store.ingestor("csv:test", None).ingest(batch(0, n=3, text_kb=1))
    store.wal().wait(timeout=30)
    assert store.wal().passes == 0
    assert (tmp_path / "deskmove.db-wal").stat().st_size < wal.START_PAGES * PAGE_BYTES


def test_a_checkpoint_that_fails_leaves_the_import_and_the_store_as_they_were(store, tmp_path):
    path = tmp_path / "deskmove.db"
    broken = WalCheckpointer(tmp_path / "no-such-folder" / "x.db")  # cannot even open
    broken.poke()
    broken.wait(timeout=30)
    assert broken.passes == 0 and broken._thread is None
    broken.poke()  # and a later poke starts again
    broken.wait(timeout=30)
    ing = store.ingestor("csv:test", None)
    ing.checkpoints = broken
    assert ing.ingest(batch(0, n=5)).new["ticket"] == 5
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM tickets").fetchone()[0] == 5


def test_pokes_while_a_pass_runs_make_one_more_pass_and_no_second_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(wal, "START_PAGES", 0)
    path = tmp_path / "deskmove.db"
    Store.open(f"sqlite:///{path}", tmp_path / "blobs").close()
    checkpoints = WalCheckpointer(path)
    started, release = threading.Event(), threading.Event()
    real_next = checkpoints._next
    threads: set[int] = set()

    def slow_next() -> bool:
        threads.add(threading.get_ident())
        more = real_next()
        if more and checkpoints.passes == 0:
            started.set()
            release.wait(10)
        return more

    checkpoints._next = slow_next  # type: ignore[method-assign]
    checkpoints.poke()
    assert started.wait(10)
    for _ in range(5):  # the thread is busy: these ask for one more pass between them
        checkpoints.poke()
    release.set()
    checkpoints.wait(timeout=30)
    assert checkpoints.passes == 2 and len(threads) == 1


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///file:x.db?mode=ro&uri=true"])
def test_no_checkpointer_without_a_plain_sqlite_file(tmp_path, url):
    store = Store(url, tmp_path / "blobs")
    try:
        assert store.wal() is None
    finally:
        store.close()
