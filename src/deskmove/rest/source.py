"""The read side of every REST spec: streams -> canonical batches.

Order: people, organizations and groups first; then the bulk message streams
(Zendesk's ticket-events export), spooled to a temporary file by ticket id;
then the ticket stream, page by page, each ticket with its messages from the
spool or from its per-ticket stream. Messages whose ticket did not come by are
fetched with the ticket stream's ``lookup``. Each batch carries the state of
the streams it finishes, so a re-run resumes where the last commit stopped.
"""

from __future__ import annotations

import base64
import queue
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from deskmove.errors import (
    AuthError,
    DeadlineExceeded,
    DeskmoveError,
    FatalRemoteError,
    RetriableError,
)
from deskmove.records import AttachmentRec, Batch, QuarantineRec, TicketRec
from deskmove.rest.hooks import MessageDraft, RemoteFile
from deskmove.rest.http import RemoteFailure
from deskmove.rest.paginate import dig
from deskmove.rest.streams import read_stream

if TYPE_CHECKING:
    from deskmove.rest.adapter import RestAdapter
    from deskmove.rest.spec import StreamSpec
    from deskmove.store import Store

ENTITY_KINDS = ("organization", "group", "person")


class SourceRun:
    """One import run of a REST source."""

    def __init__(
        self, adapter: RestAdapter, state: dict[str, dict[str, Any]], store: Store
    ) -> None:
        self.adapter = adapter
        self.client = adapter.client
        self.hooks = adapter.hooks
        self.ctx = adapter.ctx
        self.state = state
        self.store = store
        self.spool = store.spool("deskmove-spool-")  # message drafts waiting for their ticket
        self.bulk_state: dict[str, dict[str, Any]] = {}
        self._files: list[tuple[MessageDraft, RemoteFile]] = []
        self.ctx.agents |= store.agent_native_ids(adapter.ctx.conn.name)
        self._values: dict[str, Any] | None = None
        self.ctx.client = self.client

    @property
    def values(self) -> dict[str, Any]:
        """The hooks' ``stream_values(ctx, client)``: placeholders for params and templates."""
        if self._values is None:
            make = self.hooks.stream_values
            self._values = make(self.ctx, self.client) if make else {}
        return self._values

    def batches(self) -> Iterator[Batch]:
        try:
            streams = self.adapter.streams()
            for kind in ENTITY_KINDS:
                for name, s in streams.items():
                    if s.kind == kind:
                        yield from self._guarded(name, s, self._entities(name, s))
            for name, s in streams.items():
                if s.kind == "message" and not s.per_ticket:
                    self._spool_bulk(name, s)
            for name, s in streams.items():
                if s.kind == "ticket":
                    yield from self._tickets(name, s)
                    yield self._leftovers(s)
        finally:
            self.spool.close()

    def _guarded(self, name: str, s: StreamSpec, it: Iterator[Batch]) -> Iterator[Batch]:
        try:
            yield from it
        except (AuthError, RemoteFailure) as exc:
            if not s.optional or (isinstance(exc, RemoteFailure) and exc.status != 404):
                raise
            self.ctx.note(f"skipped the {name} stream: {exc.message}")

    # people, organizations, groups ----------------------------------------------------
    def _entities(self, name: str, s: StreamSpec) -> Iterator[Batch]:
        for page in read_stream(self.client, s, self.state.get(name), values=self.values):
            batch = Batch(state={name: page.state})
            for raw in page.records:
                self._add_entity(batch, s.kind, raw, s.role)
            yield batch

    def _add_entity(
        self, batch: Batch, kind: str, raw: dict[str, Any], role: str | None = None
    ) -> None:
        rec = getattr(self.hooks, kind)(raw, self.ctx)
        if rec is None:
            return
        if kind == "person":
            if role:
                rec.role = role
            if rec.role == "agent":
                self.ctx.agents.add(rec.native_id)
            batch.people.append(rec)
        elif kind == "organization":
            batch.organizations.append(rec)
        else:
            batch.groups.append(rec)

    def _sideloads(self, batch: Batch, s: StreamSpec, extra: dict[str, Any]) -> None:
        for key, kind in s.sideloads.items():
            for raw in extra.get(key) or []:
                self._add_entity(batch, kind, raw)

    # messages -------------------------------------------------------------------------
    def _spool_bulk(self, name: str, s: StreamSpec) -> None:
        hook = getattr(self.hooks, s.hook or "message")
        for page in read_stream(self.client, s, self.state.get(name), values=self.values):
            drafts = [d for raw in page.records for d in hook(raw, self.ctx)]
            self.spool.add((d.ticket_id, d) for d in drafts)
            self.bulk_state[name] = page.state

    def _per_ticket(self, ticket_id: str, every: bool = False) -> list[MessageDraft]:
        """The per-ticket message streams; a ``ticket_history`` hook gets them all at once.

        RT needs that: a ticket's transactions and its attachments come from two
        listings, and a message is made of both.
        """
        drafts: list[MessageDraft] = []
        history = self.hooks.ticket_history
        records: dict[str, list[dict[str, Any]]] = {}
        args = {"ticket_id": ticket_id}
        streams = self.adapter.spec.streams if every else self.adapter.streams()
        for name, s in streams.items():
            if s.kind == "message" and s.per_ticket:
                hook = None if history else getattr(self.hooks, s.hook or "message")
                for page in read_stream(self.client, s, None, path_args=args, values=self.values):
                    if hook is None:
                        records.setdefault(name, []).extend(page.records)
                    else:
                        drafts += [
                            d for raw in page.records for d in hook(raw, self.ctx, ticket_id)
                        ]
        if history is not None:
            drafts += history(records, self.ctx, ticket_id)
        return drafts

    # tickets --------------------------------------------------------------------------
    def _tickets(self, name: str, s: StreamSpec) -> Iterator[Batch]:
        for page in read_stream(self.client, s, self.state.get(name), values=self.values):
            batch = Batch(state={name: page.state})
            self._sideloads(batch, s, page.extra)
            joined = {
                key: {str(x.get(field)): x for x in page.extra.get(key) or []}
                for key, field in s.joins.items()
            }
            for raw in page.records:
                for key, index in joined.items():  # e.g. raw["_metric_sets"]: its metric set
                    raw[f"_{key}"] = index.get(str(raw.get("id")))
                self._add_ticket(batch, raw)
            yield self._download(batch)

    def _add_ticket(self, batch: Batch, raw: dict[str, Any], *, alone: bool = False) -> None:
        """One ticket with its messages; ``alone``: read again by itself (a quarantine retry),
        its messages from every per-ticket stream of the spec, whatever ``?comments=`` says."""
        rec = self.hooks.ticket(raw, self.ctx)
        batch.read += 1
        if isinstance(rec, QuarantineRec):
            rec.kind, rec.native_id = "ticket", str(raw.get("id"))  # restored later: it leaves
            dropped = self.spool.pop(str(raw.get("id")))
            if dropped:
                rec.reason += f" ({len(dropped)} messages with it)"
            batch.quarantined.append(rec)
            return
        drafts = list(self.hooks.ticket_messages(raw, self.ctx))
        drafts += self._per_ticket(rec.native_id, alone) + self.spool.pop(rec.native_id)
        self._attach(batch, rec, drafts)

    def _attach(self, batch: Batch, rec: TicketRec, drafts: list[MessageDraft]) -> None:
        unique = {d.message.native_id: d for d in drafts}  # a message seen twice counts once
        for d in unique.values():
            rec.messages.append(d.message)
            self._files += [(d, f) for f in d.files]
        rec.messages.sort(key=lambda m: (m.created_at is None, m.created_at or 0, m.native_id))
        batch.read += len(rec.messages)
        batch.tickets.append(rec)

    def _download(self, batch: Batch) -> Batch:
        """The batch's attachments, a few at a time (``rate_limit.concurrency``), into the blobs."""
        files, self._files = self._files, []
        workers = max(1, self.adapter.spec.rate_limit.concurrency)
        with ThreadPoolExecutor(workers, thread_name_prefix="deskmove-download") as pool:
            results = pool.map(self._fetch, [f for _d, f in files])
            for (d, f), got in zip(files, results, strict=True):
                if isinstance(got, DeskmoveError):
                    batch.read += 1
                    batch.quarantined.append(self._unfetched(d.message.native_id, f, got))
                    continue
                sha = self.store.blobs.stage(got, batch.blobs)
                d.message.attachments.append(
                    AttachmentRec(sha, len(got), f.filename, f.content_type, f.content_id, f.inline)
                )
        return batch

    def _unfetched(self, message: str, f: RemoteFile, exc: DeskmoveError) -> QuarantineRec:
        """An attachment that could not be downloaded: enough kept to fetch it again later."""
        url = self.client.redact.url(f.url)
        return QuarantineRec(
            f"attachment {f.filename} of message {message}",
            f"could not download {url}: {exc.message}",
            kind="attachment",
            native_id=f"{message}#{f.filename or ''}",
            context={
                "message": message,
                "url": f.url,
                "filename": f.filename,
                "content_type": f.content_type,
                "content_id": f.content_id,
                "inline": f.inline,
                "json_field": f.json_field,
            },
        )

    def _fetch(self, f: RemoteFile) -> bytes | DeskmoveError:
        try:
            if f.json_field:  # the bytes come base64-encoded in a JSON body (RT's attachments)
                _resp, body = self.client.json("GET", f.url)
                data = base64.b64decode(dig(body, f.json_field) or "")
            else:
                data = self.client.download(f.url)
        except DeadlineExceeded:
            raise  # the run's --deadline: stop the run, do not quarantine everything after it
        except (AuthError, RemoteFailure, RetriableError) as exc:
            return exc  # this file only (a host that is down, a TLS error): the rest imports
        except (ValueError, TypeError):
            return FatalRemoteError(
                f"{f.url}: the attachment is not valid base64", "re-run; report it if it stays"
            )
        return data

    def _leftovers(self, s: StreamSpec) -> Batch:
        """Messages whose ticket was not in this run's ticket pages, with their tickets."""
        batch = Batch(state=dict(self.bulk_state))
        waiting = self.spool.keys()
        if not waiting:
            return batch
        found = self.look_up(s, waiting)
        for tid in waiting:
            if tid in found:
                self._add_ticket(batch, found[tid])
            else:
                n = len(self.spool.pop(tid))
                batch.read += 1
                batch.quarantined.append(
                    QuarantineRec(
                        f"ticket {tid}",
                        f"{n} messages whose ticket is gone (deleted?)",
                        kind="ticket",
                        native_id=tid,
                    )
                )
        return self._download(batch)

    def look_up(self, s: StreamSpec, ticket_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Tickets by id through the stream's ``lookup``; one the account does not have
        (deleted, or never there: 404 for a lookup of one) is not in the answer."""
        found: dict[str, dict[str, Any]] = {}
        if s.lookup is None:
            return found
        for i in range(0, len(ticket_ids), s.lookup.batch):
            ids = ",".join(ticket_ids[i : i + s.lookup.batch])
            params = {k: str(v).format(ids=ids) for k, v in s.lookup.params.items()}
            try:
                _resp, body = self.client.json(
                    s.lookup.method, s.lookup.path.format(ids=ids), params=params
                )
            except RemoteFailure as exc:
                if exc.status == 404:
                    continue
                raise
            got = dig(body, s.lookup.records) if s.lookup.records else body
            for raw in [got] if isinstance(got, dict) else got or []:
                found[str(raw.get("id"))] = raw
        return found

    def ticket_again(self, s: StreamSpec, item: Any, ticket_id: str) -> Batch:
        """A quarantined ticket read again by itself: imported with its messages when the
        account has it (restored), else still quarantined, saying so."""
        batch = Batch()
        raw = self.look_up(s, [ticket_id]).get(ticket_id)
        if raw is None:
            reason = item.reason.split(" (")[0]
            batch.read = 1
            batch.quarantined.append(
                QuarantineRec(
                    item.native_ref,
                    f"{reason} (not in {self.adapter.spec.name} when retried either)",
                    kind="ticket",
                    native_id=ticket_id,
                )
            )
            return batch
        self._add_ticket(batch, raw, alone=True)
        return self._download(batch)


_DONE = object()


def prefetched(make: Callable[[], Iterator[Batch]], depth: int = 2) -> Iterator[Batch]:
    """Batches read by a worker thread while the caller commits the previous ones.

    The API's rate-limit pauses then overlap the store's work instead of adding to
    it. At most ``depth`` batches wait (memory stays flat); the worker's errors
    are raised here, and it stops when the caller does.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for batch in make():
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            put(exc)

    worker = threading.Thread(target=work, name="deskmove-rest-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def quarantined_ticket(item: Any) -> str | None:
    """The native id of the ticket a quarantine item stands for (a deleted ticket, or the
    messages of one that was gone), from its record or, for older items, its reference."""
    if item.kind == "ticket" and item.native_id:
        return str(item.native_id)
    ref = str(item.native_ref or "")
    return (
        ref.removeprefix("ticket ")
        if item.kind is None and re.fullmatch(r"ticket \S+", ref)
        else None
    )


def ticket_stream(adapter: RestAdapter) -> StreamSpec | None:
    """The spec's ticket stream that can fetch tickets by id (its ``lookup``)."""
    return next((s for s in adapter.spec.streams.values() if s.kind == "ticket" and s.lookup), None)


def fetch_ticket_again(adapter: RestAdapter, store: Store, item: Any, ticket_id: str) -> Batch:
    stream = ticket_stream(adapter)
    assert stream is not None  # RestSource.retry refuses before any work otherwise
    run = SourceRun(adapter, {}, store)
    try:
        return run.ticket_again(stream, item, ticket_id)
    finally:
        run.spool.close()


def fetch_again(adapter: RestAdapter, store: Store, item: Any) -> Batch:
    """One quarantined item read again: a ticket (deleted, or gone while its messages came)
    through the spec's ticket lookup, an attachment downloaded again (an empty batch when
    it is in the store)."""
    ctx = item.context or {}
    ticket_id = quarantined_ticket(item)
    if ticket_id is not None:
        return fetch_ticket_again(adapter, store, item, ticket_id)
    if item.kind != "attachment" or not ctx.get("url"):
        return Batch(
            read=1,
            quarantined=[
                QuarantineRec(
                    item.native_ref,
                    f"{item.reason} (read again by the next import of {adapter.conn.name})",
                )
            ],
        )
    f = RemoteFile(
        url=ctx["url"],
        filename=ctx.get("filename"),
        content_type=ctx.get("content_type") or "application/octet-stream",
        inline=bool(ctx.get("inline")),
        content_id=ctx.get("content_id"),
        json_field=ctx.get("json_field"),
    )
    run = SourceRun.__new__(SourceRun)  # only its download helpers, no stream state
    run.adapter, run.client, run.store = adapter, adapter.client, store
    got = run._fetch(f)
    if isinstance(got, DeskmoveError):
        return Batch(read=1, quarantined=[run._unfetched(ctx.get("message", ""), f, got)])
    sha = store.blobs.put(got)
    rec = AttachmentRec(sha, len(got), f.filename, f.content_type, f.content_id, f.inline)
    if not store.attach(adapter.conn.name, str(ctx.get("message")), rec):
        return Batch(
            read=1,
            quarantined=[
                QuarantineRec(item.native_ref, f"{item.reason} (its message is not in the store)")
            ],
        )
    return Batch(read=1)
