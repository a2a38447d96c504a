"""An in-memory Freshdesk-shaped API (v2) for tests: bare JSON lists, Link headers, pages.

It enforces the rules of the Freshdesk API v2 documentation
(https://developers.freshdesk.com/api/) that a migration meets; each rule is
quoted next to its code. Where the sentence could not be retrieved to quote it,
the rule says so and describes the behaviour real accounts show.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx


@dataclass
class FakeFreshdesk:
    host: str = "acme.freshdesk.com"
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    agents: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    me_id: int = 5
    log: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(50_000)

    def url(self, path: str, **params: Any) -> str:
        return f"https://{self.host}{path}" + (f"?{urlencode(params)}" if params else "")

    def side_effect(self, request: httpx.Request) -> httpx.Response:
        parts = urlsplit(str(request.url))
        p = dict(parse_qsl(parts.query))
        self.log.append((request.method, parts.path))
        status, body, headers = self._route(request.method, parts.path, p, request.content)
        headers = {
            "X-Ratelimit-Total": "700",
            "X-Ratelimit-Remaining": "650",
            "X-Ratelimit-Used-CurrentRequest": "1",
            **headers,
        }
        return httpx.Response(status, json=body, headers=headers)

    def _list(
        self, path: str, items: list[dict[str, Any]], p: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        page, size = int(p.get("page", 1)), int(p.get("per_page", 30))
        chunk = items[(page - 1) * size : page * size]
        headers = {}
        if len(items) > page * size:
            headers["Link"] = f'<{self.url(path, **{**p, "page": page + 1})}>; rel="next"'
        return 200, chunk, headers

    def _route(
        self, method: str, path: str, p: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        bits = path.strip("/").split("/")
        if method == "GET" and path == "/api/v2/tickets":
            since = p.get("updated_since", "")
            rows = sorted(
                (t for t in self.tickets.values() if t["updated_at"] >= since),
                key=lambda t: (t["updated_at"], t["id"]),
            )
            return self._list(path, rows, p)
        if method == "GET" and path == "/api/v2/contacts" and "unique_external_id" in p:
            return (
                200,
                [
                    c
                    for c in self.contacts.values()
                    if c.get("unique_external_id") == p["unique_external_id"]
                ],
                {},
            )
        if method == "GET" and path in ("/api/v2/contacts", "/api/v2/agents") and "email" in p:
            # List All Contacts / List All Agents take an ``email`` filter (documented as a
            # filter of both lists; the exact sentence could not be retrieved to quote it).
            table = self.contacts if path.endswith("contacts") else self.agents
            want = p["email"].casefold()
            return 200, [r for r in table.values() if _email(r).casefold() == want], {}
        if method == "GET" and path == "/api/v2/contacts":
            since = p.get("_updated_since", "")
            return self._list(
                path, [c for c in self.contacts.values() if c["updated_at"] >= since], p
            )
        if method == "GET" and path in ("/api/v2/companies", "/api/v2/groups", "/api/v2/agents"):
            return self._list(path, list(getattr(self, bits[2]).values()), p)
        if method == "GET" and path == "/api/v2/agents/me":
            return 200, self.agents[self.me_id], {}
        if method == "GET" and path == "/api/v2/companies/autocomplete":
            return (
                200,
                {
                    "companies": [
                        {"id": c["id"], "name": c["name"]}
                        for c in self.companies.values()
                        if c["name"].startswith(p["name"])
                    ]
                },
                {},
            )
        if method == "GET" and path == "/api/v2/search/tickets":
            tag = p["query"].strip('"').split("'")[1]
            hits = [t for t in self.tickets.values() if tag in t.get("tags", [])]
            return 200, {"results": hits, "total": len(hits)}, {}
        if len(bits) == 5 and bits[4] == "conversations":
            return self._list(path, self.conversations.get(int(bits[3]), []), p)
        if method == "POST":
            return self._create(path, bits, json.loads(body))
        if len(bits) == 4 and method == "GET":
            table = getattr(self, bits[2])
            oid = int(bits[3])
            return (200, table[oid], {}) if oid in table else (404, {"code": "access_denied"}, {})
        return 404, {"description": "not found", "errors": []}, {}

    def _create(
        self, path: str, bits: list[str], data: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        oid = next(self._ids)
        now = "2030-01-01T00:00:00Z"
        if path == "/api/v2/companies":
            self.companies[oid] = {"id": oid, **data, "created_at": now, "updated_at": now}
            return 201, self.companies[oid], {}
        if path == "/api/v2/contacts":
            # Rule: creating a contact with an e-mail that already belongs to a user (a
            # contact or an agent: agents are users too) answers 409 Conflict. The Freshdesk
            # error table describes 409 as an inconsistent or conflicting state; its exact
            # sentence could not be retrieved here to quote it.
            taken = {_email(u).casefold() for u in [*self.contacts.values(), *self.agents.values()]}
            if data.get("email") and data["email"].casefold() in taken:
                return (
                    409,
                    {
                        "description": "Validation failed",
                        "errors": [
                            {
                                "field": "email",
                                "message": "It should be a unique value",
                                "code": "duplicate_value",
                            }
                        ],
                    },
                    {},
                )
            self.contacts[oid] = {"id": oid, **data, "created_at": now, "updated_at": now}
            return 201, self.contacts[oid], {}
        if path == "/api/v2/tickets":
            self.tickets[oid] = {"id": oid, **data, "created_at": now, "updated_at": now}
            return 201, self.tickets[oid], {}
        if len(bits) == 5 and bits[4] == "notes":
            tid = int(bits[3])
            note = {"id": oid, "body": data["body"], "private": data.get("private", True), "incoming": data.get("incoming", False),
                    "user_id": data.get("user_id", self.me_id), "ticket_id": tid, "created_at": now, "updated_at": now, "attachments": []}  # fmt: skip
            self.conversations.setdefault(tid, []).append(note)
            return 201, note, {}
        return 404, {"description": "not found"}, {}


def _email(user: dict[str, Any]) -> str:
    """A contact's e-mail, or an agent's (under ``contact``)."""
    return (user.get("contact") or user).get("email") or ""


def seed(fake: FakeFreshdesk, tickets: int = 3, notes: int = 2) -> FakeFreshdesk:
    t0 = "2021-03-0{}T10:00:00Z"
    fake.companies[11] = {
        "id": 11,
        "name": "Sklep Kraków",
        "domains": ["sklep.example"],
        "created_at": t0.format(1),
        "updated_at": t0.format(1),
    }
    fake.groups[21] = {
        "id": 21,
        "name": "Wsparcie",
        "created_at": t0.format(1),
        "updated_at": t0.format(1),
    }
    fake.agents[fake.me_id] = {"id": fake.me_id, "available": True, "occasional": False, "ticket_scope": 1,
                               "created_at": t0.format(1), "updated_at": t0.format(1),
                               "contact": {"name": "Agnieszka Wąs", "email": "agnieszka@sklep.example", "phone": None, "active": True}}  # fmt: skip
    for i in range(tickets):
        cid = 100 + i
        fake.contacts[cid] = {"id": cid, "name": f"Klient Żółty {i}", "email": f"k{i}@klient.example", "phone": None,
                              "company_id": 11, "other_emails": [], "created_at": t0.format(1), "updated_at": t0.format(2)}  # fmt: skip
        tid = 200 + i
        fake.tickets[tid] = {"id": tid, "subject": f"Zamówienie {i} — gęślą jaźń", "description": f"<div>Dzień dobry {i}</div>",
                             "description_text": f"Dzień dobry {i}", "status": 2 + i % 4, "priority": 1 + i % 4, "source": 1,
                             "type": "Question", "requester_id": cid, "responder_id": fake.me_id, "group_id": 21, "company_id": 11,
                             "tags": ["pl"], "custom_fields": {"cf_order": f"PL-{i}"}, "spam": False,
                             "created_at": f"2021-03-0{i + 1}T10:00:00Z", "updated_at": f"2021-03-0{i + 1}T12:00:00Z",
                             "due_by": None, "fr_due_by": None, "is_escalated": False,
                             "stats": {"resolved_at": None, "closed_at": None, "first_responded_at": None}}  # fmt: skip
        convs = []
        for j in range(notes):
            token = f"f{tid}{j}"
            fake.files[token] = f"plik {tid}/{j}".encode()
            convs.append({"id": 3000 + i * 10 + j, "body": f"<div>Odpowiedź {j}</div>", "body_text": f"Odpowiedź {j}",
                          "incoming": j % 2 == 1, "private": j == 1, "user_id": fake.me_id if j % 2 == 0 else cid,
                          "support_email": "pomoc@sklep.example", "source": 0 if j == 0 else 2, "category": 2, "ticket_id": tid,
                          "to_emails": [f"k{i}@klient.example"], "from_email": "pomoc@sklep.example", "cc_emails": [], "bcc_emails": [],
                          "created_at": f"2021-03-0{i + 1}T11:0{j}:00Z", "updated_at": f"2021-03-0{i + 1}T11:0{j}:00Z",
                          "attachments": [{"id": 70 + j, "name": "skan.png", "content_type": "image/png", "size": 9,
                                           "attachment_url": f"https://s3.amazonaws.example/fd/{token}", "created_at": "2021-03-01T11:00:00Z"}] if j == 0 else []})  # fmt: skip
        fake.conversations[tid] = convs
    return fake
