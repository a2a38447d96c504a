"""The write side of every REST spec: store -> organizations, people, groups, tickets, messages.

Matching first (DESIGN.md: nothing doubled). Before anything is created the
push reads what the target already has, with read-only requests: its agents
and groups (``target.lists``), the values its fields accept (``target.fields``),
and for each organization or person not yet in the id map the spec's
``match_*`` lookups (a contact with that e-mail, an organization with that
name). What is found is reused and recorded as ``matched`` (rollback never
deletes it). ``--dry-run`` runs exactly these lookups and counts what would be
created; it writes nothing, to the target or to the id map.

Crash safety (rule 3): before a create call, each entity's id-map entry is
written as ``pending``; after the call, ``done`` with the new id. A re-run
first looks every ``pending`` entity up by its external id, so a crash between
the call and the id-map write never makes a duplicate; attachments are
uploaded only after that, for what is still to be created. A create or append
whose answer is lost on the way (a 502, a timeout, a dropped connection after
the request went out) is treated the same way without waiting for a re-run:
the target is asked first, and the call is sent again only when it has
nothing (a bulk job, which may still be running, stops the run instead).

Messages of an already-pushed ticket are appended (delta): a solved ticket is
reopened by a customer's reply, a closed one gets a follow-up ticket (id-map
kind ``followup``). Status, tags, assignee and group changed in the store since
the push go out as one update; the ticket's pushed hash holds the fields last
sent (JSON), so a re-run sends nothing.

What cannot go over as it is (an assignee who is not an agent in the target, a
group it lacks, a status or type with no home, an attachment over the target's
limit) is left out of that field, named in the body where a reader needs it,
and reported with its reason.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from deskmove.errors import DeskmoveError, FatalRemoteError, NotSupported, OutcomeUnknown
from deskmove.rest.http import RemoteFailure
from deskmove.rest.paginate import dig, pick
from deskmove.rest.pushrecords import (
    FilePush,
    GroupPush,
    MessagePush,
    OrgPush,
    PersonPush,
    TicketPush,
)
from deskmove.rest.targetio import (
    Endpoints,
    TargetIndex,
    fmt,
    read_index,
    same_name,
    same_person,
)
from deskmove.store import pushread
from deskmove.targets.base import PushReport, RemoteMessage, RemoteTicket

if TYPE_CHECKING:
    from deskmove.rest.adapter import RestTarget
    from deskmove.rest.spec import EndpointSpec
    from deskmove.store import Store, TicketScope

JOB_POLL_MAX = 600  # polls of one job before giving up
# id-map states that name a target object: created by deskmove, or already there and reused
# ("matched": rollback forgets it and never deletes it)
RESOLVED = ("done", "matched")
DRY_ID = "(new)"  # what a dry run records for an object it would create

Row = tuple[str, int, str | None, str | None]  # kind, entity id, native id, pushed hash
Record = OrgPush | PersonPush | GroupPush | TicketPush


class IdView:
    """The id map as one push sees it: read per chunk; a dry run keeps its writes in memory."""

    def __init__(self, store: Store, conn: str, run_id: int, dry: bool) -> None:
        self.store, self.conn, self.run_id, self.dry = store, conn, run_id, dry
        self.rows: dict[str, dict[int, tuple[str | None, str | None, str]]] = defaultdict(dict)

    def load(self, kind: str, ids: Any) -> None:
        want = sorted({i for i in ids if i is not None} - set(self.rows[kind]))
        if want:
            found = self.store.id_map_for(self.conn, kind, want)
            for eid in want:  # absent ones are cached as absent too
                self.rows[kind][eid] = found.get(eid, (None, None, "absent"))

    def forget(self, *kinds: str) -> None:
        if not self.dry:  # a dry run must remember what it would have created
            for kind in kinds:
                self.rows[kind].clear()

    def get(self, kind: str, eid: int) -> tuple[str | None, str | None, str] | None:
        hit = self.rows[kind].get(eid)
        return None if hit is None or hit[2] == "absent" else hit

    def state(self, kind: str, eid: int) -> str | None:
        hit = self.get(kind, eid)
        return hit[2] if hit else None

    def resolved(self, kind: str, eid: int | None) -> str | None:
        hit = self.get(kind, eid) if eid is not None else None
        return hit[0] if hit and hit[2] in RESOLVED else None

    def put_many(self, rows: list[Row], state: str) -> None:
        if not rows:
            return
        if not self.dry:
            self.store.map_put_many(self.conn, rows, state=state, run_id=self.run_id)
        for kind, eid, native, h in rows:
            self.rows[kind][eid] = (native, h, state)

    def set_hash(self, kind: str, eid: int, native: str, h: str) -> None:
        if not self.dry:
            self.store.map_set_hash(self.conn, kind, eid, h)
        self.rows[kind][eid] = (native, h, "done")


class Push:
    """One push of a store to a REST target."""

    def __init__(
        self,
        adapter: RestTarget,
        store: Store,
        run_id: int,
        *,
        dry_run: bool,
        only: TicketScope | None = None,
        progress: bool = False,
    ) -> None:
        self.adapter = adapter
        self.progress = progress  # a bar on a terminal (quiet with --json or off one)
        self.only = only  # a sample: these tickets and what they refer to, nothing else
        self.hooks = adapter.hooks
        self.ctx = adapter.ctx
        self.ep = Endpoints(adapter)
        self.spec_target = self.ep.target
        self.store = store
        self.dry = dry_run
        self.conn = adapter.ctx.conn.name
        self.report = PushReport(dry_run=dry_run)
        self.ids = IdView(store, self.conn, run_id, dry_run)
        for key in ("archive_immediately", "agents", "groups"):
            self.ctx.options.setdefault(key, adapter.option(key))
        self._index: TargetIndex | None = None  # read when first needed: GETs only
        self.group_native: dict[int, str] = {}
        self.group_names: dict[int, str] = {}
        self.emails: dict[int, str] = {}
        self.left_out: Counter[str] = Counter()  # reason -> tickets
        self.examples: defaultdict[str, list[str]] = defaultdict(list)  # reason -> a few
        self._fallback: str | None = None
        self.ctx.client = adapter.client if self.ctx.client is None else self.ctx.client
        make = self.hooks.target_values  # placeholders of the hooks' own (RT: the spec's queues)
        self._hook_values: dict[str, Any] = make(self.ctx) if make else {}

    def run(self) -> PushReport:
        from deskmove.sync import progress_bar

        self.report.notes += self.hooks.push_notes(self.ctx)
        scope = self.only
        # A sample pushes its tickets; otherwise only what moved since the last push (delta).
        only = scope.tickets if scope else self.store.changed_ticket_ids(self.conn)
        total = None
        if self.progress:
            total = len(only) if only is not None else pushread.ticket_count(self.store)
        name = f"export {self.adapter.spec.name}"
        with progress_bar(total, name, self.progress, unit="ticket") as bar:
            bar.set_postfix_str("organizations")
            for chunk in pushread.organizations(self.store, only=scope and scope.organizations):
                self._orgs(chunk)
            bar.set_postfix_str("people")
            for chunk in pushread.people(self.store, only=scope and scope.people):
                self._people(chunk)
            bar.set_postfix_str("groups")
            self._groups()
            bar.set_postfix_str("tickets")
            for chunk in pushread.tickets(self.store, max(self._batch("ticket"), 50), only):
                self._tickets(chunk)
                bar.update(len(chunk))
            bar.set_postfix_str("")
        self._summarize()
        return self.report

    @property
    def index(self) -> TargetIndex:
        """The target's agents, groups and field values, read once (an empty store reads none)."""
        if self._index is None:
            self._index = read_index(self.adapter)
            self.report.notes += self._index.notes
        return self._index

    # -- helpers ---------------------------------------------------------------------
    def _external_id(self, kind: str, eid: int) -> str:
        prefix = self.adapter.option("external_id_prefix") or "deskmove"
        return f"{prefix}:{kind}:{eid}"

    def _batch(self, kind: str) -> int:
        ep = self.ep.get(kind, "create")
        return ep.batch if ep else 100

    def _redact(self, text: Any) -> str:
        return self.adapter.client.redact(str(text))[:200]

    def _summarize(self) -> None:
        for why, n in sorted(self.left_out.items()):
            seen = self.examples.get(why)
            more = f" (for example {'; '.join(seen)})" if seen else ""
            self.report.notes.append(f"{n} tickets: {why}{more}")

    # -- organizations, people, groups ------------------------------------------------
    def _orgs(self, chunk: list[dict[str, Any]]) -> None:
        self.ids.forget("organization")
        self.ids.load("organization", [o["id"] for o in chunk])
        todo: list[Record] = []
        for o in chunk:
            if self.ids.resolved("organization", o["id"]):
                self.report.unchanged["organization"] += 1  # created or matched before
                continue
            ext = self._external_id("organization", o["id"])
            todo.append(OrgPush(o["id"], ext, o["name"], list(o.get("domains") or [])))
        self._resolve("organization", todo)

    def _people(self, chunk: list[dict[str, Any]]) -> None:
        self.ids.forget("person", "organization")
        self.ids.load("person", [p["id"] for p in chunk])
        self.ids.load("organization", [p["organization_id"] for p in chunk])
        todo: list[Record] = []
        for p in chunk:
            if self.ids.resolved("person", p["id"]):
                self.report.unchanged["person"] += 1
                continue
            org = self.ids.resolved("organization", p.get("organization_id"))
            todo.append(
                PersonPush(
                    p["id"],
                    self._external_id("person", p["id"]),
                    p.get("name"),
                    p.get("email"),
                    p.get("phone"),
                    p.get("role") or "customer",
                    org if org != DRY_ID else None,
                )
            )
        self._resolve("person", todo)

    def _groups(self) -> None:
        """Store groups -> the target's, by name; created only with ``?groups=create``."""
        names = self.group_names = pushread.group_names(self.store, self.only and self.only.groups)
        self.ids.load("group", names)
        create = (
            self.ep.get("group", "create") if self.ctx.options.get("groups") == "create" else None
        )
        todo: list[Record] = []
        matched: list[Row] = []
        for gid, name in sorted(names.items()):
            native = self.ids.resolved("group", gid)
            found = self.index.groups.get(name.strip().casefold())
            if native:
                self.group_native[gid] = native
                self.report.unchanged["group"] += 1
            elif found:
                matched.append(("group", gid, found, None))
                self.group_native[gid] = found
                self.report.matched["group"] += 1
            elif create is not None:
                todo.append(GroupPush(gid, self._external_id("group", gid), name))
        self.ids.put_many(matched, "matched")
        self._resolve("group", todo)
        for gid in names:
            native = self.ids.resolved("group", gid)
            if native:
                self.group_native[gid] = native

    def _resolve(self, kind: str, todo: list[Record]) -> None:
        """Crashed creates found again, then existing objects matched, then the rest created."""
        self._create(kind, self._match(kind, self._recover(kind, todo)))

    def _match(self, kind: str, todo: list[Record], *, refused: bool = False) -> list[Record]:
        """Reuse what the target already has: an agent or contact with the same e-mail, an
        organization with the same external id, name or domain (the spec's ``match_*``
        lookups, tried in the spec's order; the first that finds one object wins).
        """
        lookups = self.ep.lookups(kind, dry_run=True)
        left, found = [], []
        for rec in todo:
            native = None
            if isinstance(rec, PersonPush):
                native = self.index.agent(self.ctx.mapping.agent_email(rec.email))
            if not native:
                native = self._existing(kind, rec, lookups, refused)
            if native:
                found.append((kind, rec.entity_id, native, None))
                self.report.matched[kind] += 1
            else:
                left.append(rec)
        self.ids.put_many(found, "matched")
        return left

    def _existing(
        self, kind: str, rec: Record, lookups: list[EndpointSpec], refused: bool
    ) -> str | None:
        """The target's object ``rec`` is, with as few lookups as the order allows.

        A ``dry_run_only`` lookup asks for a value the target keeps unique (an e-mail, an
        external id, a name): a push need not ask it before creating, since the create is
        refused when the value is taken, and then it asks (``refused``). The other lookups
        (an organization's domain) run before creating; only when one of them finds
        something do all run, in the spec's order, so that the order decides. A dry run
        asks all of them, in order.
        """
        if self.dry:
            return self._look_up(kind, rec, lookups, {})
        if refused:
            return self._look_up(kind, rec, [ep for ep in lookups if ep.dry_run_only], {})
        probes = [ep for ep in lookups if not ep.dry_run_only]
        asked: dict[tuple[int, str], list[dict[str, Any]]] = {}
        if not probes or self._look_up(kind, rec, probes, asked) is None:
            return None  # created; a taken unique value is refused, then looked up
        return self._look_up(kind, rec, lookups, asked)

    def _lookup_values(self, rec: Record) -> list[dict[str, Any]]:
        """The values a lookup fills in: one set per domain of an organization."""
        base = {
            "email": getattr(rec, "email", None) or "",
            "name": getattr(rec, "name", None) or "",
            "external_id": rec.external_id,
            "domain": "",
        }
        domains = [d for d in getattr(rec, "domains", None) or [] if d]
        return [{**base, "domain": d} for d in domains] or [base]

    def _look_up(
        self,
        kind: str,
        rec: Record,
        lookups: list[EndpointSpec],
        asked: dict[tuple[int, str], list[dict[str, Any]]],
    ) -> str | None:
        """The target's id of the one object a lookup finds for ``rec``, by the field it asks
        (``asked``: answers already had for this record, not asked twice)."""
        for ep in lookups:
            asks = self.ep.asks(ep)
            sets = self._lookup_values(rec)
            for values in sets if "domain" in asks else sets[:1]:
                key = (id(ep), values["domain"])
                if key not in asked:
                    asked[key] = self.ep.records(ep, values)
                hits = {
                    str(raw["id"]): None
                    for raw in asked[key]
                    if self._is_it(kind, asks, raw, rec, values["domain"])
                }
                if "domain" in asks and len(hits) > 1:  # a domain is not unique: ambiguous
                    note = (
                        f"{kind} {rec.entity_id}: domain {values['domain']} belongs to "
                        f"{len(hits)} {kind}s in the target; matched by none of them"
                    )
                    if note not in self.report.notes:
                        self.report.notes.append(note)
                elif hits:
                    return next(iter(hits))
        return None

    def _is_it(
        self, kind: str, asks: set[str], raw: dict[str, Any], rec: Record, domain: str
    ) -> bool:
        """A lookup's record is ``rec``'s by the value the lookup asked for, not by its say-so."""
        if "external_id" in asks:
            return _carries(raw, rec.external_id)
        convert = getattr(self.hooks, kind, None)
        other = convert(raw, self.ctx) if convert else None
        if other is None:
            return False
        if "email" in asks:
            return same_person(other, getattr(rec, "email", None))
        if "domain" in asks:  # and never one that deskmove made for another of the store's
            theirs = str(raw.get("external_id") or "").casefold()
            prefix = f"{self.adapter.option('external_id_prefix') or 'deskmove'}:{kind}:".casefold()
            mine = not theirs.startswith(prefix) or theirs == rec.external_id.casefold()
            return mine and domain.casefold() in {
                d.casefold() for d in getattr(other, "domains", [])
            }
        return same_name(other, getattr(rec, "name", None))

    # -- creating, crash-safe --------------------------------------------------------------
    def _create(self, kind: str, todo: list[Record]) -> None:
        """Create records in batches: pending, call, done."""
        if not todo:
            return
        if self.dry:
            self.report.created[kind] += len(todo)
            self.ids.put_many([(kind, r.entity_id, DRY_ID, None) for r in todo], "done")
            if kind == "ticket":
                self.ids.put_many(
                    [("message", m.entity_id, DRY_ID, None) for r in todo for m in r.messages],
                    "done",
                )
            return
        ep = self.ep.get(kind, "create")
        if ep is None:
            raise FatalRemoteError(
                f"the {self.adapter.spec.name} spec cannot create {kind}s",
                f"add target.{kind}.create",
            )
        hook = getattr(self.hooks, f"{kind}_payload")
        inflight = None  # a bulk job runs while the next batch is prepared and sent
        for i in range(0, len(todo), ep.batch):
            part = todo[i : i + ep.batch]
            self.ids.put_many([(kind, r.entity_id, None, None) for r in part], "pending")
            sent = (part, self._send(kind, ep, part, [hook(r, self.ctx) for r in part]))
            if not ep.job:  # created already: record it before the next call
                self._finish(kind, *sent)
                continue
            if inflight is not None:
                self._finish(kind, *inflight)
            inflight = sent
        if inflight is not None:
            self._finish(kind, *inflight)

    def _finish(self, kind: str, part: list[Record], sent: Any) -> None:
        """Record a batch's results: created ones done (with their messages), the rest pending."""
        results = self._results(sent)
        done: list[Row] = []
        matched: list[Row] = []
        refused: list[tuple[Record, Any]] = []
        for n, rec in enumerate(part):
            r = results.get(n) or {"id": None, "error": "the job stopped before this item"}
            if r.get("id") and r.get("matched"):  # a bulk create-or-update found it there
                matched.append((kind, rec.entity_id, r["id"], self._hash(rec)))
                self.report.matched[kind] += 1
            elif r.get("id"):
                done += [(kind, rec.entity_id, r["id"], self._hash(rec)), *self._with(rec, r["id"])]
                self.report.created[kind] += 1
            else:
                refused.append((rec, r.get("error")))
        self.ids.put_many(matched, "matched")
        self.ids.put_many(done, "done")
        left = {id(r) for r in self._match(kind, [rec for rec, _e in refused], refused=True)}
        for rec, error in refused:
            if id(rec) in left:  # left pending: the re-run looks it up, then creates it
                self.report.failed[kind] += 1
                self.report.notes.append(
                    f"{kind} {rec.entity_id} was not created: {self._redact(error)}"
                )

    def _hash(self, rec: Record) -> str | None:
        return self._fields_state(rec) if isinstance(rec, TicketPush) else None

    def _with(self, rec: Record, native: str) -> list[Row]:
        """Id-map rows for what went in with a created ticket: its messages."""
        if not isinstance(rec, TicketPush):
            return []
        return [("message", m.entity_id, f"{native}#{m.entity_id}", None) for m in rec.messages]

    def _recover(self, kind: str, todo: list[Record]) -> list[Record]:
        """Entities left ``pending`` by a crash: found by their external id, they are done."""
        if self.dry:
            return todo
        left, found = [], []
        for rec in todo:
            native = (
                self._find(kind, rec) if self.ids.state(kind, rec.entity_id) == "pending" else None
            )
            if native:
                found += [(kind, rec.entity_id, native, self._hash(rec)), *self._with(rec, native)]
                self.report.unchanged[kind] += 1
            else:
                left.append(rec)
        self.ids.put_many(found, "done")
        return left

    def _find(self, kind: str, rec: Record) -> str | None:
        """The target's object carrying this external id (as a field or as a tag)."""
        ep = self.ep.get(kind, "find")
        if ep is None:
            return None
        values = {
            **self._hook_values,
            "external_id": rec.external_id,
            "external_tag": rec.external_id.replace(":", "-"),
            "requester": getattr(rec, "requester", None) or "",
            "email": getattr(rec, "email", None) or "",
            "name": getattr(rec, "name", None) or "",
        }
        for raw in self.ep.records(ep, values):
            if ep.by_external_id or _carries(raw, rec.external_id):
                return str(raw["id"])
        return None

    def _send(
        self, kind: str, ep: EndpointSpec, part: list[Record], payloads: list[dict[str, Any]]
    ) -> Any:
        """One create call: index -> result, or ("job", body) to resolve later."""
        values = dict(self.ctx.options)
        if ep.job:  # a lost answer stops the run: the job may still be running, and the
            # re-run finds what it made before sending the rest again
            body = self.ep.call(ep, values, {ep.wrap or kind: payloads}, once=True)
            return ("job", body)
        out: dict[int, dict[str, Any]] = {}
        findable = self.ep.get(kind, "find") is not None
        for n, (rec, p) in enumerate(zip(part, payloads, strict=True)):
            files = [f for m in getattr(rec, "messages", []) for f in m.files]
            try:
                body, found = self._once(
                    partial(self._post, ep, values, {ep.wrap: p} if ep.wrap else p, files),
                    partial(self._find, kind, rec) if findable else None,
                )
            except RemoteFailure as exc:
                out[n] = {"id": None, "error": exc.message}
                continue
            if found:
                out[n] = {"id": found}
                continue
            obj = body.get(ep.wrap, body) if ep.wrap else body
            out[n] = {"id": str(obj["id"])}
        return out

    def _once(
        self, send: Callable[[], Any], find: Callable[[], str | None] | None
    ) -> tuple[Any, str | None]:
        """A create or append, sent again only when the target shows it did not arrive.

        ``(answer, None)`` once it is sent, or ``(None, id)`` when the work of a call
        whose answer was lost is found there. Without a way to ask (``find`` is None)
        a lost answer stops the run, and the re-run asks by external id where it can."""
        attempts, n = self.adapter.spec.retry.attempts, 0
        while True:
            n += 1
            try:
                return send(), None
            except OutcomeUnknown as exc:
                if find is None:
                    raise
                found = find()
                if found:
                    self.report.notes.append(
                        f"{self._redact(exc.message)}: it had arrived, and was not sent again"
                    )
                    return None, found
                if n >= attempts:
                    raise
                self.adapter.client.backoff(n)

    def _post(
        self, ep: EndpointSpec, values: dict[str, Any], payload: Any, files: list[FilePush]
    ) -> Any:
        """A create with its attachments: multipart/form-data when the target takes them so."""
        if not files or self.hooks.attachments != "multipart":
            return self.ep.call(ep, values, payload, once=True)
        parts = [
            (
                self.hooks.attachment_part,
                (f.filename, self.store.blobs.get(f.sha256), f.content_type),
            )
            for f in files
        ]
        body = self.ep.call(
            ep, values, None, once=True, data=self.hooks.form_fields(payload), files=parts
        )
        self.report.created["attachment"] += len(files)
        return body

    def _results(self, sent: Any) -> dict[int, dict[str, Any]]:
        if not (isinstance(sent, tuple) and sent and sent[0] == "job"):
            return sent
        job = self._wait_job(sent[1])
        return {r["index"]: r for r in self.hooks.job_results(job)}

    def _wait_job(self, body: Any) -> dict[str, Any]:
        """Poll a job until it ends: at once (it ran while the next batch went out), then backing off."""
        job_ep = self.spec_target.job
        job = dig(body, job_ep.records) if job_ep else body
        delay = 0.0
        for _ in range(JOB_POLL_MAX):
            state = self.hooks.job_state(job)
            if state != "running":
                if state == "failed":
                    self.report.notes.append(
                        f"a {self.adapter.spec.name} job failed: {job.get('message') or job.get('status')}"
                    )
                return job
            self.adapter.client._sleep(delay)
            delay = min(max(delay * 2, 0.5), 10.0)
            job = dig(self.ep.call(job_ep, {"id": job["id"]}), job_ep.records)
        raise FatalRemoteError(
            f"a {self.adapter.spec.name} job did not finish",
            "re-run later; finished items are kept",
        )

    # -- tickets ---------------------------------------------------------------------------
    def _tickets(self, chunk: list[dict[str, Any]]) -> None:
        tids = [t["id"] for t in chunk]
        msgs = [m for t in chunk for m in t["messages"]]
        people = {t.get(k) for t in chunk for k in ("requester_id", "assignee_id")} | {
            m.get("author_id") for m in msgs
        }
        self.ids.forget("ticket", "message", "followup", "person", "organization")
        self.ids.load("ticket", tids)
        self.ids.load("followup", tids)
        self.ids.load("message", [m["id"] for m in msgs])
        self.ids.load("person", people)
        self.ids.load("organization", [t.get("organization_id") for t in chunk])
        self.emails = pushread.emails(self.store, {p for p in people if p is not None})
        todo: list[Record] = []
        rest: dict[int, dict[str, Any]] = {}
        for t in chunk:
            rec = self._ticket(t)
            native = self.ids.resolved("ticket", t["id"])
            if native:
                appended = self._append(t, rec, native)
                if self._sync_fields(rec, native) or appended:
                    self.report.updated["ticket"] += 1
                    self.left_out.update(set(rec.left_out))
                else:
                    self.report.unchanged["ticket"] += 1
                continue
            self.left_out.update(set(rec.left_out))
            todo.append(rec)
            rest[t["id"]] = t
        todo = self._recover("ticket", todo)
        if not self.dry and self.hooks.attachments == "upload":  # after recovery: never twice
            self._upload([f for r in todo for m in getattr(r, "messages", []) for f in m.files])
        self._create("ticket", todo)
        if self.hooks.inline_messages is not None:
            for eid, t in rest.items():  # the messages that did not go in with the ticket
                native = self.ids.resolved("ticket", eid)
                if native:
                    rec = self._ticket(t)
                    if (
                        self._append(t, rec, native, created=True)
                        and self.hooks.replies_change_status
                    ):
                        self._sync_fields(rec, native)

    def _ticket(self, t: dict[str, Any]) -> TicketPush:
        """The typed record of one stored ticket, with the target's ids and values."""
        left: list[str] = []

        def native(kind: str, value: Any) -> Any:
            out, why = self.ctx.mapping.to_native(kind, value, self.index.allowed.get(kind))
            if why:
                left.append(why)
            return out

        rec = TicketPush(
            entity_id=t["id"],
            external_id=self._external_id("ticket", t["id"]),
            subject=t.get("subject"),
            status=native("status", t.get("status")),
            priority=native("priority", t.get("priority")),
            type=native("type", t.get("type")),
            channel=native("channel", t.get("channel")),
            tags=list(t.get("tags") or []),
            custom_fields=dict(t.get("custom_fields") or {}),
            created_at=t.get("created_at"),
            updated_at=t.get("updated_at"),
            solved_at=t.get("solved_at"),
            canonical_status=t.get("status"),
            left_out=left,
            organization=self._real(self.ids.resolved("organization", t.get("organization_id"))),
        )
        rec.requester = self._real(self.ids.resolved("person", t.get("requester_id")))
        self.original_assignee = None
        rec.assignee = self._assignee(t, left)
        rec.original_assignee = self.original_assignee
        if t.get("group_id") is not None:
            rec.group = self.group_native.get(t["group_id"])
            if rec.group is None:
                left.append(
                    f"group '{self.group_names.get(t['group_id'])}' is not in the target; "
                    "left out (?groups=create creates it)"
                )
        budget = [self.hooks.attachment_limit]
        inline = self.hooks.inline_messages
        for n, m in enumerate(t["messages"]):
            mp = self._message(m, rec, budget, left)
            if inline is None or n < inline:
                rec.messages.append(mp)
        if not rec.requester:  # a helpdesk needs one: the first author it knows
            rec.requester = (
                next((m.author for m in rec.messages if not m.stand_in), None)
                or self._fallback_author()
            )
        return rec

    def _real(self, native: str | None) -> str | None:
        return None if native == DRY_ID and not self.dry else native

    def _assignee(self, t: dict[str, Any], left: list[str]) -> str | None:
        pid = t.get("assignee_id")
        if pid is None:
            return None
        email = self.emails.get(pid)
        agent = self.index.agent(self.ctx.mapping.agent_email(email))
        if agent is None:
            label = pushread.labels(self.store, {pid}).get(pid, f"person {pid}")
            left.append(
                f"assignee {label} is not an agent in the target; left unassigned "
                "(map them under `agents:` in the mapping file)"
            )
            self.original_assignee = label
        return agent

    def _message(
        self, m: dict[str, Any], ticket: TicketPush, budget: list[int | None], left: list[str]
    ) -> MessagePush:
        author = self._real(self.ids.resolved("person", m.get("author_id")))
        email = self.emails.get(m.get("author_id")) if m.get("author_id") else None
        agent = self.index.agent(self.ctx.mapping.agent_email(email))
        out = MessagePush(
            entity_id=m["id"],
            author=author or self._fallback_author(),
            author_label=m.get("author_label"),
            stand_in=author is None,
            public=bool(m.get("public", True)),
            direction=m.get("direction"),
            created_at=m.get("created_at"),
            body_text=m.get("body_text"),
            body_html=m.get("body_html"),
            author_is_agent=author is not None and agent == author,
        )
        for a in m.get("attachments") or []:
            f = FilePush(
                a["sha256"],
                a.get("filename") or "attachment",
                a.get("content_type") or "application/octet-stream",
                int(a.get("size") or 0),
            )
            if budget[0] is not None and f.size > budget[0]:
                out.files_left_out.append(f.filename)
                why = (
                    f"attachment over the target's limit of {self.hooks.attachment_limit:,} "
                    "bytes per ticket; named in the message body, not sent"
                )
                left.append(why)
                seen, example = (
                    self.examples[why],
                    (f"ticket {ticket.entity_id}: '{f.filename}', {f.size:,} bytes"),
                )
                if len(seen) < 3 and example not in seen:
                    seen.append(example)
                continue
            if budget[0] is not None:
                budget[0] -= f.size
            out.files.append(f)
        return out

    def _fallback_author(self) -> str:
        """Who signs a message whose author is not in the target: an option, else the API user."""
        configured = self.adapter.option("fallback_author_id")
        if configured:
            return configured
        if self._fallback is None:
            ep = self.ep.get("person", "me")
            me = self.adapter.me or None  # asked by check() before the run
            if me is None and ep:
                me = dig(self.ep.call(ep, {}), ep.records)
            self._fallback = str(me) if me else ""
            self.report.notes.append(
                "messages whose author is not in the target are signed by the API user"
            )
        return self._fallback

    def _upload(self, files: list[FilePush]) -> None:
        ep = self.spec_target.upload
        if not files:
            return
        if ep is None:
            raise FatalRemoteError(
                f"the {self.adapter.spec.name} spec cannot send attachments", "add target.upload"
            )
        for f in files:
            values = {"filename": f.filename}
            params = {k: fmt(v, values) for k, v in ep.params.items()}
            _r, body = self.adapter.client.json(
                ep.method,
                fmt(ep.path, values),
                params=params,
                content=self.store.blobs.get(f.sha256),
                headers={"Content-Type": f.content_type},
            )
            f.token = str(dig(body, ep.records))
            self.report.created["attachment"] += 1

    # -- delta: new messages, field changes ------------------------------------------------
    def _append(
        self, t: dict[str, Any], rec: TicketPush, native: str, created: bool = False
    ) -> bool:
        """Messages the target has not seen go onto the pushed ticket.

        A solved ticket is reopened by the update that carries a new inbound
        message; a closed one gets a follow-up ticket, where later messages go too.
        """
        new = [m for m in t["messages"] if not self.ids.resolved("message", m["id"])]
        ep = self.ep.get("message", "append")
        if not new or ep is None:
            return False
        budget = [self.hooks.attachment_limit]
        pushes = {m["id"]: self._message(m, rec, budget, rec.left_out) for m in t["messages"]}
        if self.dry:
            self.report.created["message"] += len(new)
            return True
        native = self._current(t, native)
        new = [m for m in new if not self.ids.resolved("message", m["id"])]
        if new and self.hooks.replies_change_status:  # the fields go out again after these
            self.ids.set_hash("ticket", t["id"], native, "")
        status = None if created else self._status(native)
        reopen = status in self.hooks.reopen_from
        listable = bool(self.ep.get("message", "find") or self.ep.get("message", "list"))
        for m in new:
            mp = pushes[m["id"]]
            if self.hooks.attachments == "upload":
                self._upload(mp.files)
            payload = self.hooks.append_payload(mp, self.ctx)
            found = (
                self._appended(native, payload)
                if self.ids.state("message", m["id"]) == "pending"
                else None
            )
            if found:  # a crash came between the call and its id-map write: it is there
                self.ids.put_many([("message", m["id"], found, None)], "done")
                self.report.unchanged["message"] += 1
                continue
            if status in self.hooks.followup_from:
                native, status = self._followup(t, rec, native, m, payload), None
                continue
            if reopen and m.get("direction") == "inbound":
                payload, reopen = self.hooks.reopen(payload), False
                self.report.notes.append(f"ticket {t['id']} reopened in the target by a reply")
            self.ids.put_many([("message", m["id"], None, None)], "pending")
            internal = None if mp.public else self.ep.get("message", "append_internal")
            body, found = self._once(
                partial(self._post, internal or ep, {"id": native}, payload, mp.files),
                partial(self._appended, native, payload) if listable else None,
            )
            if found:
                self.ids.put_many([("message", m["id"], found, None)], "done")
                self.report.unchanged["message"] += 1
                continue
            self.ids.put_many([("message", m["id"], _message_id(body, native), None)], "done")
            self.report.created["message"] += 1
        return True

    def _status(self, native: str) -> str | None:
        """The target's status of a ticket, when the spec can reopen or follow one up."""
        show = self.ep.get("ticket", "show")
        if show is None or not self.hooks.can_reopen:
            return None
        ticket = pick(self.ep.call(show, {"id": native}), show.records)
        return (ticket or {}).get("status")

    def _followup_ext(self, t: dict[str, Any], closed: str) -> str:
        return f"{self._external_id('ticket', t['id'])}:followup:{closed}"

    def _current(self, t: dict[str, Any], native: str) -> str:
        """Where a ticket's new messages go: its follow-up when the original was closed.

        A follow-up left ``pending`` (its native id is the closed ticket, its hash
        the message it carries) is looked up by external id after a crash.
        """
        hit = self.ids.get("followup", t["id"])
        if not hit or hit[0] is None:
            return native
        if hit[2] == "done":
            return hit[0]
        found = self._find_followup(self._followup_ext(t, hit[0]))
        if not found:
            return hit[0]  # not created: the closed ticket still decides
        mid = int(hit[1]) if hit[1] else None
        rows: list[Row] = [("followup", t["id"], found, None)]
        rows += [("message", mid, f"{found}#{mid}", None)] if mid is not None else []
        self.ids.put_many(rows, "done")
        return found

    def _followup(
        self,
        t: dict[str, Any],
        rec: TicketPush,
        closed: str,
        m: dict[str, Any],
        payload: dict[str, Any],
    ) -> str:
        """A closed ticket takes no update: a follow-up ticket carries the message."""
        ep = self.ep.get("ticket", "followup")
        if ep is None:
            raise FatalRemoteError(
                f"ticket {closed} is closed in {self.adapter.spec.name} and the spec has no follow-up",
                "add target.ticket.followup to the spec",
            )
        ext = self._followup_ext(t, closed)
        self.ids.put_many(
            [("followup", t["id"], closed, str(m["id"])), ("message", m["id"], None, None)],
            "pending",
        )
        body, found = self._once(
            partial(
                self.ep.call,
                ep,
                {},
                self.hooks.followup_payload(payload, closed, rec, ext, self.ctx),
                once=True,
            ),
            partial(self._find_followup, ext) if self.ep.get("ticket", "find") else None,
        )
        fid = found or str(dig(body, "ticket.id"))
        self.ids.put_many(
            [("followup", t["id"], fid, None), ("message", m["id"], f"{fid}#{m['id']}", None)],
            "done",
        )
        self.report.created["message"] += 1
        self.report.notes.append(
            f"ticket {t['id']}: {closed} is closed in the target; follow-up {fid} carries its new messages"
        )
        return fid

    def _find_followup(self, ext: str) -> str | None:
        """The follow-up ticket carrying this external id, if the target has it."""
        ep = self.ep.get("ticket", "find")
        return next(
            (
                str(r["id"])
                for r in (self.ep.records(ep, {"external_id": ext}) if ep else [])
                if _carries(r, ext)
            ),
            None,
        )

    def _fields_state(self, rec: TicketPush) -> str:
        """The pushed hash of a ticket: the fields a delta push keeps in step, as JSON."""
        fn = self.hooks.ticket_fields
        return (
            ""
            if fn is None
            else json.dumps(fn(rec, self.ctx), sort_keys=True, separators=(",", ":"))
        )

    def _sync_fields(self, rec: TicketPush, native: str) -> bool:
        """Status, tags, assignee or group changed in the store: one update with only those."""
        fn, ep = self.hooks.ticket_fields, self.ep.get("ticket", "update")
        if fn is None or ep is None:
            return False
        fields = fn(rec, self.ctx)
        pushed = (self.ids.get("ticket", rec.entity_id) or (None, None, ""))[1]
        try:
            before = json.loads(pushed) if pushed else {}
        except ValueError:
            before = {}
        missing = object()
        diff = {k: v for k, v in fields.items() if before.get(k, missing) != v}
        if not diff:
            return False
        if not self.dry:
            where = self.ids.resolved("followup", rec.entity_id) or native
            try:
                self.ep.call(ep, {"id": where}, self.hooks.update_payload(diff, self.ctx))
            except RemoteFailure as exc:
                if exc.status != 422:
                    raise
                self.report.notes.append(
                    f"ticket {rec.entity_id}: the target refused {sorted(diff)}: "
                    f"{self._redact(exc.message)}"
                )
            self.ids.set_hash("ticket", rec.entity_id, native, self._fields_state(rec))
        return True

    def _appended(self, native: str, payload: dict[str, Any]) -> str | None:
        """The target's message that an interrupted append made: same author, body and flag."""
        listing = self.ep.get("message", "find") or self.ep.get("message", "list")
        if listing is None or not payload:
            return None
        taken = {v[0] for v in self.ids.rows["message"].values() if v[2] == "done"}
        for c in pick(self.ep.call(listing, {"id": native}), listing.records) or []:
            mid = self.hooks.listed_id(c)
            if mid not in taken and self.hooks.same_message(c, payload):
                return mid
        return None


def _carries(raw: dict[str, Any], external_id: str) -> bool:
    """A target record that holds this external id (a field, or the tag made of it)."""
    tag = external_id.replace(":", "-")
    held = {str(raw.get(k) or "").casefold() for k in ("external_id", "unique_external_id")}
    return external_id.casefold() in held or tag in (raw.get("tags") or [])


def _message_id(body: Any, ticket_native: str) -> str:
    for ev in dig(body, "audit.events") or []:
        if ev.get("type") == "Comment":
            return str(ev["id"])
    return str((body or {}).get("id") or f"{ticket_native}#appended")


# -- verify and rollback --------------------------------------------------------------------
def fetch_ticket(adapter: RestTarget, native_id: str) -> RemoteTicket | None:
    ep = Endpoints(adapter)
    show, listing = ep.get("ticket", "show"), ep.get("message", "list")
    if show is None:
        raise NotSupported(f"the {adapter.spec.name} target cannot be verified")
    try:
        ticket = pick(ep.call(show, {"id": native_id}), show.records)
    except RemoteFailure as exc:
        if exc.status == 404:
            return None
        raise
    messages: list[RemoteMessage] = []
    first = adapter.hooks.remote_description
    if first is not None and ticket:  # a ticket whose first message is its own body
        desc = first(ticket)
        messages += [desc] if desc is not None else []
    if listing is not None:
        for tid in [native_id, *_our_followups(ep, show, ticket, native_id)]:
            for raw in pick(ep.call(listing, {"id": tid}), listing.records) or []:
                messages.append(adapter.hooks.remote_message(raw))
    elif adapter.hooks.remote_record is not None:
        messages = [adapter.hooks.remote_record(m) for m in _read_back(adapter, native_id)]
    field = adapter.hooks.status_field
    status = adapter.mapping.canonical("status", ticket.get(field)) if ticket else None
    return RemoteTicket(native_id, status, messages)


def _read_back(adapter: RestTarget, native_id: str) -> list[Any]:
    """A ticket's messages through the spec's read side (its per-ticket message streams),
    for a target whose messages are made of several listings (RT: history + attachments)."""
    from deskmove.rest.streams import read_stream

    adapter.ctx.client = adapter.client
    history = adapter.hooks.ticket_history
    records: dict[str, list[dict[str, Any]]] = {}
    out: list[Any] = []
    for name, s in adapter.streams().items():
        if s.kind == "message" and s.per_ticket:
            convert = None if history else getattr(adapter.hooks, s.hook or "message")
            for page in read_stream(adapter.client, s, None, path_args={"ticket_id": native_id}):
                records.setdefault(name, []).extend(page.records)
                if convert is not None:
                    out += [
                        d.message
                        for raw in page.records
                        for d in convert(raw, adapter.ctx, native_id)
                    ]
    if history is not None:
        out += [d.message for d in history(records, adapter.ctx, native_id)]
    return out


def _our_followups(ep: Endpoints, show: EndpointSpec, ticket: Any, native_id: str) -> list[str]:
    """Follow-ups deskmove made of a closed ticket: they hold the rest of its messages."""
    out = []
    for fid in (ticket or {}).get("followup_ids") or []:
        follow = pick(ep.call(show, {"id": fid}), show.records) or {}
        if str(follow.get("external_id") or "").endswith(f":followup:{native_id}"):
            out.append(str(fid))
    return out


def delete(adapter: RestTarget, kind: str, native_id: str) -> None:
    ep = Endpoints(adapter)
    spec = ep.get("ticket" if kind == "followup" else kind, "delete")  # a follow-up is a ticket
    if spec is None:
        raise NotSupported(f"the {adapter.spec.name} target cannot delete {kind}s")
    try:
        adapter.client.request(spec.method, fmt(spec.path, {"id": native_id}))
    except DeskmoveError as exc:
        if isinstance(exc, RemoteFailure) and exc.status == 404:
            return
        raise
