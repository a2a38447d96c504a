"""An in-memory Zendesk-shaped API for tests and the benchmark.

Answers the endpoints deskmove uses with bodies shaped as Zendesk documents
them (incremental cursor and time exports, ticket events with comment events,
job statuses, uploads, Ticket Import). ``handle`` is transport-neutral: respx
routes call it in tests, and ``bench/bench_rest.py`` serves it over HTTP.
It can enforce a requests-per-window limit on a clock the caller controls.

It enforces the rules of the Zendesk Support API documentation
(https://developer.zendesk.com/api-reference/) that a migration meets, each
quoted next to its code.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

Response = tuple[int, dict[str, str], bytes]


def ts(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _uncursor(token: str) -> list[Any]:
    return json.loads(base64.urlsafe_b64decode(token.encode()))


@dataclass
class Limit:
    """A fixed window of ``per_window`` requests every ``window`` seconds."""

    per_window: int
    window: float = 60.0
    clock: Callable[[], float] = lambda: 0.0
    start: float = 0.0
    used: int = 0

    def check(self) -> tuple[bool, dict[str, str]]:
        now = self.clock()
        if now - self.start >= self.window:
            self.start, self.used = now - ((now - self.start) % self.window), 0
        reset = max(1, int(self.start + self.window - now + 0.999))
        if self.used >= self.per_window:
            return False, {
                "retry-after": str(reset),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
            }
        self.used += 1
        left = self.per_window - self.used
        return True, {
            "ratelimit-limit": str(self.per_window),
            "ratelimit-remaining": str(left),
            "ratelimit-reset": str(reset),
            "x-rate-limit-remaining": str(left),
        }


@dataclass
class FakeZendesk:
    host: str = "acme.zendesk.com"
    scheme: str = "https"  # "http" when served on 127.0.0.1
    page_size: int = 1000
    events_page_size: int = 1000
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # ticket id -> comments
    files: dict[str, bytes] = field(default_factory=dict)  # attachment token -> bytes
    uploads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    limit: Limit | None = None
    # Incremental Exports, Rate limits: "You can make up to 10 requests per minute to these
    # endpoints." (per_window=10 enforces it; None leaves the exports unlimited)
    export_limit: Limit | None = None
    fail_jobs_after: int | None = None  # a job stops (failed) after this many items
    fail_kind: str | None = None  # ... only jobs of this kind ("tickets", "users")
    me_id: int = 1
    log: list[tuple[str, str]] = field(default_factory=list)
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # ticket fields PUT
    counts: dict[str, int] = field(default_factory=dict)
    unindexed: set[int] = field(default_factory=set)  # created, not yet found by the Search API

    def __post_init__(self) -> None:
        self._ids = itertools.count(10_000)
        self._lock = threading.Lock()
        self.users.setdefault(
            self.me_id,
            {
                "id": self.me_id,
                "name": "Admin",
                "email": "admin@acme.example",
                "role": "admin",
                "updated_at": ts(1_000),
                "created_at": ts(1_000),
            },
        )

    # -- data helpers ---------------------------------------------------------------------
    def next_id(self) -> int:
        return next(self._ids)

    def url(self, path: str, **params: Any) -> str:
        return f"{self.scheme}://{self.host}{path}" + (f"?{urlencode(params)}" if params else "")

    def add_comment(
        self,
        ticket_id: int,
        author_id: int,
        body: str,
        when: int,
        public: bool = True,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        c = {
            "id": self.next_id(),
            "type": "Comment",
            "author_id": author_id,
            "body": body,
            "html_body": f'<div class="zd-comment"><p>{body}</p></div>',
            "plain_body": body,
            "public": public,
            "attachments": attachments or [],
            "audit_id": self.next_id(),
            "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": ts(when),
            "metadata": {"system": {}},
        }
        self.comments.setdefault(ticket_id, []).append(c)
        self.counts["comments"] = self.counts.get("comments", 0) + 1
        return c

    # -- transport ------------------------------------------------------------------------------
    def handle(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> Response:
        with self._lock:
            parts = urlsplit(url)
            params = dict(parse_qsl(parts.query))
            self.log.append((method, parts.path))
            self.counts["requests"] = self.counts.get("requests", 0) + 1
            extra: dict[str, str] = {}
            limits = [self.limit]
            if parts.path.startswith("/api/v2/incremental/"):
                limits.append(self.export_limit)
            for limit in (x for x in limits if x is not None):
                ok, more = limit.check()
                if limit is self.limit or not ok:  # the export limit tells only when refusing
                    extra = {**extra, **more}
                if not ok:
                    self.counts["429"] = self.counts.get("429", 0) + 1
                    return 429, extra, b'{"error": "APIRateLimitExceeded"}'
            status, data = self._route(method, parts.path, params, body, headers)
            raw = data if isinstance(data, bytes) else json.dumps(data).encode()
            ctype = "application/octet-stream" if isinstance(data, bytes) else "application/json"
            return status, {"content-type": ctype, **extra}, raw

    def _route(
        self, method: str, path: str, p: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        if path.startswith("/attachments/token/"):
            token = path.split("/")[3]
            return (
                (200, self.files[token])
                if token in self.files
                else (404, {"error": "RecordNotFound"})
            )
        key = (method, path)
        simple: dict[tuple[str, str], Callable[[], tuple[int, Any]]] = {
            ("GET", "/api/v2/incremental/organizations.json"): lambda: self._time_export(
                "organizations", list(self.organizations.values()), p, "updated_at"
            ),
            ("GET", "/api/v2/groups.json"): lambda: self._groups(p),
            ("GET", "/api/v2/incremental/users/cursor.json"): lambda: self._cursor_export(
                "users", list(self.users.values()), p
            ),
            ("GET", "/api/v2/incremental/tickets/cursor.json"): lambda: self._cursor_export(
                "tickets", list(self.tickets.values()), p
            ),
            ("GET", "/api/v2/incremental/ticket_events.json"): lambda: self._events(p),
            ("GET", "/api/v2/tickets/show_many.json"): lambda: (
                200,
                {
                    "tickets": [
                        self.tickets[int(i)] for i in p["ids"].split(",") if int(i) in self.tickets
                    ]
                },
            ),
            ("POST", "/api/v2/organizations/create_many.json"): lambda: self._job(
                "organizations", json.loads(body)["organizations"], self._make_org
            ),
            ("POST", "/api/v2/users/create_or_update_many.json"): lambda: self._job(
                "users", json.loads(body)["users"], self._make_user
            ),
            ("POST", "/api/v2/imports/tickets/create_many.json"): lambda: self._job(
                "tickets", json.loads(body)["tickets"], self._import_ticket
            ),
            ("POST", "/api/v2/uploads.json"): lambda: self._upload(p, body, headers),
            ("POST", "/api/v2/tickets.json"): lambda: self._create_ticket(
                json.loads(body)["ticket"]
            ),
            ("GET", "/api/v2/users/me.json"): lambda: (200, {"user": self.users[self.me_id]}),
            ("GET", "/api/v2/tickets.json"): lambda: (
                200,
                {
                    "tickets": [
                        t
                        for t in self.tickets.values()
                        if t.get("external_id") == p.get("external_id")
                    ]
                },
            ),
            ("GET", "/api/v2/users/search.json"): lambda: (200, {"users": self._search_users(p)}),
            ("GET", "/api/v2/organizations/search.json"): lambda: self._search_orgs(p),
            ("GET", "/api/v2/search.json"): lambda: self._search(p),
            ("GET", "/api/v2/users.json"): lambda: self._list_users(p),
            ("POST", "/api/v2/groups.json"): lambda: self._create_group(json.loads(body)["group"]),
        }
        if key in simple:
            return simple[key]()
        bits = path.strip("/").split("/")
        if path.startswith("/api/v2/job_statuses/"):
            return 200, {"job_status": self._poll(bits[3].removesuffix(".json"))}
        if len(bits) == 5 and bits[4] == "comments.json":
            return self._comments(int(bits[3]), p)
        if len(bits) == 4 and bits[2] in ("tickets", "users", "organizations", "groups"):
            return self._one(method, bits[2], int(bits[3].removesuffix(".json")), body)
        return 404, {"error": "InvalidEndpoint", "description": f"{method} {path}"}

    # -- exports ----------------------------------------------------------------------------------
    def _cursor_export(
        self, key: str, items: list[dict[str, Any]], p: dict[str, str]
    ) -> tuple[int, Any]:
        order = sorted(items, key=lambda x: (epoch(x["updated_at"]), x["id"]))
        if "cursor" in p:
            after = tuple(_uncursor(p["cursor"]))
            order = [x for x in order if (epoch(x["updated_at"]), x["id"]) > after]
        else:
            start = int(p.get("start_time", 0))
            order = [x for x in order if epoch(x["updated_at"]) >= start]
        size = min(int(p.get("per_page", self.page_size)), self.page_size)
        page, more = order[:size], len(order) > size
        last = (
            (epoch(page[-1]["updated_at"]), page[-1]["id"])
            if page
            else tuple(_uncursor(p["cursor"]))
            if "cursor" in p
            else (int(p.get("start_time", 0)), 0)
        )
        after = _cursor(*last)
        if key == "tickets" and "metric_sets" in p.get("include", ""):
            extra = {"metric_sets": [self._metric_set(t) for t in page]}
        else:
            extra = {}
        return 200, {
            key: page,
            **extra,
            "after_url": self.url(f"/api/v2/incremental/{key}/cursor.json", cursor=after),
            "after_cursor": after,
            "before_url": None,
            "before_cursor": None,
            "end_of_stream": not more,
        }

    def _metric_set(self, t: dict[str, Any]) -> dict[str, Any]:
        solved = t.get("solved_at") or (
            t["updated_at"] if t.get("status") in ("solved", "closed") else None
        )
        return {
            "id": t["id"] + 7_000_000,
            "ticket_id": t["id"],
            "created_at": t["created_at"],
            "updated_at": t["updated_at"],
            "solved_at": solved,
            "reopens": 0,
            "replies": 1,
            "assigned_at": t["created_at"],
            "initially_assigned_at": t["created_at"],
        }

    def _time_export(
        self,
        key: str,
        items: list[dict[str, Any]],
        p: dict[str, str],
        field_name: str,
        size: int | None = None,
    ) -> tuple[int, Any]:
        start = int(p.get("start_time", 0))
        order = sorted(
            (x for x in items if _when(x[field_name]) >= start),
            key=lambda x: (_when(x[field_name]), x["id"]),
        )
        size = size or self.page_size
        page = order[:size]
        end = _when(page[-1][field_name]) if page else start
        more = len(order) > size
        path = (
            "/api/v2/incremental/ticket_events.json"
            if key == "ticket_events"
            else f"/api/v2/incremental/{key}.json"
        )
        extra = {"include": "comment_events"} if key == "ticket_events" else {}
        return 200, {
            key: page,
            "next_page": self.url(path, start_time=end, **extra),
            "count": len(page),
            "end_of_stream": not more,
            "end_time": end,
        }

    def _events(self, p: dict[str, str]) -> tuple[int, Any]:
        key = (self.counts.get("comments", 0), sum(len(c) for c in self.comments.values()))
        if getattr(self, "_audits_key", None) != key:  # built once per change, not per page
            self._audits, self._audits_key = self._build_audits(), key
        return self._time_export(
            "ticket_events", self._audits, p, "timestamp", self.events_page_size
        )

    def _build_audits(self) -> list[dict[str, Any]]:
        audits = []
        for tid, comments in self.comments.items():
            for c in comments:
                when = epoch(c["created_at"])
                child = {
                    k: c[k]
                    for k in (
                        "id",
                        "type",
                        "author_id",
                        "body",
                        "html_body",
                        "public",
                        "attachments",
                        "audit_id",
                        "created_at",
                    )
                }
                child["event_type"] = "Comment"
                child["via"] = c["via"]
                audits.append(
                    {
                        "id": c["audit_id"],
                        "ticket_id": tid,
                        "timestamp": when,
                        "created_at": c["created_at"],
                        "updater_id": c["author_id"],
                        "via": "Web form",
                        "system": {},
                        "event_type": "Audit",
                        "child_events": [child],
                    }
                )
        return audits

    def _groups(self, p: dict[str, str]) -> tuple[int, Any]:
        order = sorted(self.groups.values(), key=lambda g: g["id"])
        if "page[after]" in p:
            after = _uncursor(p["page[after]"])[0]
            order = [g for g in order if g["id"] > after]
        size = int(p.get("page[size]", 100))
        page = order[:size]
        cur = _cursor(page[-1]["id"]) if page else None
        return 200, {
            "groups": page,
            "meta": {"has_more": len(order) > size, "after_cursor": cur, "before_cursor": None},
            "links": {
                "next": self.url("/api/v2/groups.json", **{"page[after]": cur}) if cur else None,
                "prev": None,
            },
        }

    def _comments(self, tid: int, p: dict[str, str]) -> tuple[int, Any]:
        if tid not in self.tickets:
            return 404, {"error": "RecordNotFound"}
        order = self.comments.get(tid, [])
        start = int(_uncursor(p["page[after]"])[0]) if "page[after]" in p else 0
        size = int(p.get("page[size]", 100))
        page = order[start : start + size]
        more = len(order) > start + size
        cur = _cursor(start + size)
        return 200, {
            "comments": page,
            "meta": {
                "has_more": more,
                "after_cursor": cur if more else None,
                "before_cursor": None,
            },
            "links": {"next": None, "prev": None},
        }

    def _search_users(self, p: dict[str, str]) -> list[dict[str, Any]]:
        """``external_id=`` or ``query=email:…`` (the Search API's syntax for one field)."""
        if "external_id" in p:
            return [u for u in self.users.values() if u.get("external_id") == p["external_id"]]
        want = p.get("query", "").removeprefix("email:").strip('"').casefold()
        return [
            u for u in self.users.values() if want and (u.get("email") or "").casefold() == want
        ]

    def _search_orgs(self, p: dict[str, str]) -> tuple[int, Any]:
        """Search Organizations, GET /api/v2/organizations/search: "Returns an array of
        organizations matching the criteria. You may search by an organization's external_id
        or name, but not both"; "For an organization to be returned, its external_id must
        exactly match the value provided (case insensitive)", and likewise "its name must
        exactly match the value provided (case insensitive)"."""
        if ("external_id" in p) == ("name" in p):
            return 400, {
                "error": "InvalidParameter",
                "description": "search by external_id or name, but not both",
            }
        key = "external_id" if "external_id" in p else "name"
        want = p[key].casefold()
        found = [o for o in self.organizations.values() if str(o.get(key) or "").casefold() == want]
        return 200, {
            "organizations": found,
            "count": len(found),
            "next_page": None,
            "previous_page": None,
        }

    def _search(self, p: dict[str, str]) -> tuple[int, Any]:
        """List Search Results, GET /api/v2/search.json?query=…, for organizations.

        Search API: "It can take up to a few minutes for new tickets, users, and other
        resources to be indexed for search." An organization created through this fake is
        indexed only when a test calls :meth:`index_for_search` (minutes later). "The Search
        API returns up to 1,000 results per query, with a maximum of 100 results per page."

        The query keywords modelled are ``type:organization`` with ``domain:``, ``name:`` and
        ``external_id:``. No Zendesk documentation sentence for the organization ``domain:``
        keyword was found (the search reference's table of organization keywords could not
        be retrieved); Zendesk clients elsewhere send ``type:organization domain:example.com``.
        Here it matches ``domain_names`` exactly, case-insensitively; deskmove checks the
        domain_names of what comes back in any case. Any other query answers 422, so a
        query the fake does not model fails loudly instead of finding nothing.
        """
        terms = dict(t.split(":", 1) for t in p.get("query", "").split() if ":" in t)
        extra = set(terms) - {"type", "domain", "name", "external_id"}
        if terms.get("type") != "organization" or extra or len(terms) < 2:
            return 422, {"error": "InvalidQuery", "description": f"not modelled: {p.get('query')}"}
        per_page = int(p.get("per_page", 100))
        if per_page > 100:
            return 400, {"error": "InvalidPaginationParameter", "description": "per_page > 100"}
        want = {k: v.strip('"').casefold() for k, v in terms.items() if k != "type"}
        found = []
        for o in self.organizations.values():
            if o["id"] in self.unindexed:
                continue
            domains = {d.casefold() for d in o.get("domain_names") or []}
            if "domain" in want and want["domain"] not in domains:
                continue
            if any(str(o.get(k) or "").casefold() != v for k, v in want.items() if k != "domain"):
                continue
            found.append({**o, "result_type": "organization"})
        page = int(p.get("page", 1))
        if (page - 1) * per_page >= 1000:  # "page=11 at 100 results per page ... a 422"
            return 422, {"error": "InsufficientResourceError"}
        part = found[(page - 1) * per_page : page * per_page]
        more = len(found) > page * per_page and page * per_page < 1000
        return 200, {
            "results": part,
            "count": len(found),
            "facets": None,
            "previous_page": None,
            "next_page": self.url("/api/v2/search.json", query=p["query"], page=page + 1)
            if more
            else None,
        }

    def index_for_search(self) -> None:
        """Minutes have passed: what was created is found by the Search API too."""
        self.unindexed.clear()

    def _list_users(self, p: dict[str, str]) -> tuple[int, Any]:
        """List Users, filtered by ``role`` (end-user, agent or admin), cursor-paginated."""
        order = sorted(
            (u for u in self.users.values() if "role" not in p or u.get("role") == p["role"]),
            key=lambda u: u["id"],
        )
        if "page[after]" in p:
            order = [u for u in order if u["id"] > _uncursor(p["page[after]"])[0]]
        size = int(p.get("page[size]", 100))
        page = order[:size]
        cur = _cursor(page[-1]["id"]) if page else None
        return 200, {
            "users": page,
            "meta": {"has_more": len(order) > size, "after_cursor": cur, "before_cursor": None},
        }

    def _create_group(self, item: dict[str, Any]) -> tuple[int, Any]:
        gid, now = self.next_id(), ts(2_000_000_000)
        self.groups[gid] = {
            "id": gid,
            "name": item["name"],
            "deleted": False,
            "created_at": now,
            "updated_at": now,
        }
        return 201, {"group": self.groups[gid]}

    # -- writes --------------------------------------------------------------------------------
    def _job(
        self,
        kind: str,
        items: list[dict[str, Any]],
        make: Callable[[dict[str, Any], int], dict[str, Any]],
    ) -> tuple[int, Any]:
        job_id = f"{self.next_id():032x}"
        results, status = [], "completed"
        for i, item in enumerate(items):
            failing = self.fail_kind in (None, kind) and self.fail_jobs_after is not None
            if failing and i >= self.fail_jobs_after:
                status = "failed"
                break
            results.append(make(item, i))
        self.jobs[job_id] = {
            "id": job_id,
            "url": self.url(f"/api/v2/job_statuses/{job_id}.json"),
            "job_type": f"Bulk {kind}",
            "total": len(items),
            "progress": len(results),
            "status": status,
            "message": "Completed at …" if status == "completed" else "Stopped",
            "results": results,
        }
        queued = {
            **self.jobs[job_id],
            "status": "queued",
            "progress": None,
            "results": None,
            "message": None,
        }
        return 200, {"job_status": queued}

    def _poll(self, job_id: str) -> dict[str, Any]:
        return self.jobs[job_id]

    def _make_org(self, item: dict[str, Any], index: int) -> dict[str, Any]:
        # Organizations API, the name property: "A unique name for the organization"; Create
        # Organization: "You must provide a unique name for each organization. Normally the
        # system doesn't allow records to be created with identical names."
        if any(
            o["name"].casefold() == item["name"].casefold() for o in self.organizations.values()
        ):
            return {
                "index": index,
                "error": "OrganizationCreateFailed",
                "status": "Failed",
                "details": f"Name: {item['name']} has already been taken",
            }
        # The external_id property: "A unique external id to associate organizations to an
        # external record. The id is case-insensitive. For example, "company1" and "Company1"
        # are considered the same". (The error wording is this fake's own.)
        ext = str(item.get("external_id") or "").casefold()
        if ext and any(
            str(o.get("external_id") or "").casefold() == ext for o in self.organizations.values()
        ):
            return {
                "index": index,
                "error": "OrganizationCreateFailed",
                "status": "Failed",
                "details": f"External: {item['external_id']} has already been taken",
            }
        oid = self.next_id()
        self.unindexed.add(oid)  # the Search API finds it minutes later (see _search)
        now = ts(2_000_000_000)
        self.organizations[oid] = {
            "id": oid,
            "name": item["name"],
            "external_id": item.get("external_id"),
            "domain_names": item.get("domain_names", []),
            "created_at": now,
            "updated_at": now,
        }
        return {"id": oid, "index": index, "action": "create", "success": True, "status": "Created"}

    def _make_user(self, item: dict[str, Any], index: int) -> dict[str, Any]:
        if "invalid" in (item.get("email") or ""):
            return {
                "id": index,
                "error": "UserUpdateError",
                "status": "Failed",
                "details": f"Email: {item['email']} is not properly formatted",
            }
        match = next(
            (
                u
                for u in self.users.values()
                if (item.get("email") and u.get("email") == item["email"])
                or (item.get("external_id") and u.get("external_id") == item["external_id"])
            ),
            None,
        )
        if match:
            match.update(
                {
                    k: v
                    for k, v in item.items()
                    if k in ("name", "external_id", "phone", "organization_id")
                }
            )
            return {"id": match["id"], "status": "Updated", "email": match.get("email")}
        uid = self.next_id()
        now = ts(2_000_000_000)
        self.users[uid] = {
            "id": uid,
            "name": item["name"],
            "email": item.get("email"),
            "external_id": item.get("external_id"),
            "role": item.get("role", "end-user"),
            "organization_id": item.get("organization_id"),
            "phone": item.get("phone"),
            "created_at": now,
            "updated_at": now,
        }
        return {"id": uid, "status": "Created", "email": item.get("email")}

    def _import_ticket(self, item: dict[str, Any], index: int) -> dict[str, Any]:
        if not item.get("requester_id") and not item.get("requester"):
            return {
                "index": index,
                "error": "RecordInvalid",
                "details": "Requester: can't be blank",
            }
        # Tickets API, the type property: 'The type of this ticket. Allowed values are
        # "problem", "incident", "question", or "task".'
        if item.get("type") not in (None, "problem", "incident", "question", "task"):
            return {
                "index": index,
                "error": "RecordInvalid",
                "details": f"Type: {item['type']} is invalid",
            }
        # Rule: ids must name existing records (no documentation sentence retrieved to quote;
        # Zendesk answers RecordInvalid for an unknown group, organization or user).
        for key, table in (
            ("group_id", self.groups),
            ("organization_id", self.organizations),
            ("assignee_id", self.users),
            ("requester_id", self.users),
        ):
            if item.get(key) is not None and item[key] not in table:
                return {
                    "index": index,
                    "error": "RecordInvalid",
                    "details": f"{key}: {item[key]} does not exist",
                }
        if item.get("assignee_id") is not None and self.users[item["assignee_id"]].get(
            "role"
        ) not in ("agent", "admin"):
            # Tickets API: assignee_id is "The agent currently assigned to the ticket".
            return {
                "index": index,
                "error": "RecordInvalid",
                "details": "Assignee: is not an agent",
            }
        tid = self.next_id()
        t = {k: v for k, v in item.items() if k != "comments"}
        t.update(
            {"id": tid, "url": self.url(f"/api/v2/tickets/{tid}.json"), "via": {"channel": "api"}}
        )
        self.tickets[tid] = t
        for c in item.get("comments", []):
            atts = [a for tok in c.get("uploads", []) for a in self.uploads.get(tok, [])]
            body = c.get("value") or c.get("body") or c.get("html_body")
            made = self.add_comment(
                tid, c["author_id"], body, epoch(c["created_at"]), c.get("public", True), atts
            )
            made["html_body"] = c.get("html_body") or made["html_body"]
        return {"id": tid, "index": index}

    def _upload(self, p: dict[str, str], body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        token = f"tok{self.next_id()}"
        self.files[token] = body
        att = {
            "id": self.next_id(),
            "file_name": p.get("filename"),
            "content_url": self.url(f"/attachments/token/{token}/", name=p.get("filename")),
            "content_type": headers.get("content-type", "application/octet-stream"),
            "size": len(body),
            "inline": False,
        }
        self.uploads[token] = [att]
        return 201, {
            "upload": {
                "token": token,
                "expires_at": ts(2_000_086_400),
                "attachments": [att],
                "attachment": att,
            }
        }

    def _one(self, method: str, kind: str, oid: int, body: bytes) -> tuple[int, Any]:
        table = getattr(self, kind)
        if oid not in table:
            return 404, {"error": "RecordNotFound", "description": "Not found"}
        if method == "DELETE":
            del table[oid]
            return 204, b""
        if method == "PUT" and kind == "tickets":
            return self._update_ticket(oid, json.loads(body)["ticket"])
        return 200, {kind[:-1]: table[oid]}

    def _update_ticket(self, oid: int, change: dict[str, Any]) -> tuple[int, Any]:
        """A ticket update: fields and/or one comment. A closed ticket takes none."""
        t = self.tickets[oid]
        if t.get("status") == "closed":
            return 422, {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
            }
        self.updates.append((oid, {k: v for k, v in change.items() if k != "comment"}))
        for key in ("status", "tags", "assignee_id"):
            if key in change:
                t[key] = change[key]
        events: list[dict[str, Any]] = []
        audit_id = self.next_id()
        if "comment" in change:
            c = change["comment"]
            made = self.add_comment(
                oid,
                c["author_id"],
                c.get("value") or c.get("html_body") or "",
                2_000_000_000,
                c.get("public", True),
            )
            audit_id = made["audit_id"]
            events.append({"id": made["id"], "type": "Comment"})
        t["updated_at"] = ts(2_000_000_000)
        return 200, {"ticket": t, "audit": {"id": audit_id, "events": events}}

    def _create_ticket(self, item: dict[str, Any]) -> tuple[int, Any]:
        """POST /tickets.json; ``via_followup_source_id`` of a closed ticket makes a follow-up
        that inherits its tags unless the request sets some (no effect on other tickets)."""
        tid, now = self.next_id(), ts(2_000_000_000)
        parent = self.tickets.get(int(item.get("via_followup_source_id") or 0))
        followup = parent is not None and parent.get("status") == "closed"
        t = {k: v for k, v in item.items() if k not in ("comment", "via_followup_source_id")}
        t.update(
            {
                "id": tid,
                "url": self.url(f"/api/v2/tickets/{tid}.json"),
                "status": item.get("status", "open"),
                "created_at": now,
                "updated_at": now,
                "via": {
                    "channel": "api",
                    "source": {
                        "from": {"ticket_id": parent["id"]} if followup else {},
                        "to": {},
                        "rel": "follow_up" if followup else None,
                    },
                },
            }
        )
        if "tags" not in item:
            t["tags"] = list(parent.get("tags") or []) if followup and parent else []
        self.tickets[tid] = t
        if followup and parent is not None:  # read-only on the parent, shown once it is closed
            parent.setdefault("followup_ids", []).append(tid)
        c = item["comment"]
        self.add_comment(
            tid,
            c.get("author_id", self.me_id),
            c.get("value") or c.get("html_body") or c.get("body") or "",
            2_000_000_000,
            c.get("public", True),
        )
        return 201, {"ticket": t, "audit": {"id": self.next_id(), "events": []}}


def _when(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else epoch(value)


def respx_route(fake: FakeZendesk) -> Callable[[Any], Any]:
    """A respx side effect that answers from ``fake``."""
    import httpx

    def side_effect(request: httpx.Request) -> httpx.Response:
        status, headers, body = fake.handle(
            request.method, str(request.url), request.content, dict(request.headers)
        )
        return httpx.Response(status, headers=headers, content=body)

    return side_effect
