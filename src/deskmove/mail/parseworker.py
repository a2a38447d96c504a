"""A mail-parsing worker process: ``python -m deskmove.mail.parseworker BLOB_ROOT``.

Started by :class:`deskmove.mail.parallel.WorkerPool`. It reads tasks (the fields of
some :class:`RawMail`, pickled, and the run's "now", then their raw bytes: see
:func:`send_task`) from stdin, parses them with
:class:`BlobWriter` (large blobs become files before the answer is sent; small
attachments go back with the results) and writes each result to the real stdout,
until stdin closes. It loads only what parsing needs (this module, :mod:`deskmove.mail.raw`
and the parser): a worker's start-up is part of every import's first batch, and the
pool, threading and the store are the importing process's.
"""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from deskmove.errors import DeskmoveError
from deskmove.frames import receive, send
from deskmove.mail.blobwriter import BlobWriter
from deskmove.mail.parse import ParsedMail
from deskmove.mail.raw import RawMail


@dataclass(slots=True)
class Failure:
    """A DeskmoveError raised in a worker (exceptions lose their hint when pickled)."""

    kind: type[DeskmoveError]
    message: str
    hint: str | None

    def error(self) -> DeskmoveError:
        exc = self.kind.__new__(self.kind)
        DeskmoveError.__init__(exc, self.message, self.hint)
        return exc


def parse_task(
    mails: list[RawMail], now: datetime, blobs: BlobWriter
) -> tuple[list[ParsedMail | str], dict[str, bytes]] | Failure:
    """Parse mails: the results, and the small blobs they hold other than the raw mails
    (the importing process has those); the large ones are files before this returns."""
    try:
        try:
            return [blobs.parse(raw, now, keep_raw=False) for raw in mails], blobs.take()
        finally:
            blobs.take()  # a failed task's blobs do not go with the next one
    except DeskmoveError as exc:
        return Failure(type(exc), exc.message, exc.hint)


def send_task(fh: IO[bytes], mails: list[RawMail], now: datetime) -> None:
    """A task as frames: the mails' fields but their bytes (pickled, with each one's size),
    then the bytes themselves, written from the mails as they are. Pickling them would
    copy every byte once more, holding the importing process's GIL while it did."""
    head = ([(m.native_id, m.fallback_date, m.folder, m.labels) for m in mails], now)
    send(fh, pickle.dumps((head, [len(m.raw) for m in mails]), -1), flush=False)
    for m in mails:
        fh.write(m.raw)
    fh.flush()


def receive_task(fh: IO[bytes]) -> tuple[list[RawMail], datetime]:
    """What :func:`send_task` sent; EOFError when the importing process ended inside it."""
    (fields, now), sizes = pickle.loads(receive(fh))
    mails = []
    for (native_id, fallback_date, folder, labels), size in zip(fields, sizes, strict=True):
        raw = fh.read(size)
        if len(raw) < size:
            raise EOFError("the importing process ended")
        mails.append(RawMail(raw, native_id, fallback_date, folder, labels))
    return mails, now


def main(blob_root: str) -> None:
    """A worker's life: tasks from stdin, results to the real stdout, until stdin closes."""
    from deskmove.blobs import BlobStore  # the files only: the worker never loads the store

    tasks = sys.stdin.buffer
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot corrupt a result
    blobs = BlobWriter(BlobStore(Path(blob_root)))
    while True:
        try:
            mails, now = receive_task(tasks)
        except EOFError:
            break
        send(results, pickle.dumps(parse_task(mails, now, blobs), -1))


if __name__ == "__main__":  # through the module's own name, so results unpickle in the importer
    from deskmove.mail import parseworker

    parseworker.main(sys.argv[1])
    # Every result is sent (each frame is flushed) and every blob file closed: end now,
    # without tearing down the interpreter's modules, which the import would wait for
    # (WorkerPool.close) at the end of every run, ~30 ms.
    os._exit(0)
