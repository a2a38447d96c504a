"""The write side of every REST spec: store -> organizations, people, tickets, messages.

Crash safety (DESIGN.md rule 3): before a create call, each entity's id-map
entry is written as ``pending``; after the call, ``done`` with the new id. A
re-run first looks every ``pending`` entity up by its ``external_id`` (the
canonical provenance), so a crash between the call and the id-map write never
makes a duplicate. Messages of an already-pushed ticket are appended (delta):
a solved ticket is reopened by a customer's reply, a closed one gets a
follow-up ticket (id-map kind ``followup``). Status, tags and assignee changed
in the store since the push go out as one update; the ticket's pushed hash holds
the fields last sent (JSON), so a re-run sends nothing.
"""

from __future__ import annotations

import json
import string
from typing import TYPE_CHECKING, Any

from deskmove.errors import DeskmoveError, FatalRemoteError, NotSupported
from deskmove.model import IdMap
from deskmove.rest.http import RemoteFailure
from deskmove.rest.paginate import dig, pick
from deskmove.store import content_hash, pushread
from deskmove.targets.base import PushReport, RemoteMessage, RemoteTicket

if TYPE_CHECKING:
    from deskmove.rest.adapter import RestTarget
    from deskmove.rest.spec import EndpointSpec
    from deskmove.store import Store, TicketScope

JOB_POLL_MAX = 600  # polls of one job before giving up
# id-map states that name a target object: created by deskmove, or already there and reused
# ("matched": rollback forgets it and never deletes it)
RESOLVED = ("done", "matched")


def _fmt(template: Any, values: dict[str, Any]) -> str:
    return str(template).format(**values)


class Endpoints:
    """Calls the target section's endpoints with {placeholders} filled in."""

    def __init__(self, adapter: RestTarget) -> None:
        self.a = adapter
        self.t = adapter.spec.target
        assert self.t is not None

    def get(self, kind: str, name: str) -> EndpointSpec | None:
        return getattr(self.t, kind).get(name)

    def call(self, ep: EndpointSpec, values: dict[str, Any], body: Any = None, **kw: Any) -> Any:
        params = {k: _fmt(v, values) for k, v in ep.params.items()}
        _resp, data = self.a.client.json(
            ep.method, _fmt(ep.path, values), params=params, json=body, **kw
        )
        return data

    def find(self, kind: str, values: dict[str, Any]) -> str | None:
        ep = self.get(kind, "find")
        if ep is None:
            return None
        records = pick(self.call(ep, values), ep.records) or []
        return str(records[0]["id"]) if records else None


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
    ) -> None:
        self.a = adapter
        self.only = only
        self.hooks = adapter.hooks
        self.ctx = adapter.ctx
        self.ep = Endpoints(adapter)
        self.t = self.ep.t
        self.store = store
        self.run_id = run_id
        self.dry = dry_run
        self.conn = adapter.ctx.conn.name
        self.report = PushReport(dry_run=dry_run)
        self.ids: dict[str, dict[int, tuple[str | None, str | None, str]]] = {}
        for key in ("archive_immediately", "agents"):
            self.ctx.options.setdefault(key, adapter.option(key))
        self._fallback: str | None = None

    def run(self) -> PushReport:
        self.report.notes += getattr(self.hooks, "push_notes", lambda ctx: [])(self.ctx)
        for kind in ("organization", "person", "agent", "ticket"):
            self.ids[kind] = self.store.id_map(self.conn, kind)
        self.ids["message"] = {}  # read per chunk of tickets: memory stays flat
        scope = self.only
        orgs = pushread.organizations(self.store, only=scope and scope.organizations)
        self._named("organization", orgs, self._org_item)
        people = pushread.people(self.store, only=scope and scope.people)
        self._named("person", people, self._person_item)
        # A sample pushes its tickets; otherwise only what moved since the last push (delta).
        only = scope.tickets if scope else self.store.changed_ticket_ids(self.conn)
        for chunk in pushread.tickets(self.store, max(self._batch("ticket"), 50), only):
            self._tickets(chunk)
        return self.report

    # -- the id map ---------------------------------------------------------------------
    def _done(self, kind: str, eid: int) -> str | None:
        """The target's id of an entity deskmove created there or matched to one it had."""
        hit = self.ids[kind].get(eid)
        return hit[0] if hit and hit[2] in RESOLVED else None

    def _put(self, kind: str, eid: int, native: str | None, h: str | None, state: str) -> None:
        self.store.map_put(
            self.conn, kind, eid, native, pushed_hash=h, state=state, run_id=self.run_id
        )
        self.ids[kind][eid] = (native, h, state)

    def _put_many(self, rows: list[tuple[str, int, str | None, str | None]], state: str) -> None:
        self.store.map_put_many(self.conn, rows, state=state, run_id=self.run_id)
        for kind, eid, native, h in rows:
            self.ids[kind][eid] = (native, h, state)

    def _external_id(self, kind: str, eid: int) -> str:
        prefix = self.a.option("external_id_prefix") or "deskmove"
        return f"{prefix}:{kind}:{eid}"

    def _batch(self, kind: str) -> int:
        ep = self.ep.get(kind, "create")
        return ep.batch if ep else 100

    # -- organizations and people -------------------------------------------------------------
    def _org_item(self, o: dict[str, Any]) -> dict[str, Any]:
        return {**o, "external_id": self._external_id("organization", o["id"])}

    def _person_item(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self._done("organization", p["organization_id"]) if p.get("organization_id") else None
        return {
            **p,
            "external_id": self._external_id("person", p["id"]),
            "organization_native": org,
        }

    def _named(self, kind: str, chunks: Any, item: Any) -> None:
        hook = getattr(self.hooks, f"{kind}_payload")
        for chunk in chunks:
            todo = []
            for row in chunk:
                it = item(row)
                h = content_hash(hook(it, self.ctx))
                hit = self.ids[kind].get(row["id"])
                if hit and hit[2] in RESOLVED:
                    self.report.unchanged[kind] += 1  # created or matched before; not updated
                else:
                    todo.append((row["id"], it, h))
            self._create(kind, self._match(kind, todo), hook)

    def _match(
        self, kind: str, todo: list[tuple[int, dict[str, Any], str]]
    ) -> list[tuple[int, dict[str, Any], str]]:
        """Reuse what the target already has (its ``match_*`` lookups, in order): a contact
        or an agent with the same e-mail, an organization with the same name."""
        lookups = [ep for name, ep in getattr(self.t, kind).items() if name.startswith("match")]
        if not lookups or self.dry:
            return todo
        left, found = [], []
        for eid, it, h in todo:
            hit = self.ids[kind].get(eid)
            native, agent = (
                (None, False) if hit and hit[2] == "pending" else self._lookup(kind, lookups, it)
            )
            if native is None:
                left.append((eid, it, h))
                continue
            found.append((kind, eid, native, h))
            if agent:
                found.append(("agent", eid, native, None))
            self.report.matched[kind] += 1
        self._put_many(found, "matched")
        return left

    def _lookup(
        self, kind: str, lookups: list[EndpointSpec], it: dict[str, Any]
    ) -> tuple[str | None, bool]:
        values = self._find_values(it)
        convert = getattr(self.hooks, kind)
        for ep in lookups:
            used = {f for v in [ep.path, *ep.params.values()] for f in _fields(str(v))}
            if any(not values.get(f) for f in used):
                continue
            for raw in pick(self.ep.call(ep, values), ep.records) or []:
                rec = convert(raw, self.ctx)
                if rec is not None and _same(kind, rec, it):
                    return str(raw["id"]), getattr(rec, "role", None) == "agent"
        return None, False

    # -- creating, crash-safe ---------------------------------------------------------------------
    def _create(self, kind: str, todo: list[tuple[int, dict[str, Any], str]], hook: Any) -> None:
        """Create ``(entity id, item, hash)``s in batches: pending, call, done."""
        if not todo:
            return
        if self.dry:
            self.report.created[kind] += len(todo)
            return
        todo = self._recover(kind, todo)
        ep = self.ep.get(kind, "create")
        if ep is None:
            raise FatalRemoteError(
                f"the {self.a.spec.name} spec cannot create {kind}s", "add target.{kind}.create"
            )
        inflight = None  # a bulk job runs while the next batch is prepared and sent
        for i in range(0, len(todo), ep.batch):
            part = todo[i : i + ep.batch]
            self._put_many([(kind, eid, None, None) for eid, _it, _h in part], "pending")
            sent = (part, self._send(kind, ep, [hook(it, self.ctx) for _e, it, _h in part]))
            if not ep.job:  # created already: record it before the next call
                self._finish(kind, *sent)
                continue
            if inflight is not None:
                self._finish(kind, *inflight)
            inflight = sent
        if inflight is not None:
            self._finish(kind, *inflight)

    def _finish(self, kind: str, part: list[tuple[int, dict[str, Any], str]], sent: Any) -> None:
        """Record a batch's results: created ones done (with their messages), the rest pending."""
        results = self._results(sent)
        done: list[tuple[str, int, str | None, str | None]] = []
        for n, (eid, it, h) in enumerate(part):
            native, error = results.get(n, (None, "the job stopped before this item"))
            if native:
                done += [(kind, eid, native, h), *self._created(kind, it, native)]
                self.report.created[kind] += 1
            else:  # left pending: the re-run looks it up, then creates it
                self.report.failed[kind] += 1
                self.report.notes.append(
                    f"{kind} {eid} was not created: {self.a.client.redact(str(error))[:200]}"
                )
        self._put_many(done, "done")

    def _created(
        self, kind: str, item: dict[str, Any], native: str
    ) -> list[tuple[str, int, str | None, str | None]]:
        """Id-map rows for what went in with a created ticket: its messages."""
        if kind != "ticket":
            return []
        return [("message", m, f"{native}#{m}", None) for m in item.get("_pushed_messages", [])]

    def _recover(
        self, kind: str, todo: list[tuple[int, dict[str, Any], str]]
    ) -> list[tuple[int, dict[str, Any], str]]:
        """Entities left ``pending`` by a crash: found by external_id, they are done."""
        left, found = [], []
        for eid, it, h in todo:
            hit = self.ids[kind].get(eid)
            native = (
                self.ep.find(kind, self._find_values(it)) if hit and hit[2] == "pending" else None
            )
            if native:
                found += [(kind, eid, native, h), *self._created(kind, it, native)]
                self.report.unchanged[kind] += 1
            else:
                left.append((eid, it, h))
        self._put_many(found, "done")
        return left

    def _find_values(self, it: dict[str, Any]) -> dict[str, Any]:
        ext = it["external_id"]
        return {"external_id": ext, "external_tag": ext.replace(":", "-"),
                "email": it.get("email") or "", "name": it.get("name") or ""}  # fmt: skip

    def _send(self, kind: str, ep: EndpointSpec, payloads: list[dict[str, Any]]) -> Any:
        """One create call: index -> (native id, error), or ("job", body) to resolve later."""
        values = dict(self.ctx.options)
        if not ep.job:
            out: dict[int, tuple[str | None, Any]] = {}
            for n, p in enumerate(payloads):
                try:
                    body = self.ep.call(ep, values, {ep.wrap: p} if ep.wrap else p)
                except RemoteFailure as exc:
                    out[n] = (None, exc.message)
                    continue
                obj = body.get(ep.wrap, body) if ep.wrap else body
                out[n] = (str(obj["id"]), None)
            return out
        body = self.ep.call(ep, values, {ep.wrap or kind: payloads})
        return ("job", body)

    def _results(self, sent: Any) -> dict[int, tuple[str | None, Any]]:
        if not (isinstance(sent, tuple) and sent and sent[0] == "job"):
            return sent
        job = self._wait_job(sent[1])
        return {r["index"]: (r["id"], r["error"]) for r in self.hooks.job_results(job)}

    def _wait_job(self, body: Any) -> dict[str, Any]:
        """Poll a job until it ends: at once (it ran while the next batch went out), then backing off."""
        job_ep = self.t.job
        job = dig(body, job_ep.records) if job_ep else body
        delay = 0.0
        for _ in range(JOB_POLL_MAX):
            state = self.hooks.job_state(job)
            if state != "running":
                if state == "failed":
                    self.report.notes.append(
                        f"a {self.a.spec.name} job failed: {job.get('message') or job.get('status')}"
                    )
                return job
            self.a.client._sleep(delay)
            delay = min(max(delay * 2, 0.5), 10.0)
            job = dig(self.ep.call(job_ep, {"id": job["id"]}), job_ep.records)
        raise FatalRemoteError(
            f"a {self.a.spec.name} job did not finish", "re-run later; finished items are kept"
        )

    # -- tickets --------------------------------------------------------------------------------
    def _tickets(self, chunk: list[dict[str, Any]]) -> None:
        mids = [m["id"] for t in chunk for m in t["messages"]]
        self.ids["message"] = self.store.id_map_for(self.conn, "message", mids)
        self.ids["followup"] = self.store.id_map_for(
            self.conn, "followup", [t["id"] for t in chunk]
        )
        todo = []
        for t in chunk:
            native = self._done("ticket", t["id"])
            if native:
                appended = self._append(t, native)
                if self._sync_fields(t, native) or appended:
                    self.report.updated["ticket"] += 1
                else:
                    self.report.unchanged["ticket"] += 1
                continue
            todo.append((t["id"], self._ticket_item(t), self._fields_state(t)))
        self._create("ticket", todo, self._ticket_payload)
        if not self.dry and getattr(self.hooks, "INLINE_MESSAGES", None) is not None:
            for t in chunk:  # the messages that did not go in with the ticket
                native = self._done("ticket", t["id"])
                if native and any(eid == t["id"] for eid, _i, _h in todo):
                    self._append(t, native, created=True)

    def _ticket_payload(self, it: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return self.hooks.ticket_payload(it, ctx)

    def _ticket_item(self, t: dict[str, Any]) -> dict[str, Any]:
        inline = getattr(self.hooks, "INLINE_MESSAGES", None)
        msgs = t["messages"] if inline is None else t["messages"][:inline]
        it = {**t, "external_id": self._external_id("ticket", t["id"])}
        for key, col in (("requester_id", "requester_id"), ("assignee_id", "assignee_id")):
            it[key] = self._done("person", t[col]) if t.get(col) else None
        it["organization_id"] = (
            self._done("organization", t["organization_id"]) if t.get("organization_id") else None
        )
        it["group_id"] = None
        it["messages"] = [self._message_item(m, it) for m in msgs]
        if not it["requester_id"] and not self.dry:  # a helpdesk needs one: the first author
            it["requester_id"] = next(
                (m["author_id"] for m in it["messages"] if m["original_author"] is None), None
            ) or self._fallback_author(it)
        it["_pushed_messages"] = [m["id"] for m in msgs]
        return it

    def _message_item(self, m: dict[str, Any], ticket: dict[str, Any]) -> dict[str, Any]:
        author = self._done("person", m["author_id"]) if m.get("author_id") else None
        out = {**m, "author_id": author or self._fallback_author(ticket)}
        out["original_author"] = None if author else m.get("author_id")
        if m["attachments"] and not self.dry:
            out["uploads"] = [self._upload(a) for a in m["attachments"]]
        return out

    def _fallback_author(self, ticket: dict[str, Any]) -> str:
        """Who signs a message whose author is not in the target: an option, else the API user."""
        configured = self.a.option("fallback_author_id")
        if configured:
            return configured
        if self._fallback is None:
            ep = self.ep.get("person", "me")
            me = self.a.me or None  # asked by check() before the run
            if me is None and ep and not self.dry:
                me = dig(self.ep.call(ep, {}), ep.records)
            self._fallback = str(me) if me else (ticket.get("requester_id") or "")
            self.report.notes.append(
                "messages whose author is not in the target are signed by the API user"
            )
        return self._fallback

    def _upload(self, att: dict[str, Any]) -> str:
        ep = self.t.upload
        assert ep is not None
        data = self.store.blobs.get(att["sha256"])
        values = {"filename": att.get("filename") or "attachment"}
        params = {k: _fmt(v, values) for k, v in ep.params.items()}
        _r, body = self.a.client.json(ep.method, _fmt(ep.path, values), params=params, content=data,
                                      headers={"Content-Type": att.get("content_type") or "application/octet-stream"})  # fmt: skip
        self.report.created["attachment"] += 1
        return str(dig(body, ep.records))

    def _append(self, t: dict[str, Any], native: str, created: bool = False) -> bool:
        """A delta push: messages the target has not seen go onto the pushed ticket.

        A solved ticket is reopened by the update that carries a new inbound
        message; a closed one gets a follow-up ticket, where later messages go too.
        """
        new = [m for m in t["messages"] if not self._done("message", m["id"])]
        ep = self.ep.get("message", "append")
        if not new or ep is None:
            return False
        item = {
            **t,
            "requester_id": self._done("person", t["requester_id"])
            if t.get("requester_id")
            else None,
        }
        if self.dry:
            self.report.created["message"] += len(new)
            return True
        native = self._current(t, native)
        new = [m for m in new if not self._done("message", m["id"])]
        status = None if created else self._status(native)
        reopen = status in getattr(self.hooks, "REOPEN_FROM", ())
        for m in new:
            payload = self.hooks.append_payload(self._message_item(m, item), self.ctx)
            hit = self.ids["message"].get(m["id"])
            found = self._appended(native, payload) if hit and hit[2] == "pending" else None
            if found:  # a crash came between the call and its id-map write: it is there
                self._put("message", m["id"], found, None, "done")
                self.report.unchanged["message"] += 1
                continue
            if status in getattr(self.hooks, "FOLLOWUP_FROM", ()):
                native, status = self._followup(t, item, native, m, payload), None
                continue
            if reopen and m.get("direction") == "inbound":
                payload, reopen = self.hooks.reopen(payload), False
                self.report.notes.append(f"ticket {t['id']} reopened in the target by a reply")
            self._put("message", m["id"], None, None, "pending")
            body = self.ep.call(ep, {"id": native}, payload)
            self._put("message", m["id"], _message_id(body, native), None, "done")
            self.report.created["message"] += 1
        return True

    # -- active conversations: closed targets, field changes ---------------------------------
    def _status(self, native: str) -> str | None:
        """The target's status of a ticket, when the spec can reopen or follow one up."""
        show = self.ep.get("ticket", "show")
        if show is None or not hasattr(self.hooks, "REOPEN_FROM"):
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
        hit = self.ids["followup"].get(t["id"])
        if not hit or hit[0] is None:
            return native
        if hit[2] == "done":
            return hit[0]
        found = self.ep.find("ticket", {"external_id": self._followup_ext(t, hit[0])})
        if not found:
            return hit[0]  # not created: the closed ticket still decides
        mid = int(hit[1]) if hit[1] else None
        rows = [("followup", t["id"], found, None)]
        rows += [("message", mid, f"{found}#{mid}", None)] if mid is not None else []
        self._put_many(rows, "done")
        return found

    def _followup(
        self, t: dict[str, Any], item: dict[str, Any], closed: str, m: dict[str, Any],
        payload: dict[str, Any],
    ) -> str:  # fmt: skip
        """A closed ticket takes no update: a follow-up ticket carries the message."""
        ep = self.ep.get("ticket", "followup")
        if ep is None:
            raise FatalRemoteError(
                f"ticket {closed} is closed in {self.a.spec.name} and the spec has no follow-up",
                "add target.ticket.followup to the spec",
            )
        ext = self._followup_ext(t, closed)
        self._put_many([("followup", t["id"], closed, str(m["id"])),
                        ("message", m["id"], None, None)], "pending")  # fmt: skip
        body = self.ep.call(
            ep, {}, self.hooks.followup_payload(payload, closed, {**item, "followup_external_id": ext}, self.ctx)
        )  # fmt: skip
        fid = str(dig(body, "ticket.id"))
        self._put_many(
            [("followup", t["id"], fid, None), ("message", m["id"], f"{fid}#{m['id']}", None)], "done"
        )  # fmt: skip
        self.report.created["message"] += 1
        self.report.notes.append(
            f"ticket {t['id']}: {closed} is closed in the target; follow-up {fid} carries its new messages"
        )
        return fid

    def _fields(self, t: dict[str, Any]) -> dict[str, Any] | None:
        hook = getattr(self.hooks, "ticket_fields", None)
        if hook is None:
            return None
        assignee = self._done("person", t["assignee_id"]) if t.get("assignee_id") else None
        return hook({**t, "assignee_native": assignee}, self.ctx)

    def _fields_state(self, t: dict[str, Any]) -> str:
        """The pushed hash of a ticket: the fields a delta push keeps in step, as JSON."""
        fields = self._fields(t)
        return "" if fields is None else json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def _sync_fields(self, t: dict[str, Any], native: str) -> bool:
        """Status, tags or assignee changed in the store: one update with only those fields."""
        fields, ep = self._fields(t), self.ep.get("ticket", "update")
        if fields is None or ep is None:
            return False
        pushed = (self.ids["ticket"].get(t["id"]) or (None, None, ""))[1]
        try:
            before = json.loads(pushed) if pushed else {}
        except ValueError:
            before = {}
        missing = object()
        diff = {k: v for k, v in fields.items() if before.get(k, missing) != v}
        if not diff:
            return False
        if not self.dry:
            where = self._done("followup", t["id"]) or native
            try:
                self.ep.call(ep, {"id": where}, self.hooks.update_payload(diff, self.ctx))
            except RemoteFailure as exc:
                if exc.status != 422:
                    raise
                self.report.notes.append(f"ticket {t['id']}: the target refused {sorted(diff)}: "
                                         f"{self.a.client.redact(exc.message)[:200]}")  # fmt: skip
            self._set_pushed(t["id"], native, self._fields_state(t))
        return True

    def _set_pushed(self, eid: int, native: str, state: str) -> None:
        """Only the pushed hash changes: the run that created the ticket stays its run."""
        c = IdMap.__table__.c
        with self.store.begin() as conn:
            conn.execute(
                IdMap.__table__.update()
                .where(c.connection == self.conn, c.kind == "ticket", c.entity_id == eid)
                .values(pushed_hash=state)
            )
        self.ids["ticket"][eid] = (native, state, "done")

    def _appended(self, native: str, payload: dict[str, Any]) -> str | None:
        """The target's comment that an interrupted append made: same author, body and flag."""
        listing = self.ep.get("message", "list")
        want = next(iter(payload.values())).get("comment", {}) if payload else {}
        if listing is None or not want:
            return None
        taken = {v[0] for v in self.ids["message"].values() if v[2] == "done"}
        for c in dig(self.ep.call(listing, {"id": native}), listing.records) or []:
            same = str(c.get("author_id")) == str(want.get("author_id")) and bool(
                c.get("public", True)
            ) == bool(want.get("public", True))
            text = want.get("html_body") or want.get("value")
            if same and text in (c.get("html_body"), c.get("body")) and str(c["id"]) not in taken:
                return str(c["id"])
        return None


def _fields(template: str) -> set[str]:
    return {f for _t, f, _s, _c in string.Formatter().parse(template) if f}


def _same(kind: str, rec: Any, it: dict[str, Any]) -> bool:
    """A target record found by a lookup is the store's entity (lookups may match loosely)."""
    if kind == "person":
        return bool(it.get("email")) and it["email"].casefold() in {
            e.casefold() for e in rec.emails
        }
    return (rec.name or "").strip().casefold() == (it.get("name") or "").strip().casefold()


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
    if listing is not None:
        for tid in [native_id, *_our_followups(ep, show, ticket, native_id)]:
            for raw in pick(ep.call(listing, {"id": tid}), listing.records) or []:
                messages.append(adapter.hooks.remote_message(raw))
    status = adapter.mapping.canonical("status", ticket.get("status")) if ticket else None
    return RemoteTicket(native_id, status, messages)


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
        adapter.client.request(spec.method, _fmt(spec.path, {"id": native_id}))
    except DeskmoveError as exc:
        if isinstance(exc, RemoteFailure) and exc.status == 404:
            return
        raise
