"""IMAP folders as a source: read-only, incremental, resumable.

``imap://USER@HOST[:PORT]/FOLDER[,FOLDER…]?tls=implicit|starttls|none`` (``imaps://``
means implicit TLS). The password comes from ``DESKMOVE_IMAP_PASSWORD`` or the
connection's ``password = { env = "NAME" }``.

Per folder the sync state keeps ``uidvalidity``, ``last_uid``, ``uidnext`` and
``highestmodseq`` (when the server offers CONDSTORE); it is saved with each
batch. A re-run with nothing new costs one STATUS per folder. When a folder's
UIDVALIDITY changes (the folder was recreated or restored), its messages are
matched by a fingerprint (Message-ID, Date, From, Subject and size, read from
the headers on the server and from the raw mails in the store) and only the
ones the store does not hold are fetched.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from deskmove.errors import RetriableError, UsageError
from deskmove.mail.parallel import AHEAD, Pending, parse_batches, worker_count
from deskmove.records import Batch
from deskmove.sources.base import Retried, Source, retry_mail
from deskmove.sources.imap_client import TLS_MODES, FolderStatus, ImapClient

if TYPE_CHECKING:
    from deskmove.config import Connection, Project
    from deskmove.store import Store
    from deskmove.store.quarantine import Item

PASSWORD_ENV = "DESKMOVE_IMAP_PASSWORD"
DEFAULT_BATCH = 500  # messages per UID FETCH (and per store transaction)
DEFAULT_BATCH_BYTES = 32 * 1024 * 1024  # …or fewer, when they are large
# (250 / 16 MB cost the importing process half as much again per message: each batch
# re-indexes the stored tickets its replies join)
DEFAULT_RETRIES = 3  # reconnects after a lost connection, 1 s, 2 s, 4 s apart
PARALLEL_FROM = 200  # new UIDs in a folder from which its mail is parsed in worker processes
REMATCH_BATCH = 2000  # header fingerprints per UID FETCH after a UIDVALIDITY change

_FIELDS = [
    re.compile(rb"^" + name + rb"[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.I | re.M)
    for name in (b"message-id", b"date", b"from", b"subject")
]


def fingerprint(header: bytes, size: int) -> str:
    """A message's identity beyond UIDs: Message-ID, Date, From, Subject (unfolded) and size."""
    parts = []
    for rx in _FIELDS:
        m = rx.search(header)
        parts.append(b" ".join(m.group(1).split()) if m else b"")
    parts.append(str(size).encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:32]


def header_section(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[: end + 2]


def plan_batches(
    items: list[tuple[int, int]], count: int, max_bytes: int
) -> Iterator[list[tuple[int, int]]]:
    """Split (uid, size) pairs, in UID order, into runs sent as one ``first:last`` range."""
    chunk: list[tuple[int, int]] = []
    size = 0
    for uid, n in items:
        if chunk and (len(chunk) >= count or size + n > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((uid, n))
        size += n
    if chunk:
        yield chunk


class ImapSource(Source):
    spec_options = ("tls", "cafile", "batch", "batch_mb", "timeout", "retries", "folders")
    scheme = "imap"
    description = "IMAP folders, read-only (EXAMINE + BODY.PEEK), incremental by UID"
    example = "imap://support@mail.example.com/INBOX,Sent"
    item_kinds = ("message",)  # one mail read = one message imported, unchanged or quarantined

    def __init__(self, conn: Connection, project: Project) -> None:
        super().__init__(conn, project)
        tls = str(conn.option("tls") or ("implicit" if conn.scheme == "imaps" else "")).lower()
        if not tls:
            tls = "implicit" if conn.port == 993 else "starttls"
        if tls not in TLS_MODES:
            raise UsageError(f"?tls={tls} is not a TLS mode", f"use one of: {', '.join(TLS_MODES)}")
        if not conn.location:
            raise UsageError(f"'{conn.spec}' names no host", "write it as imap://USER@HOST/INBOX")
        if not conn.user:
            raise UsageError(
                f"'{conn.name}' names no user", "write it as imap://USER@HOST/INBOX,Sent"
            )
        self.tls = tls
        self.port = conn.port or (993 if tls == "implicit" else 143)
        folders = conn.option("folders") or conn.folders or ["INBOX"]
        self.folders = [folders] if isinstance(folders, str) else list(folders)
        self.batch_size = _positive(conn, "batch", DEFAULT_BATCH)
        self.batch_bytes = _positive(conn, "batch_mb", DEFAULT_BATCH_BYTES // 2**20) * 2**20
        self.timeout = float(_positive(conn, "timeout", 60))
        self.retries = _positive(conn, "retries", DEFAULT_RETRIES, minimum=0)
        ref = conn.options.get("password")
        self.password_env = (
            str(ref["env"]) if isinstance(ref, dict) and "env" in ref else PASSWORD_ENV
        )
        self.client: ImapClient | None = None
        self._ahead: ThreadPoolExecutor | None = None  # the one fetch run ahead (see _folder)
        self._inflight: Future[Any] | None = None
        self._inflight_key: object = None  # a chunk (by identity), or ("open", folder)

    # session ----------------------------------------------------------------------------
    def _session(self) -> ImapClient:
        if self.client is None or self.client.imap is None:
            password = self.conn.secret(
                "password", default_env=PASSWORD_ENV, what=f"the IMAP password for {self.conn.user}"
            )
            client = ImapClient(
                self.conn.location,
                self.port,
                tls=self.tls,
                timeout=self.timeout,
                cafile=self.conn.option("cafile"),
            )
            client.connect()
            try:
                client.login(self.conn.user or "", password, self.password_env)
            except BaseException:
                client.close()
                raise
            if self.tls == "none" and self.conn.location not in ("127.0.0.1", "localhost", "::1"):
                self.notes.append(f"the password for {self.conn.location} was sent without TLS")
            self.client = client
        return self.client

    def check(self) -> None:
        self._session()

    def close(self) -> None:
        self._settle()
        if self._ahead is not None:
            self._ahead.shutdown(wait=False)
            self._ahead = None
        if self.client is not None:
            self.client.close()
            self.client = None

    # reading ----------------------------------------------------------------------------
    def retry(self, items: list[Item], store: Store) -> Iterator[Retried]:
        """Each raw message kept in the store again (the server is not asked)."""
        from deskmove.mail.batcher import RawMail

        def make(item: Item, raw: bytes) -> RawMail:
            return RawMail(raw, item.native_ref, folder=item.native_ref.rsplit("/", 2)[0])

        return retry_mail(self, items, store, make)

    def batches(self, state: dict[str, dict[str, Any]], store: Store) -> Iterator[Batch]:
        from deskmove.mail.batcher import MailBatcher

        batcher = MailBatcher(self.project, store, self.conn.name)
        try:
            client = self._session()
            statuses = {folder: client.status(folder) for folder in self.folders}
            missing = [f for f, st in statuses.items() if st is None]
            if missing:
                raise self._missing(client, missing[0])
            yield from self._resumable(batcher, store, statuses, state)  # type: ignore[arg-type]
            for note, n in batcher.notes.most_common(5):  # charsets guessed, dates repaired …
                self.notes.append(f"{n} mail(s): {note}")
        finally:
            self.close()

    def _resumable(
        self,
        batcher: Any,
        store: Store,
        statuses: dict[str, FolderStatus],
        state: dict[str, dict[str, Any]],
    ) -> Iterator[Batch]:
        """Every folder, in order, through one parsing pipeline (one set of worker processes
        for the whole run). A lost connection is re-opened (``?retries=N``) and each folder
        resumed from its last committed cursor (a batch is committed before the next is
        asked for, so the cursors seen here are the committed ones)."""
        committed = {folder: state.get(folder) for folder in self.folders}
        reading = [self.folders[0]]  # the folder being fetched, for the note on a reconnect
        for attempt in itertools.count():
            try:
                client = self._session()
                if attempt:
                    statuses = {f: client.status(f) or statuses[f] for f in self.folders}
                new = sum(_new(st, committed[f]) for f, st in statuses.items())
                workers = worker_count() if new > PARALLEL_FROM else 1
                pending = self._pending(client, batcher, store, statuses, committed, reading)
                # the batch fetched ahead (see _run_ahead) is one of the pipeline's AHEAD
                for batch in parse_batches(batcher, pending, workers=workers, ahead=AHEAD - 1):
                    committed.update(batch.state or {})
                    yield batch
                return
            except RetriableError as exc:
                if attempt >= self.retries:
                    raise
                self.notes.append(f"{reading[0]}: {exc.message}; reconnected and resumed")
                self.close()
                time.sleep(min(2**attempt, 30))

    def _pending(
        self,
        client: ImapClient,
        batcher: Any,
        store: Store,
        statuses: dict[str, FolderStatus],
        committed: dict[str, Any],
        reading: list[str],
    ) -> Iterator[Pending]:
        for n, folder in enumerate(self.folders):
            reading[0] = folder
            later = [(f, statuses[f], committed[f]) for f in self.folders[n + 1 :]]
            yield from self._folder(
                client, batcher, store, folder, statuses[folder], committed[folder], later
            )

    def _missing(self, client: ImapClient, folder: str) -> UsageError:
        special = {"\\sent", "\\archive", "\\drafts", "\\junk", "\\trash", "\\all"}
        names = sorted(
            f.name + "".join(f" ({u.title()})" for u in sorted(f.flags & special))
            for f in client.folders()
            if "\\noselect" not in f.flags
        )
        return UsageError(
            f"the folder '{folder}' does not exist on {client.where}",
            f"folders there: {', '.join(names) or 'none'}",
        )

    def _folder(
        self,
        client: ImapClient,
        batcher: Any,
        store: Store,
        folder: str,
        status: FolderStatus,
        prev: dict[str, Any] | None,
        later: list[tuple[str, FolderStatus, dict[str, Any] | None]],
    ) -> Iterator[Pending]:
        """A folder's new mail, batch by batch; ``later``: the folders after it (the first of
        them with new mail is opened, and its first batch fetched, while its last is written)."""
        prev = prev or {}
        if _nothing_new(status, prev):
            return  # nothing new: one STATUS was all it took
        key = ("open", folder)
        opened = self._collect(key, self._open, client, folder, prev)
        uidvalidity, pending, last = opened.uidvalidity, opened.pending, opened.last
        if opened.rematch:
            pending = self._rematch(client, store, folder, pending, prev, uidvalidity)
        cursor: dict[str, Any] = {
            "uidvalidity": uidvalidity,
            "last_uid": last,
            "uidnext": status.uidnext,
            "highestmodseq": status.highestmodseq,
        }
        chunks = list(plan_batches(pending, self.batch_size, self.batch_bytes))
        if not chunks:
            self._open_ahead(client, later)
        for i, chunk in enumerate(chunks):
            if i == 0 and opened.first is not None and opened.first[0] == chunk:
                mails = opened.first[1]  # fetched with the folder's opening
                opened.first = None  # not held here while the later batches go through
            else:
                mails = self._collect(chunk, self._fetch, client, folder, uidvalidity, chunk)
            if i + 1 < len(chunks):  # on the wire while this batch is parsed and written
                self._run_ahead(
                    chunks[i + 1], self._fetch, client, folder, uidvalidity, chunks[i + 1]
                )
            else:  # the next folder is opened while this one's last batch is
                self._open_ahead(client, later)
            cursor = {**cursor, "last_uid": chunk[-1][0]}
            yield Pending(mails, {folder: cursor}, len(mails))
        done = status.uidnext - 1 if uidvalidity == status.uidvalidity else cursor["last_uid"]
        if done > cursor["last_uid"] or not pending:
            # the tail was expunged, or nothing was new: save the cursor so the next run is a no-op
            yield Pending([], {folder: {**cursor, "last_uid": max(done, cursor["last_uid"])}}, 0)

    # fetching one batch ahead -----------------------------------------------------------
    # The next UID FETCH (or, after a folder's last batch, the next folder's EXAMINE, UID
    # listing and first FETCH) runs in a thread while the importing thread hands the
    # current batch on, so the network and the server's reading overlap our parsing and
    # writing, also from one folder to the next. The session is never used by two threads
    # at once: nothing else is sent until that work is collected (its errors surface
    # there, where doing it then would raise them), and close() waits for it, each socket
    # wait bounded by ?timeout as always.
    def _run_ahead(self, key: object, fn: Any, *args: Any) -> None:
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(1, thread_name_prefix="deskmove-imap-fetch")
        self._inflight = self._ahead.submit(fn, *args)
        self._inflight_key = key

    def _collect(self, key: object, fn: Any, *args: Any) -> Any:
        """What ``fn(*args)`` gives: the result of the work run ahead under ``key``, if that
        is what is on the wire, else run now (after letting other work on the wire finish)."""
        future, self._inflight = self._inflight, None
        ahead = self._inflight_key
        same = ahead is key or (isinstance(key, tuple) and ahead == key)
        if future is None or not same:
            self._settle(future)
            return fn(*args)
        return future.result()

    def _open_ahead(
        self, client: ImapClient, later: list[tuple[str, FolderStatus, dict[str, Any] | None]]
    ) -> None:
        for folder, status, prev in later:
            if not _nothing_new(status, prev or {}):
                self._run_ahead(("open", folder), self._open, client, folder, prev or {})
                return

    def _open(self, client: ImapClient, folder: str, prev: dict[str, Any]) -> _Opened:
        """EXAMINE a folder, list its new UIDs and fetch the first batch of them (not after a
        UIDVALIDITY change: the store is asked what to fetch then, in the importing thread)."""
        last = int(prev.get("last_uid", 0))
        uidvalidity = client.examine(folder)
        rematch = bool(prev) and prev.get("uidvalidity") != uidvalidity
        if rematch:
            last = 0
        pending = client.uid_sizes(folder, last)
        first = None
        if pending and not rematch:
            chunk = next(plan_batches(pending, self.batch_size, self.batch_bytes))
            first = (chunk, self._fetch(client, folder, uidvalidity, chunk))
        return _Opened(uidvalidity, pending, rematch, last, first)

    def _settle(self, future: Future[Any] | None = None) -> None:
        """Let the work still on the wire (a fetch, a folder's opening) finish; its result
        or error is not wanted."""
        future, self._inflight = future or self._inflight, None
        if future is not None:
            concurrent.futures.wait([future])
            future.exception()

    def _fetch(
        self, client: ImapClient, folder: str, uidvalidity: int, chunk: list[tuple[int, int]]
    ) -> list[Any]:
        from deskmove.mail.batcher import RawMail

        wanted = {uid for uid, _ in chunk}
        fetched = client.fetch_bodies(folder, chunk[0][0], chunk[-1][0])
        return [
            RawMail(
                raw=f.data,
                fallback_date=f.internaldate,
                folder=folder,
                native_id=f"{folder}/{uidvalidity}/{f.uid}",
            )
            for f in fetched
            if f.uid in wanted  # expunged meanwhile: gone; `N:*` extras: not ours
        ]

    def _rematch(
        self,
        client: ImapClient,
        store: Store,
        folder: str,
        pending: list[tuple[int, int]],
        prev: dict[str, Any],
        uidvalidity: int,
    ) -> list[tuple[int, int]]:
        """After a UIDVALIDITY change: keep only the messages the store does not hold yet."""
        known = stored_fingerprints(store, self.conn.name)
        keep: list[tuple[int, int]] = []
        for chunk in plan_batches(pending, REMATCH_BATCH, 2**62):
            prints = client.fetch_fingerprints(folder, chunk[0][0], chunk[-1][0])
            ids = {f.uid: fingerprint(f.data, f.size) for f in prints}
            keep += [(uid, n) for uid, n in chunk if ids.get(uid) not in known]
        self.notes.append(
            f"{folder}: UIDVALIDITY changed ({prev.get('uidvalidity')} -> {uidvalidity}); "
            f"{len(pending) - len(keep)} messages matched by fingerprint, {len(keep)} to import"
        )
        return keep


@dataclass(slots=True)
class _Opened:
    """A folder as EXAMINE found it: its new (uid, size) pairs and the first batch's mails."""

    uidvalidity: int
    pending: list[tuple[int, int]]
    rematch: bool  # UIDVALIDITY changed: pending is every message, to be matched
    last: int  # the UID the folder's cursor starts from
    first: tuple[list[tuple[int, int]], list[Any]] | None


def _nothing_new(status: FolderStatus, prev: dict[str, Any]) -> bool:
    """The folder holds no mail after ``prev``'s cursor (then not even EXAMINE is sent)."""
    last = int(prev.get("last_uid", 0))
    return prev.get("uidvalidity") == status.uidvalidity and status.uidnext <= last + 1


def _new(status: FolderStatus, prev: dict[str, Any] | None) -> int:
    """About how many messages of a folder are new since ``prev``."""
    if not prev or prev.get("uidvalidity") != status.uidvalidity:
        return status.messages
    return max(0, status.uidnext - 1 - int(prev.get("last_uid", 0)))


def stored_fingerprints(store: Store, connection: str) -> set[str]:
    """Header fingerprints of every mail this connection imported or quarantined, from its raw blob."""
    shas = store.raw_mail_shas(connection)
    found = set()
    for sha in shas:
        try:
            with store.blobs.open(sha) as f:
                head = _read_header(f)
                size = f.seek(0, os.SEEK_END)
        except FileNotFoundError:
            continue  # a lost blob: the mail is fetched again and the store decides
        found.add(fingerprint(head, size))
    return found


def _read_header(f: BinaryIO) -> bytes:
    head = b""
    while chunk := f.read(65536):
        head += chunk
        section = header_section(head)
        if len(section) < len(head):
            return section
    return head


def _positive(conn: Connection, key: str, default: int, minimum: int = 1) -> int:
    value = conn.option(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum:
        what = "a positive whole number" if minimum == 1 else f"a whole number from {minimum} up"
        raise UsageError(f"?{key}={value} is not {what}", f"e.g. ?{key}={default}")
    return number
