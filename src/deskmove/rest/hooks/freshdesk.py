"""Freshdesk (API v2): native JSON <-> canonical records, and the write payloads.

Read side: companies, groups, agents, contacts, tickets walked in
``updated_since`` windows (the list stops at 300 pages), the ticket's
description as its first message, and its conversations (replies, notes).
Write side: Freshdesk cannot set a ticket's or a note's time stamps, nor a
note's author when that person is not an agent, so each body starts with a
line that keeps the original author and time, and ``push_notes`` says so
before anything is written (``deskmove migrate --dry-run`` shows it).
"""

from __future__ import annotations

import html
from typing import Any

from deskmove.records import (
    MessageRec,
    OrgRec,
    PersonRec,
    QuarantineRec,
    TicketRec,
)
from deskmove.rest.hooks import HookContext, MessageDraft, RemoteFile, iso, parse_time
from deskmove.rest.hooks import group as group  # the engine calls hooks.group
from deskmove.rest.hooks import native_id as _id
from deskmove.rest.hooks import user_ref as _ref
from deskmove.targets.base import RemoteMessage

INLINE_MESSAGES = 1  # the first message is the ticket's description; the rest are notes


# -- read side ----------------------------------------------------------------------------
def person(raw: dict[str, Any], ctx: HookContext) -> PersonRec | None:
    """A contact, or an agent (whose details sit under ``contact``)."""
    agent = "contact" in raw and isinstance(raw["contact"], dict)
    c = raw["contact"] if agent else raw
    emails = [e.strip().lower() for e in [c.get("email"), *(c.get("other_emails") or [])] if e]
    return PersonRec(
        native_id=str(raw["id"]),
        name=c.get("name"),
        emails=list(dict.fromkeys(emails)),
        phone=c.get("phone") or c.get("mobile") or None,
        role="agent" if agent else "customer",
        organization=_id(c.get("company_id")),
    )


def organization(raw: dict[str, Any], ctx: HookContext) -> OrgRec:
    return OrgRec(str(raw["id"]), raw.get("name") or f"company {raw['id']}",
                  [d.lower() for d in raw.get("domains") or []])  # fmt: skip


def ticket(raw: dict[str, Any], ctx: HookContext) -> TicketRec | QuarantineRec:
    if raw.get("deleted"):
        return QuarantineRec(f"ticket {raw['id']}", "deleted in Freshdesk; kept out of the store")
    m = ctx.mapping
    stats = raw.get("stats") or {}
    custom = {
        m.field_name(k): v
        for k, v in (raw.get("custom_fields") or {}).items()
        if v not in (None, "", [])
    }
    return TicketRec(
        native_id=str(raw["id"]),
        subject=raw.get("subject"),
        status=m.canonical("status", raw.get("status")) or "open",
        priority=m.canonical("priority", raw.get("priority")),
        type=m.canonical("type", raw.get("type")),
        channel=m.canonical("channel", raw.get("source")) or "other",
        requester=_ref(raw.get("requester_id"), ctx),
        assignee=_ref(raw.get("responder_id"), ctx),
        group=_id(raw.get("group_id")),
        organization=_id(raw.get("company_id")),
        tags=list(raw.get("tags") or []),
        custom_fields=custom,
        created_at=parse_time(raw.get("created_at")),
        updated_at=parse_time(raw.get("updated_at")),
        solved_at=parse_time(stats.get("resolved_at") or stats.get("closed_at")),
        is_spam=bool(raw.get("spam")),
    )


def _files(obj: dict[str, Any]) -> list[RemoteFile]:
    return [
        RemoteFile(a["attachment_url"], a.get("name"), a.get("content_type") or "application/octet-stream", a.get("size"))
        for a in obj.get("attachments") or []
        if a.get("attachment_url")
    ]  # fmt: skip


def ticket_messages(raw: dict[str, Any], ctx: HookContext) -> list[MessageDraft]:
    """The description is the ticket's first message (from the requester)."""
    if not (raw.get("description") or raw.get("description_text")):
        return []
    msg = MessageRec(
        native_id=f"{raw['id']}-description",
        created_at=parse_time(raw.get("created_at")),
        author=_ref(raw.get("requester_id"), ctx),
        direction="inbound",
        body_text=raw.get("description_text"),
        body_html=raw.get("description"),
    )
    return [MessageDraft(str(raw["id"]), msg, _files(raw))]


def message(
    raw: dict[str, Any], ctx: HookContext, ticket_id: str | None = None
) -> list[MessageDraft]:
    """One conversation: a reply (public) or a note (private unless made public)."""
    private = bool(raw.get("private"))
    msg = MessageRec(
        native_id=str(raw["id"]),
        created_at=parse_time(raw.get("created_at")),
        author=_ref(raw.get("user_id"), ctx),
        public=not private,
        direction="inbound" if raw.get("incoming") else "outbound",
        body_text=raw.get("body_text"),
        body_html=raw.get("body"),
        to=[e.lower() for e in raw.get("to_emails") or []],
        cc=[e.lower() for e in raw.get("cc_emails") or []],
        headers={"recipient": raw["support_email"]} if raw.get("support_email") else {},
    )
    return [MessageDraft(str(raw.get("ticket_id") or ticket_id), msg, _files(raw))]


# -- write side ---------------------------------------------------------------------------
def push_notes(ctx: HookContext) -> list[str]:
    return [
        "Freshdesk cannot set original time stamps: each ticket and note body starts with the "
        "original author and time, and the ticket keeps them in its first line",
        "Freshdesk notes are signed by the API user unless the author is a Freshdesk agent; "
        "customer messages become public notes marked 'incoming'",
    ]


def _origin_line(author: str | None, when: Any) -> str:
    who = html.escape(author or "unknown")
    return f"<p><em>Originally from {who} at {iso(when) or 'an unknown time'} (imported by deskmove)</em></p>"


def _body(c: dict[str, Any]) -> str:
    body = c.get("body_html") or html.escape(c.get("body_text") or "").replace("\n", "<br>")
    return _origin_line(c.get("author_label"), c.get("created_at")) + (
        body or "<p>(empty message)</p>"
    )


def organization_payload(org: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    out: dict[str, Any] = {"name": org["name"]}
    if org.get("domains"):
        out["domains"] = org["domains"]
    return out


def person_payload(p: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.get("name") or (p.get("email") or "").split("@")[0] or f"person {p['id']}",
        "unique_external_id": p["external_id"],
    }
    if p.get("email"):
        out["email"] = p["email"]
    if p.get("phone"):
        out["phone"] = p["phone"]
    if p.get("organization_native"):
        out["company_id"] = int(p["organization_native"])
    return out


def ticket_payload(t: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    m = ctx.mapping
    first = t["messages"][0] if t["messages"] else {"created_at": t.get("created_at")}
    tag = t["external_id"].replace(":", "-")
    import_tag = ctx.spec.target.import_tag if ctx.spec.target else "deskmove-import"
    out: dict[str, Any] = {
        "subject": t.get("subject") or "(no subject)",
        "description": _body(first),
        "status": m.native("status", t.get("status")) or 2,
        "priority": m.native("priority", t.get("priority")) or 1,
        "source": m.native("channel", t.get("channel")) or 2,
        "tags": sorted({*t.get("tags", []), import_tag, tag}),
    }
    if t.get("requester_id"):
        out["requester_id"] = int(t["requester_id"])
    elif first.get("author_id"):
        out["requester_id"] = int(first["author_id"])
    if t.get("assignee_id"):
        out["responder_id"] = int(t["assignee_id"])
    if t.get("organization_id"):
        out["company_id"] = int(t["organization_id"])
    fields = {
        name: v for name, v in (t.get("custom_fields") or {}).items() if name.startswith("cf_")
    }
    if fields:
        out["custom_fields"] = fields
    return out


def append_payload(c: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    """A note (never a reply: a reply would e-mail the customer)."""
    out: dict[str, Any] = {
        "body": _body(c),
        "private": not c.get("public", True),
        "incoming": c.get("direction") == "inbound",
    }
    if c.get("author_id") and c.get("original_author") is None:
        out["user_id"] = int(c["author_id"])
    return out


def remote_message(raw: dict[str, Any]) -> RemoteMessage:
    return RemoteMessage(str(raw["id"]), _id(raw.get("user_id")), parse_time(raw.get("created_at")),
                         not raw.get("private"))  # fmt: skip
