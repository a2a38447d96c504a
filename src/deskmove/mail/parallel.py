"""Mail parsing on every core: worker processes parse, the importing process writes.

A mail source reads its input in batches (:class:`Pending`: raw mails plus the
state that follows them) and hands them to :func:`parse_batches`. The batches'
mails go to worker processes in tasks of :data:`TASK_MAILS`; the importing
process turns each batch's results, in input order, into a :class:`Batch`
(threading, people, records) and the store writes it while the workers parse
the next ones. At most :data:`AHEAD` batches, and beyond the first of them
:data:`AHEAD_BYTES` of raw mail, are read ahead of the one being written, and a
task is sent to its worker only when that worker takes it (one copy of each
mail waits, not two), so memory stays flat however large the input and however
its large mails bunch together.

Crash safety is the same as parsing in one process: a worker writes a mail's
large blobs as files before it answers and hands its small attachments back
with the results; it never writes a small raw mail (it returns the sha256; the
importing process read those bytes and adds them to the batch), and the batch's
small blobs are inserted in the transaction of its messages. A batch (with the
state after its last mail) is handed on only when all its mails are answered,
so the state never advances past mail that is not committed. Workers die with
the importing process.

``DESKMOVE_WORKERS=N`` sets the number of worker processes (``1``: parse in
the importing process); the default is one per core this process may use.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import deskmove
from deskmove.errors import StoreError
from deskmove.mail.batcher import MailBatcher, RawMail
from deskmove.mail.blobwriter import raw_blobs
from deskmove.mail.parseworker import Failure, send_task
from deskmove.records import Batch, QuarantineRec

if TYPE_CHECKING:
    from deskmove.mail.parse import ParsedMail

WORKERS_ENV = "DESKMOVE_WORKERS"
TASK_MAILS = 40  # mails per task sent to a worker
TASK_BYTES = 4 << 20  # …or fewer, when they are large (a task is parsed whole)
KEPT_BUFFER = 2 * TASK_BYTES  # a feed thread's answer buffer larger than this is let go
AHEAD = 2  # batches read and parsed ahead of the one being written
AHEAD_BYTES = 24 << 20  # …and of raw mail in them, beyond the first (a run of large mails)
MIN_PARALLEL_BYTES = 4 << 20  # less input than this is parsed faster without starting workers


@dataclass(slots=True)
class Pending:
    """A batch as read: its raw mails, the state after them, what else it accounts for."""

    mails: list[RawMail]
    state: dict[str, dict[str, Any]] | None = None
    read: int | None = None
    quarantined: list[QuarantineRec] = field(default_factory=list)


def worker_count(input_bytes: int | None = None) -> int:
    """How many worker processes to parse with (1: none, parse in this process)."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            from deskmove.errors import ConfigError

            raise ConfigError(
                f"{WORKERS_ENV}={value} is not a number", f"e.g. {WORKERS_ENV}=2, or 1 for none"
            ) from None
    if input_bytes is not None and input_bytes < MIN_PARALLEL_BYTES:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores


def parse_batches(
    batcher: MailBatcher, pending: Iterable[Pending], *, workers: int, ahead: int = AHEAD
) -> Iterator[Batch]:
    """The batches of ``pending`` parsed (in ``workers`` processes when more than 1), in order;
    ``ahead`` batches are read and parsed ahead of the one being written (a source that reads
    ahead itself, such as IMAP's fetch thread, counts its own batch in)."""
    if workers <= 1:
        for p in pending:
            yield _finish(batcher.batch(p.mails, state=p.state, read=p.read), p)
        return
    pool = WorkerPool(workers, batcher.store.blobs.root)
    window = _Window(max(1, ahead))
    try:
        try:
            for p in pending:
                window.add(p, pool.submit_all(p.mails, batcher.now))
                while window.full():
                    yield _resolve(batcher, *window.pop())
        except Exception:
            while window:  # what was read before the input failed is still imported
                yield _resolve(batcher, *window.pop())
            raise
        while window:
            yield _resolve(batcher, *window.pop())
    finally:
        pool.close()


class _Window:
    """The batches read ahead, oldest first, and the bytes of raw mail they hold.

    Bounded by count and by bytes: a count alone let a stretch of large mails (three
    batches of 20 MB, say) hold three times a batch's bytes at once, so the peak grew
    with the chance of such a stretch, i.e. with the input's length."""

    def __init__(self, ahead: int = AHEAD) -> None:
        self._ahead = ahead
        self._items: deque[tuple[Pending, list[Future[Any]], int]] = deque()
        self._bytes = 0

    def add(self, p: Pending, futures: list[Future[Any]]) -> None:
        size = sum(len(m.raw) for m in p.mails)
        self._items.append((p, futures, size))
        self._bytes += size

    def full(self) -> bool:
        n = len(self._items)
        return n > self._ahead or (n > 1 and self._bytes > AHEAD_BYTES)

    def pop(self) -> tuple[Pending, list[Future[Any]]]:
        p, futures, size = self._items.popleft()
        self._bytes -= size
        return p, futures

    def __bool__(self) -> bool:
        return bool(self._items)


class WorkerPool:
    """``python -m deskmove.mail.parseworker`` processes, each fed by a thread of this one.

    Plain child processes rather than :mod:`multiprocessing`: they never re-import the
    caller's ``__main__`` (a script, the CLI) and are never forks of a process that holds
    threads. A worker exits when its stdin closes, also when this process is killed.
    """

    def __init__(self, workers: int, blob_root: Path) -> None:
        package_root = str(Path(deskmove.__file__).resolve().parents[1])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._closing = False
        self._threads: list[threading.Thread] = []
        for _ in range(workers):
            proc = subprocess.Popen(
                [sys.executable, "-m", "deskmove.mail.parseworker", str(blob_root)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            thread = threading.Thread(
                target=self._feed, args=(proc,), daemon=True, name="deskmove-parse-feed"
            )
            thread.start()
            self._procs.append(proc)
            self._threads.append(thread)

    def submit_all(self, mails: list[RawMail], now: datetime) -> list[Future[Any]]:
        futures = []
        for chunk in _tasks(mails):
            future: Future[Any] = Future()
            self._tasks.put(_Task(chunk, now, future))
            futures.append(future)
        return futures

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        answers = _Answers(proc.stdout)
        dead = False  # the worker is gone: the tasks this thread takes fail at once
        while (task := self._tasks.get()) is not None:
            future = task.future
            if self._closing:
                future.cancel()
            if not future.set_running_or_notify_cancel():
                continue
            if dead:  # not left in the queue: with every worker gone, nobody would answer
                future.set_exception(EOFError("the worker process ended"))
                continue
            try:
                # sent only now, and let go once sent: this thread holds no mail while
                # its worker parses; the raw bytes are written as they are, not pickled
                send_task(proc.stdin, task.mails, task.now)
                del task
                future.set_result(answers.next())
            except BaseException as exc:  # noqa: BLE001 - handed to the importing thread
                future.set_exception(exc)
                dead = True
            del future

    def close(self) -> None:
        self._closing = True  # tasks still queued are cancelled, not parsed
        for _ in self._threads:
            self._tasks.put(None)
        for proc in self._procs:
            if proc.stdin:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        for proc, thread in zip(self._procs, self._threads, strict=True):
            thread.join(timeout=60)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()


def _tasks(mails: list[RawMail]) -> Iterator[list[RawMail]]:
    """``mails`` in runs of at most TASK_MAILS mails and TASK_BYTES (or one larger mail)."""
    chunk: list[RawMail] = []
    size = 0
    for mail in mails:
        if chunk and (len(chunk) >= TASK_MAILS or size + len(mail.raw) > TASK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(mail)
        size += len(mail.raw)
    if chunk:
        yield chunk


@dataclass(slots=True)
class _Task:
    mails: list[RawMail]
    now: datetime
    future: Future[Any]


class _Answers:
    """A worker's answers, each read into one buffer that is reused: a fresh one per
    answer would be mapped memory, faulted in page by page."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._buf = bytearray(1 << 20)

    def next(self) -> Any:
        head = self._fh.read(8)
        if len(head) < 8:
            raise EOFError("the worker process ended")
        size = struct.unpack("!Q", head)[0]
        if size > len(self._buf):
            self._buf = bytearray(max(size, 2 * len(self._buf)))
        try:
            with memoryview(self._buf) as view:
                done = 0
                while done < size:
                    got = self._fh.readinto(view[done:size])  # type: ignore[attr-defined]
                    if not got:
                        raise EOFError("the worker process ended")
                    done += got
                return pickle.loads(view[:size])
        finally:
            if len(self._buf) > KEPT_BUFFER:  # grown by a large answer: not kept
                self._buf = bytearray(1 << 20)


def _resolve(batcher: MailBatcher, p: Pending, futures: list[Future[Any]]) -> Batch:
    parsed: list[ParsedMail | str] = []
    blobs: dict[str, bytes] = {}
    try:
        for future in futures:
            part, small = _unwrap(future.result())
            parsed.extend(part)
            blobs.update(small)
    except (EOFError, OSError) as exc:
        raise StoreError(
            "a mail-parsing worker process died (out of memory?)",
            f"run the same command again; {WORKERS_ENV}=1 parses in one process",
        ) from exc
    batch = batcher.batch_parsed(p.mails, parsed, state=p.state, read=p.read)
    batch.blobs = raw_blobs(p.mails, parsed, blobs)  # inserted with the batch's messages
    return _finish(batch, p)


def _finish(batch: Batch, p: Pending) -> Batch:
    batch.quarantined.extend(p.quarantined)
    return batch


def _unwrap(result: Any) -> tuple[list[ParsedMail | str], dict[str, bytes]]:
    if isinstance(result, Failure):
        raise result.error()
    return result
