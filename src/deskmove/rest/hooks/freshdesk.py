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
import re
from typing import Any

from deskmove.records import (
    MessageRec,
    OrgRec,
    PersonRec,
    QuarantineRec,
    TicketRec,
)
from deskmove.rest.hooks import (
    HookContext,
    MessageDraft,
    RemoteFile,
    iso,
    native_id,
    parse_time,
    user_ref,
)
from deskmove.rest.hooks import group as group  # the engine calls hooks.group
from deskmove.rest.pushrecords import GroupPush, MessagePush, OrgPush, PersonPush, TicketPush
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
        organization=native_id(c.get("company_id")),
    )


def organization(raw: dict[str, Any], ctx: HookContext) -> OrgRec:
    return OrgRec(
        str(raw["id"]),
        raw.get("name") or f"company {raw['id']}",
        [d.lower() for d in raw.get("domains") or []],
    )


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
        requester=user_ref(raw.get("requester_id"), ctx),
        assignee=user_ref(raw.get("responder_id"), ctx),
        group=native_id(raw.get("group_id")),
        organization=native_id(raw.get("company_id")),
        tags=list(raw.get("tags") or []),
        custom_fields=custom,
        created_at=parse_time(raw.get("created_at")),
        updated_at=parse_time(raw.get("updated_at")),
        solved_at=parse_time(stats.get("resolved_at") or stats.get("closed_at")),
        is_spam=bool(raw.get("spam")),
    )


def _files(obj: dict[str, Any]) -> list[RemoteFile]:
    return [
        RemoteFile(
            a["attachment_url"],
            a.get("name"),
            a.get("content_type") or "application/octet-stream",
            a.get("size"),
        )
        for a in obj.get("attachments") or []
        if a.get("attachment_url")
    ]


def ticket_messages(raw: dict[str, Any], ctx: HookContext) -> list[MessageDraft]:
    """The description is the ticket's first message (from the requester)."""
    if not (raw.get("description") or raw.get("description_text")):
        return []
    msg = MessageRec(
        native_id=f"{raw['id']}-description",
        created_at=parse_time(raw.get("created_at")),
        author=user_ref(raw.get("requester_id"), ctx),
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
        author=user_ref(raw.get("user_id"), ctx),
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
# Freshdesk takes attachments with the create call, as multipart/form-data ("attachments[]"),
# and "The total size of these attachments cannot exceed 20MB" (a ticket's, notes included).
ATTACHMENTS = "multipart"
ATTACHMENT_LIMIT = 20 * 1024 * 1024


def push_notes(ctx: HookContext) -> list[str]:
    return [
        "Freshdesk cannot set original time stamps: each ticket and note body starts with the "
        "original author and time, and the ticket keeps them in its first line",
        "Freshdesk notes are signed by the API user unless the author is a Freshdesk agent; "
        "customer messages become public notes marked 'incoming'",
    ]


ORIGIN = re.compile(r"Originally from (.*?) at (\S+) \(imported by deskmove\)")


def _origin_line(author: str | None, when: Any) -> str:
    who = html.escape(author or "unknown")
    return f"<p><em>Originally from {who} at {iso(when) or 'an unknown time'} (imported by deskmove)</em></p>"


def _body(c: MessagePush | None, when: Any = None, extra: list[str] | tuple[str, ...] = ()) -> str:
    lines = [f"<p><em>{html.escape(x)}</em></p>" for x in extra]
    if c is None:
        return _origin_line(None, when) + "".join(lines) + "<p>(imported without messages)</p>"
    if c.files_left_out:
        lines.append(
            "<p><em>Attachments not migrated (over Freshdesk's 20 MB per ticket): "
            f"{html.escape(', '.join(c.files_left_out))}</em></p>"
        )
    body = c.body_html or html.escape(c.body_text or "").replace("\n", "<br>")
    return (
        _origin_line(c.author_label, c.created_at)
        + "".join(lines)
        + (body or "<p>(empty message)</p>")
    )


def organization_payload(org: OrgPush, ctx: HookContext) -> dict[str, Any]:
    out: dict[str, Any] = {"name": org.name}
    if org.domains:
        out["domains"] = org.domains
    return out


def person_payload(p: PersonPush, ctx: HookContext) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name or (p.email or "").split("@")[0] or f"person {p.entity_id}",
        "unique_external_id": p.external_id,
    }
    if p.email:
        out["email"] = p.email
    if p.phone:
        out["phone"] = p.phone
    if p.organization:
        out["company_id"] = int(p.organization)
    return out


def group_payload(g: GroupPush, ctx: HookContext) -> dict[str, Any]:
    return {"name": g.name}


def ticket_payload(t: TicketPush, ctx: HookContext) -> dict[str, Any]:
    first = t.messages[0] if t.messages else None
    import_tag = ctx.spec.target.import_tag if ctx.spec.target else "deskmove-import"
    extra = [f"Originally assigned to {t.original_assignee}"] if t.original_assignee else []
    out: dict[str, Any] = {
        "subject": t.subject or "(no subject)",
        "description": _body(first, t.created_at, extra),
        "status": t.status or 2,
        "priority": t.priority or 1,
        "source": t.channel or 2,
        "tags": sorted({*t.tags, import_tag, t.external_tag}),
    }
    if t.requester:
        out["requester_id"] = int(t.requester)
    if t.assignee:  # an agent of the target (responder_id takes agents only)
        out["responder_id"] = int(t.assignee)
    if t.group:
        out["group_id"] = int(t.group)
    if t.organization:
        out["company_id"] = int(t.organization)
    if t.type:
        out["type"] = t.type
    fields = {name: v for name, v in t.custom_fields.items() if name.startswith("cf_")}
    if fields:
        out["custom_fields"] = fields
    return out


def append_payload(c: MessagePush, ctx: HookContext) -> dict[str, Any]:
    """A note (never a reply: a reply would e-mail the customer)."""
    out: dict[str, Any] = {
        "body": _body(c),
        "private": not c.public,
        "incoming": c.direction == "inbound",
    }
    if c.author and c.author_is_agent and not c.stand_in:  # user_id must be an agent's id
        out["user_id"] = int(c.author)
    return out


def form_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """A JSON payload as multipart/form-data fields (``tags[]``, ``custom_fields[cf_x]``)."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if isinstance(value, dict):
            out.update({f"{key}[{k}]": _text(v) for k, v in value.items()})
        elif isinstance(value, list):
            out[f"{key}[]"] = [_text(v) for v in value]
        else:
            out[key] = _text(value)
    return out


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def same_message(c: dict[str, Any], payload: dict[str, Any]) -> bool:
    return c.get("body") == payload.get("body") and bool(c.get("private")) == bool(
        payload.get("private")
    )


def field_values(body: Any) -> dict[str, list[str]]:
    """The values this account's ticket fields accept: statuses and ticket types."""
    out: dict[str, list[str]] = {}
    for f in body or []:
        choices = f.get("choices")
        if f.get("name") == "status" and isinstance(choices, dict):
            out["status"] = [str(k) for k in choices]
        elif f.get("name") == "ticket_type" and isinstance(choices, list):
            out["type"] = [str(c) for c in choices]
    return out


def _origin(body: str | None) -> tuple[Any, bool]:
    """The original time a body's first line keeps, and whether the line is there."""
    hit = ORIGIN.search(body or "")
    return (parse_time(hit.group(2)) if hit and hit.group(2) != "an" else None), hit is not None


def remote_description(raw: dict[str, Any]) -> RemoteMessage | None:
    """The ticket's description: its first message, with the time its first line keeps."""
    when, ours = _origin(raw.get("description"))
    return RemoteMessage(
        f"{raw['id']}-description",
        None if ours else native_id(raw.get("requester_id")),
        when or parse_time(raw.get("created_at")),
        True,
    )


def remote_message(raw: dict[str, Any]) -> RemoteMessage:
    when, ours = _origin(raw.get("body"))
    return RemoteMessage(
        str(raw["id"]),
        None if ours else native_id(raw.get("user_id")),
        when or parse_time(raw.get("created_at")),
        not raw.get("private"),
    )
