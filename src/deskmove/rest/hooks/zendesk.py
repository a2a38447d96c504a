"""Zendesk Support: native JSON <-> canonical records, and the import payloads.

Read side: users, organizations, groups, tickets from the incremental cursor
export, comments from the ticket-events export (``include=comment_events``)
or from ``/tickets/{id}/comments.json``. Write side: payloads for
``organizations/create_many``, ``users/create_or_update_many`` and
``imports/tickets/create_many``; ``external_id`` carries deskmove's provenance.
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

AGENT_ROLES = {"agent", "admin"}


# -- read side ----------------------------------------------------------------------------
def person(raw: dict[str, Any], ctx: HookContext) -> PersonRec | None:
    email = (raw.get("email") or "").strip().lower()
    return PersonRec(
        native_id=str(raw["id"]),
        name=raw.get("name"),
        emails=[email] if email else [],
        phone=raw.get("phone") or None,
        role="agent" if raw.get("role") in AGENT_ROLES else "customer",
        organization=native_id(raw.get("organization_id")),
    )


def organization(raw: dict[str, Any], ctx: HookContext) -> OrgRec:
    return OrgRec(
        str(raw["id"]),
        raw.get("name") or f"organization {raw['id']}",
        [d.lower() for d in raw.get("domain_names") or []],
    )


def ticket(raw: dict[str, Any], ctx: HookContext) -> TicketRec | QuarantineRec:
    if raw.get("status") == "deleted":
        return QuarantineRec(f"ticket {raw['id']}", "deleted in Zendesk; kept out of the store")
    m = ctx.mapping
    via = raw.get("via") or {}
    custom = {
        m.field_name(f["id"]): f.get("value")
        for f in raw.get("custom_fields") or []
        if f.get("value") not in (None, "", [])
    }
    return TicketRec(
        native_id=str(raw["id"]),
        subject=raw.get("subject") or raw.get("raw_subject"),
        status=m.canonical("status", raw.get("status")) or "open",
        priority=m.canonical("priority", raw.get("priority")),
        type=m.canonical("type", raw.get("type")),
        channel=m.canonical("channel", via.get("channel")) or "other",
        requester=user_ref(raw.get("requester_id"), ctx),
        assignee=user_ref(raw.get("assignee_id"), ctx),
        group=native_id(raw.get("group_id")),
        organization=native_id(raw.get("organization_id")),
        tags=list(raw.get("tags") or []),
        custom_fields=custom,
        created_at=parse_time(raw.get("created_at")),
        updated_at=parse_time(raw.get("updated_at")),
        solved_at=parse_time((raw.get("_metric_sets") or {}).get("solved_at")),
        is_spam="spam" in (raw.get("tags") or []),
    )


def _files(comment: dict[str, Any]) -> list[RemoteFile]:
    return [
        RemoteFile(
            a["content_url"],
            a.get("file_name"),
            a.get("content_type") or "application/octet-stream",
            a.get("size"),
            bool(a.get("inline")),
        )
        for a in comment.get("attachments") or []
        if a.get("content_url")
    ]


def _comment(
    c: dict[str, Any], ticket_id: str, when: Any, via: Any, ctx: HookContext
) -> MessageDraft:
    author = user_ref(c.get("author_id"), ctx)
    public = bool(c.get("public", True))
    agent = author is not None and author.role == "agent"
    msg = MessageRec(
        native_id=str(c["id"]),
        created_at=parse_time(c.get("created_at") or when),
        author=author,
        public=public,
        direction="outbound" if agent or not public else "inbound",
        body_text=c.get("plain_body") or c.get("body"),
        body_html=c.get("html_body"),
        headers={"via": via} if isinstance(via, dict) else {},
    )
    return MessageDraft(ticket_id, msg, _files(c))


def message(
    raw: dict[str, Any], ctx: HookContext, ticket_id: str | None = None
) -> list[MessageDraft]:
    """A ticket-events audit (its Comment child events) or one ticket comment."""
    if "child_events" in raw:
        tid = str(raw["ticket_id"])
        return [
            _comment(
                ev,
                tid,
                raw.get("created_at") or raw.get("timestamp"),
                ev.get("via") or raw.get("via"),
                ctx,
            )
            for ev in raw["child_events"]
            if (ev.get("event_type") or ev.get("type")) == "Comment"
        ]
    if raw.get("type", "Comment") != "Comment":
        return []
    return [_comment(raw, str(ticket_id), raw.get("created_at"), raw.get("via"), ctx)]


# -- write side ---------------------------------------------------------------------------
def organization_payload(org: OrgPush, ctx: HookContext) -> dict[str, Any]:
    out: dict[str, Any] = {"name": org.name, "external_id": org.external_id}
    if org.domains:
        out["domain_names"] = org.domains
    return out


def person_payload(p: PersonPush, ctx: HookContext) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name or (p.email or "").split("@")[0] or f"person {p.entity_id}",
        "external_id": p.external_id,
        "verified": True,  # no verification mail: the import stays silent
        "skip_verify_email": True,
    }
    if p.role == "agent" and ctx.options.get("agents") == "create":
        out["role"] = "agent"  # otherwise no role: an existing agent matched by email stays one
    if p.email:
        out["email"] = p.email
    if p.phone:
        out["phone"] = p.phone
    if p.organization:
        out["organization_id"] = int(p.organization)
    return out


def group_payload(g: GroupPush, ctx: HookContext) -> dict[str, Any]:
    return {"name": g.name}


def _status(t: TicketPush) -> str:
    status = t.status or "open"
    if status == "new" and t.messages:
        return "open"  # Zendesk does not import "new" tickets with comments as new
    return status


def ticket_payload(t: TicketPush, ctx: HookContext) -> dict[str, Any]:
    out: dict[str, Any] = {
        "external_id": t.external_id,
        "subject": t.subject or "(no subject)",
        "status": _status(t),
        "tags": _tags(t, ctx),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "comments": [comment_payload(c, ctx) for c in t.messages],
    }
    if t.priority:
        out["priority"] = t.priority
    if t.type:
        out["type"] = t.type
    if t.solved_at:
        out["solved_at"] = iso(t.solved_at)
    for key, value in (
        ("requester_id", t.requester),
        ("assignee_id", t.assignee),
        ("group_id", t.group),
        ("organization_id", t.organization),
    ):
        if value:
            out[key] = int(value)
    fields = [
        {"id": int(fid), "value": v}
        for name, v in t.custom_fields.items()
        if (fid := ctx.mapping.field_id(name)) is not None
    ]
    if fields:
        out["custom_fields"] = fields
    if not out["comments"]:
        out["description"] = t.subject or "(imported without messages)"
    return {k: v for k, v in out.items() if v is not None}


def comment_payload(c: MessagePush, ctx: HookContext) -> dict[str, Any]:
    out: dict[str, Any] = {"public": c.public, "created_at": iso(c.created_at)}
    if c.author:
        out["author_id"] = int(c.author)
    lines = []
    if c.stand_in:  # signed by the fallback author: keep who wrote it
        lines.append(f"Originally from {c.author_label or 'an unknown author'}")
    if c.files_left_out:
        lines.append(
            "Attachments not migrated (over the size limit): " + ", ".join(c.files_left_out)
        )
    if c.body_html:
        out["html_body"] = "".join(f"<p><em>{html.escape(x)}</em></p>" for x in lines) + c.body_html
    else:
        out["value"] = "".join(f"{x}\n\n" for x in lines) + (c.body_text or "(empty message)")
    tokens = [f.token for f in c.files if f.token]
    if tokens:
        out["uploads"] = tokens
    return {k: v for k, v in out.items() if v is not None}


def append_payload(c: MessagePush, ctx: HookContext) -> dict[str, Any]:
    """A delta push: one new comment on an already-imported ticket.

    A ticket update cannot set a comment's time, so the original one leads the body.
    """
    comment = comment_payload(c, ctx)
    when = comment.pop("created_at", None)
    if when:
        line = f"Originally sent at {when}"
        if "html_body" in comment:
            comment["html_body"] = f"<p><em>{line}</em></p>" + comment["html_body"]
        else:
            comment["value"] = f"{line}\n\n{comment['value']}"
    return {"ticket": {"comment": comment}}


def same_message(c: dict[str, Any], payload: dict[str, Any]) -> bool:
    """A comment of the target is the one ``payload`` made (same author, body and flag)."""
    want = payload.get("ticket", {}).get("comment", {})
    text = want.get("html_body") or want.get("value")
    return (
        str(c.get("author_id")) == str(want.get("author_id"))
        and bool(c.get("public", True)) == bool(want.get("public", True))
        and text in (c.get("html_body"), c.get("body"))
    )


# A solved Zendesk ticket still takes updates (one may reopen it); a closed one takes none,
# only a follow-up ticket (POST /tickets.json with via_followup_source_id).
REOPEN_FROM = frozenset({"solved"})
FOLLOWUP_FROM = frozenset({"closed"})


def _tags(t: TicketPush, ctx: HookContext) -> list[str]:
    return sorted({*t.tags, ctx.spec.target.import_tag if ctx.spec.target else "deskmove"})


def ticket_fields(t: TicketPush, ctx: HookContext) -> dict[str, Any]:
    """What a delta push keeps in step: status, tags (with the import tag), assignee, group."""
    return {
        "status": _status(t),
        "tags": _tags(t, ctx),
        "assignee_id": int(t.assignee) if t.assignee else None,
        "group_id": int(t.group) if t.group else None,
    }


def update_payload(fields: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    """Changed fields only, and no comment: nobody gets mail for it."""
    return {"ticket": fields}


def reopen(payload: dict[str, Any]) -> dict[str, Any]:
    """An append that reopens a solved ticket: the same update sets it open."""
    return {"ticket": {**payload["ticket"], "status": "open"}}


def followup_payload(
    payload: dict[str, Any], closed_id: str, t: TicketPush, external_id: str, ctx: HookContext
) -> dict[str, Any]:
    """A follow-up of a closed ticket carrying the new message (tags inherited from it)."""
    out: dict[str, Any] = {
        "via_followup_source_id": int(closed_id),
        "subject": t.subject or "(no subject)",
        "comment": payload["ticket"]["comment"],
        "external_id": external_id,
    }
    if t.requester:
        out["requester_id"] = int(t.requester)
    return {"ticket": out}


def job_results(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-item results of a finished job: {index, id, error}."""
    out = []
    for i, r in enumerate(job.get("results") or []):
        index = r.get("index", i)
        ok = (
            r.get("success", True)
            and not r.get("error")
            and r.get("status") != "Failed"
            and r.get("id") is not None
        )
        out.append(
            {
                "index": index,
                "id": native_id(r.get("id")) if ok else None,
                "matched": ok and r.get("status") == "Updated",  # create_or_update found it
                "error": None if ok else (r.get("details") or r.get("error") or "failed"),
            }
        )
    return out


def job_state(job: dict[str, Any]) -> str:
    """queued/working -> "running"; completed -> "done"; failed/killed -> "failed"."""
    status = job.get("status")
    if status == "completed":
        return "done"
    if status in ("failed", "killed"):
        return "failed"
    return "running"


def remote_message(raw: dict[str, Any]) -> RemoteMessage:
    """One comment as the target holds it, for ``deskmove verify``."""
    return RemoteMessage(
        str(raw["id"]),
        native_id(raw.get("author_id")),
        parse_time(raw.get("created_at")),
        bool(raw.get("public", True)),
    )
