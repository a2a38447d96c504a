"""An in-memory Freshdesk-shaped API (v2) for tests: bare JSON lists, Link headers, pages.

It enforces the rules of the Freshdesk API v2 documentation
(https://developers.freshdesk.com/api/) that a migration meets; each rule is
quoted next to its code (several sentences as the reference words them, found
reproduced in API clients' documentation). Where no sentence was found, the rule
says so and describes the behaviour real accounts show.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx


@dataclass
class FakeFreshdesk:
    host: str = "acme.freshdesk.com"
    scheme: str = "https"  # "http" when served on 127.0.0.1
    file_host: str = (
        "s3.amazonaws.example"  # where attachment_url points (the host itself: served here)
    )
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    agents: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    me_id: int = 5
    log: list[tuple[str, str]] = field(default_factory=list)
    # A default account's statuses (2-5); 6 and 7 exist only where an admin made them.
    statuses: dict[int, str] = field(
        default_factory=lambda: {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
    )
    types: list[str] = field(
        default_factory=lambda: ["Question", "Incident", "Problem", "Feature Request", "Refund"]
    )
    searchable: set[int] = field(default_factory=set)  # tickets the search index has caught up with
    attachment_limit: int = 20 * 1024 * 1024

    def __post_init__(self) -> None:
        self._ids = itertools.count(50_000)

    def url(self, path: str, **params: Any) -> str:
        return f"{self.scheme}://{self.host}{path}" + (f"?{urlencode(params)}" if params else "")

    def file_url(self, token: str) -> str:
        return f"{self.scheme if self.file_host == self.host else 'https'}://{self.file_host}/fd/{token}"

    def side_effect(self, request: httpx.Request) -> httpx.Response:
        parts = urlsplit(str(request.url))
        p = dict(parse_qsl(parts.query))
        self.log.append((request.method, parts.path))
        content = request.content
        files: list[tuple[str, bytes]] = []
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            content, files = _multipart(request.headers["content-type"], request.read())
        self._files = files
        status, body, headers = self._route(request.method, parts.path, p, content)
        headers = {
            "X-Ratelimit-Total": "700",
            "X-Ratelimit-Remaining": "650",
            "X-Ratelimit-Used-CurrentRequest": "1",
            **headers,
        }
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
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
        if method == "GET" and path.startswith("/fd/"):  # attachment bytes, when served here
            token = bits[-1]
            return (
                (200, self.files[token], {})
                if token in self.files
                else (404, {"code": "not_found"}, {})
            )
        if method == "GET" and path == "/api/v2/tickets" and "requester_id" in p:
            # List All Tickets filtered by requester: read from the tickets themselves, so a
            # ticket is there as soon as it is created (unlike search, below).
            rows = [
                t for t in self.tickets.values() if str(t.get("requester_id")) == p["requester_id"]
            ]
            rows.sort(key=lambda t: t["id"], reverse=p.get("order_type") == "desc")
            return self._list(path, rows, p)
        if method == "GET" and path == "/api/v2/tickets":
            since = p.get("updated_since", "")
            rows = sorted(
                (t for t in self.tickets.values() if t["updated_at"] >= since),
                key=lambda t: (t["updated_at"], t["id"]),
            )
            return self._list(path, rows, p)
        if method == "GET" and path == "/api/v2/ticket_fields":
            return 200, self._ticket_fields(), {}
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
            # List All Contacts: "Use filters to view only specific contacts (those which
            # match the criteria that you choose)", the filters being email, mobile and phone.
            # List All Agents takes the same ``email`` filter; no Freshdesk sentence saying so
            # was found (clients of the API list email, mobile, phone and state for it).
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
            if self.me_id not in self.agents:
                self.agents[self.me_id] = {
                    "id": self.me_id,
                    "contact": {"name": "API", "email": "api@fd.example"},
                }
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
            # Filter Tickets: "Please note that the updates will take a few minutes to get
            # indexed, after which it will be available through API": a ticket just created
            # is not found yet (only ``searchable`` ones are).
            tag = p["query"].strip('"').split("'")[1]
            hits = [
                t
                for t in self.tickets.values()
                if tag in t.get("tags", []) and t["id"] in self.searchable
            ]
            return 200, {"results": hits, "total": len(hits)}, {}
        if len(bits) == 5 and bits[4] == "conversations":
            return self._list(path, self.conversations.get(int(bits[3]), []), p)
        if method == "POST":
            return self._create(path, bits, body if isinstance(body, dict) else json.loads(body))
        if len(bits) == 4 and method == "GET":
            # View a Ticket (and a contact, company …) by id. A deleted ticket is still there,
            # ``deleted`` set: Delete a Ticket, "When deleted, tickets are not cast into the
            # fiery volcanoes of Mount Doom. You can retrieve them using the Restore Ticket
            # API." ``include=stats`` "Will return the ticket's closed_at, resolved_at and
            # first_responded_at time" (the fake's tickets carry their stats always).
            table = getattr(self, bits[2])
            oid = int(bits[3])
            return (200, table[oid], {}) if oid in table else (404, {"code": "access_denied"}, {})
        return 404, {"description": "not found", "errors": []}, {}

    def _ticket_fields(self) -> list[dict[str, Any]]:
        """List All Ticket Fields: the status field's choices are this account's statuses.

        No Freshdesk sentence describing the ``choices`` of the default fields was found;
        the shape follows the API's own example answers (status: id -> [agent label,
        customer label]; ticket_type: a list of names)."""
        return [
            {
                "id": 1,
                "name": "status",
                "label": "Status",
                "type": "default_status",
                "default": True,
                "choices": {str(k): [v, v] for k, v in self.statuses.items()},
            },
            {
                "id": 2,
                "name": "ticket_type",
                "label": "Type",
                "type": "default_ticket_type",
                "default": True,
                "choices": list(self.types),
            },
            {
                "id": 3,
                "name": "priority",
                "label": "Priority",
                "type": "default_priority",
                "default": True,
                "choices": {"Low": 1, "Medium": 2, "High": 3, "Urgent": 4},
            },
        ]

    def _invalid_ticket(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Create a Ticket validates status, type and responder against the account.

        Create a Ticket, responder_id: "ID of the agent to whom the ticket has been
        assigned" (a contact's id is no agent's). For status and type, the values are the
        account's own (List All Ticket Fields); no Freshdesk sentence was found that says a
        value outside them is refused. The fake answers as Freshdesk does, 400 "Validation
        failed" naming the field (for status: "It should be one of these values:
        '2,3,4,5'")."""
        if int(data.get("status", 2)) not in self.statuses:
            allowed = ",".join(str(k) for k in self.statuses)
            return {
                "field": "status",
                "message": f"It should be one of these values: '{allowed}'",
                "code": "invalid_value",
            }
        if data.get("type") is not None and data["type"] not in self.types:
            return {
                "field": "type",
                "message": f"It should be one of these values: '{','.join(self.types)}'",
                "code": "invalid_value",
            }
        if data.get("responder_id") is not None and int(data["responder_id"]) not in self.agents:
            return {
                "field": "responder_id",
                "message": "There is no agent matching the given responder_id",
                "code": "invalid_value",
            }
        if data.get("group_id") is not None and int(data["group_id"]) not in self.groups:
            return {
                "field": "group_id",
                "message": "There is no group matching the given group_id",
                "code": "invalid_value",
            }
        return None

    def _attachments(self, tid: int) -> list[dict[str, Any]] | None:
        """The request's files as attachments, or None when the ticket would pass its limit.

        Create a Ticket, attachments: "Ticket attachments. The total size of these
        attachments cannot exceed 20MB." Conversations: "The total size of all of a
        ticket's attachments cannot exceed 20MB." (quoted as Freshdesk's API reference
        words them; the reference page itself could not be retrieved here)."""
        before = 0
        if tid:
            before = sum(a["size"] for a in self.tickets[tid].get("attachments", []))
            before += sum(
                a["size"] for c in self.conversations.get(tid, []) for a in c.get("attachments", [])
            )
        if before + sum(len(b) for _n, b in self._files) > self.attachment_limit:
            return None
        out = []
        for name, data in self._files:
            token = f"up{next(self._ids)}"
            self.files[token] = data
            out.append(
                {
                    "id": next(self._ids),
                    "name": name,
                    "size": len(data),
                    "content_type": "application/octet-stream",
                    "attachment_url": self.file_url(token),
                }
            )
        return out

    def _create(self, path: str, bits: list[str], data: Any) -> tuple[int, Any, dict[str, str]]:
        oid = next(self._ids)
        now = "2030-01-01T00:00:00Z"
        if path == "/api/v2/companies":
            self.companies[oid] = {"id": oid, **data, "created_at": now, "updated_at": now}
            return 201, self.companies[oid], {}
        if path == "/api/v2/contacts":
            # Error codes, 409 Inconsistent/Conflicting State: "The resource that is being
            # created/updated is in an inconsistent or conflicting state. For example, if you
            # attempt to Create a Contact with an email that is already associated with an
            # existing user, this code will be returned." (An agent is a user too.) And
            # duplicate_value: "Indicates that this value already exists. This error is
            # applicable to fields that require unique values such as the email address in a
            # contact or the name in a company."
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
        if path == "/api/v2/groups":
            self.groups[oid] = {
                "id": oid,
                "name": data["name"],
                "created_at": now,
                "updated_at": now,
            }
            return 201, self.groups[oid], {}
        if path == "/api/v2/tickets":
            bad = self._invalid_ticket(data)
            if bad:
                return 400, {"description": "Validation failed", "errors": [bad]}, {}
            atts = self._attachments(0)
            if atts is None:
                return 400, _too_large(), {}
            self.tickets[oid] = {
                "id": oid,
                **data,
                "attachments": atts,
                "created_at": now,
                "updated_at": now,
            }
            return 201, self.tickets[oid], {}
        if len(bits) == 5 and bits[4] == "notes":
            tid = int(bits[3])
            if tid not in self.tickets:
                return 404, {"code": "access_denied"}, {}
            if "user_id" in data and int(data["user_id"]) not in self.agents:
                # Create a Note: user_id is the "ID of the agent/user who is adding the note";
                # a contact's id is refused. The exact documentation sentence could not be
                # retrieved to quote it.
                return (
                    400,
                    {
                        "description": "Validation failed",
                        "errors": [
                            {
                                "field": "user_id",
                                "message": "There is no agent matching the given user_id",
                                "code": "invalid_value",
                            }
                        ],
                    },
                    {},
                )
            atts = self._attachments(tid)
            if atts is None:
                return 400, _too_large(), {}
            note = {
                "id": oid,
                "body": data["body"],
                "private": _flag(data.get("private", True)),
                "incoming": _flag(data.get("incoming", False)),
                "user_id": int(data.get("user_id", self.me_id)),
                "ticket_id": tid,
                "created_at": now,
                "updated_at": now,
                "attachments": atts,
            }
            self.conversations.setdefault(tid, []).append(note)
            return 201, note, {}
        return 404, {"description": "not found"}, {}


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _too_large() -> dict[str, Any]:
    return {
        "description": "Validation failed",
        "errors": [
            {
                "field": "attachments",
                "message": "The total size of all attachments cannot exceed 20 MB",
                "code": "invalid_size",
            }
        ],
    }


def _multipart(ctype: str, body: bytes) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """multipart/form-data -> (fields as the JSON body would hold them, files)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + body
    )
    fields: dict[str, Any] = {}
    files: list[tuple[str, bytes]] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files.append((part.get_filename(), data))
        elif name.endswith("[]"):
            fields.setdefault(name[:-2], []).append(data.decode())
        elif "[" in name:
            key, sub = name.rstrip("]").split("[", 1)
            fields.setdefault(key, {})[sub] = data.decode()
        else:
            fields[name] = data.decode()
    for key in (
        "status",
        "priority",
        "source",
        "requester_id",
        "responder_id",
        "group_id",
        "company_id",
        "user_id",
    ):
        if key in fields:
            fields[key] = int(fields[key])
    return fields, files


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
    fake.agents[fake.me_id] = {
        "id": fake.me_id,
        "available": True,
        "occasional": False,
        "ticket_scope": 1,
        "created_at": t0.format(1),
        "updated_at": t0.format(1),
        "contact": {
            "name": "Agnieszka Wąs",
            "email": "agnieszka@sklep.example",
            "phone": None,
            "active": True,
        },
    }
    for i in range(tickets):
        cid = 100 + i
        fake.contacts[cid] = {
            "id": cid,
            "name": f"Klient Żółty {i}",
            "email": f"k{i}@klient.example",
            "phone": None,
            "company_id": 11,
            "other_emails": [],
            "created_at": t0.format(1),
            "updated_at": t0.format(2),
        }
        tid = 200 + i
        fake.tickets[tid] = {
            "id": tid,
            "subject": f"Zamówienie {i} — gęślą jaźń",
            "description": f"<div>Dzień dobry {i}</div>",
            "description_text": f"Dzień dobry {i}",
            "status": 2 + i % 4,
            "priority": 1 + i % 4,
            "source": 1,
            "type": "Question",
            "requester_id": cid,
            "responder_id": fake.me_id,
            "group_id": 21,
            "company_id": 11,
            "tags": ["pl"],
            "custom_fields": {"cf_order": f"PL-{i}"},
            "spam": False,
            "created_at": f"2021-03-0{i + 1}T10:00:00Z",
            "updated_at": f"2021-03-0{i + 1}T12:00:00Z",
            "due_by": None,
            "fr_due_by": None,
            "is_escalated": False,
            "stats": {"resolved_at": None, "closed_at": None, "first_responded_at": None},
        }
        convs = []
        for j in range(notes):
            token = f"f{tid}{j}"
            fake.files[token] = f"plik {tid}/{j}".encode()
            convs.append(
                {
                    "id": 3000 + i * 10 + j,
                    "body": f"<div>Odpowiedź {j}</div>",
                    "body_text": f"Odpowiedź {j}",
                    "incoming": j % 2 == 1,
                    "private": j == 1,
                    "user_id": fake.me_id if j % 2 == 0 else cid,
                    "support_email": "pomoc@sklep.example",
                    "source": 0 if j == 0 else 2,
                    "category": 2,
                    "ticket_id": tid,
                    "to_emails": [f"k{i}@klient.example"],
                    "from_email": "pomoc@sklep.example",
                    "cc_emails": [],
                    "bcc_emails": [],
                    "created_at": f"2021-03-0{i + 1}T11:0{j}:00Z",
                    "updated_at": f"2021-03-0{i + 1}T11:0{j}:00Z",
                    "attachments": [
                        {
                            "id": 70 + j,
                            "name": "skan.png",
                            "content_type": "image/png",
                            "size": 9,
                            "attachment_url": fake.file_url(token),
                            "created_at": "2021-03-01T11:00:00Z",
                        }
                    ]
                    if j == 0
                    else [],
                }
            )
        fake.conversations[tid] = convs
    return fake
