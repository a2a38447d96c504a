"""Working a ticket: assign or claim, status, priority, tags, notes, replies, presence."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from deskmove.errors import UsageError
from deskmove.store import worklist
from deskmove.store import workspace as ws
from deskmove.web import mailout
from deskmove.web.app import settings_of, store_of

router = APIRouter()
log = logging.getLogger("deskmove.web")
MAX_BODY = 200_000


def _back(ticket_id: int, notice: str = "", anchor: str = "") -> Response:
    url = (
        f"/tickets/{ticket_id}"
        + (f"?notice={notice}" if notice else "")
        + (f"#{anchor}" if anchor else "")
    )
    return RedirectResponse(url, status_code=303)


def _exists(request: Request, ticket_id: int) -> None:
    if worklist.ticket(store_of(request), ticket_id) is None:
        raise HTTPException(404, f"There is no ticket #{ticket_id}.")


@router.post("/tickets/{ticket_id}/update")
def update(
    request: Request,
    ticket_id: int,
    status: Annotated[str, Form(max_length=20)] = "",
    priority: Annotated[str, Form(max_length=20)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    assignee: Annotated[str, Form(max_length=20)] = "",
    keep_tags: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    changes: dict[str, Any] = {}
    if status:
        changes["status"] = status
    if priority:
        changes["priority"] = None if priority == "none" else priority
    if not keep_tags:
        changes["tags"] = sorted({t for t in tags.replace(",", " ").split() if t})
    if assignee:
        if assignee == "none":
            changes["assignee_id"] = None
        elif assignee.isdigit() and ws.is_agent(store_of(request), int(assignee)):
            changes["assignee_id"] = int(assignee)
        else:
            raise UsageError(f"assignee '{assignee}' is not an agent", "pick one from the list")
    if not ws.update_ticket(store_of(request), ticket_id, changes):
        raise HTTPException(404, f"There is no ticket #{ticket_id}.")
    return _back(ticket_id, "saved")


@router.post("/tickets/{ticket_id}/claim")
def claim(request: Request, ticket_id: int) -> Response:
    user = request.state.user
    if user.person_id is None:
        raise UsageError("your account is not linked to an agent", "ask an admin to re-create it")
    if not ws.update_ticket(store_of(request), ticket_id, {"assignee_id": user.person_id}):
        raise HTTPException(404, f"There is no ticket #{ticket_id}.")
    return _back(ticket_id, "claimed")


@router.post("/tickets/{ticket_id}/note")
def note(
    request: Request, ticket_id: int, body: Annotated[str, Form(max_length=MAX_BODY)] = ""
) -> Response:
    if not body.strip():
        raise UsageError("the note is empty", "write something before adding it")
    if ws.add_note(store_of(request), ticket_id, request.state.user, body.strip()) is None:
        raise HTTPException(404, f"There is no ticket #{ticket_id}.")
    return _back(ticket_id, "noted", "end")


@router.post("/tickets/{ticket_id}/reply")
def reply(
    request: Request,
    ticket_id: int,
    body: Annotated[str, Form(max_length=MAX_BODY)] = "",
    to: Annotated[str, Form(max_length=2000)] = "",
    cc: Annotated[str, Form(max_length=2000)] = "",
    subject: Annotated[str, Form(max_length=998)] = "",
    form_token: Annotated[str, Form(min_length=16, max_length=100)] = "",
    seen_upto: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    store = store_of(request)
    user = request.state.user
    _exists(request, ticket_id)
    recipients = _addresses(to)
    if not body.strip():
        raise UsageError("the reply is empty", "write the answer before sending")
    if not recipients:
        raise UsageError("the reply has no recipient", "give at least one address in To")
    if not form_token:
        raise UsageError(
            "the reply form is incomplete", "reload the ticket and write the reply again"
        )
    head = ws.reply_headers(store, ticket_id)
    subj = subject.strip() or head["subject"]
    if subj and not subj.lower().startswith(("re:", "re ")):
        subj = f"Re: {subj}"
    draft_id, created = ws.create_draft(
        store,
        ticket_id=ticket_id,
        user_id=user.id,
        form_token=form_token,
        state="held",
        to=recipients,
        cc=_addresses(cc),
        subject=subj,
        body=body,
        seen_upto=seen_upto,
        mail_id=mailout.new_message_id(settings_of(request).smtp),
        in_reply_to=head["in_reply_to"],
        references=head["references"],
    )
    if not created:  # the same form again (a double click, a reload): it was handled once
        return _back(ticket_id, "duplicate", "drafts")
    if ws.newer_messages(store, ticket_id, seen_upto, user):
        return _back(ticket_id, "held", "drafts")
    return _send(request, draft_id, ticket_id)


@router.post("/drafts/{draft_id}/send")
def send_draft(
    request: Request,
    draft_id: int,
    seen_upto: Annotated[int, Form(ge=0)] = 0,
    unknown_ok: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Send a held or failed draft, after the agent saw what arrived meanwhile."""
    store = store_of(request)
    d = ws.get_draft(store, draft_id)
    if d is None:
        raise HTTPException(404, "There is no such draft.")
    if d.user_id != request.state.user.id:
        raise HTTPException(403, "Only the agent who wrote this reply can send it.")
    if d.state == "sent" or (d.state == "sending" and not unknown_ok):
        return _back(d.ticket_id, "duplicate", "drafts")
    if ws.newer_messages(store, d.ticket_id, seen_upto, request.state.user):
        ws.hold_draft(store, draft_id, d.seen_upto)
        return _back(d.ticket_id, "held", "drafts")
    return _send(request, draft_id, d.ticket_id, allow_unknown=bool(unknown_ok))


@router.post("/drafts/{draft_id}/discard")
def discard(request: Request, draft_id: int) -> Response:
    store = store_of(request)
    d = ws.get_draft(store, draft_id)
    if d is None:
        raise HTTPException(404, "There is no such draft.")
    if d.user_id != request.state.user.id:
        raise HTTPException(403, "Only the agent who wrote this reply can discard it.")
    if not ws.discard_draft(store, draft_id):
        raise UsageError("this draft is being sent or was sent", "reload the ticket")
    return _back(d.ticket_id, "discarded")


def _send(request: Request, draft_id: int, ticket_id: int, allow_unknown: bool = False) -> Response:
    store = store_of(request)
    smtp = settings_of(request).smtp
    if not ws.claim_draft(store, draft_id, allow_unknown=allow_unknown):
        return _back(ticket_id, "duplicate", "drafts")  # someone else is sending it, or it went out
    d = ws.get_draft(store, draft_id)
    user = request.state.user
    if smtp is None:
        ws.fail_draft(store, draft_id, "no [smtp] section in deskmove.toml: replies cannot be sent")
        return _back(ticket_id, "failed", "drafts")
    msg = mailout.build_reply(
        smtp,
        agent_name=user.name,
        to=list(d.to),
        cc=list(d.cc),
        subject=d.subject or "",
        body=d.body,
        message_id=d.mail_id,
        in_reply_to=d.in_reply_to,
        references=list(d.references),
    )
    try:
        mailout.send(smtp, msg)
    except mailout.SendFailed as exc:
        log.warning("reply %s to ticket %s not sent: %s", draft_id, ticket_id, exc)
        ws.fail_draft(store, draft_id, str(exc))
        return _back(ticket_id, "failed", "drafts")
    sha = store.blobs.put(msg.as_bytes())
    ws.sent_draft(
        store, draft_id, author_id=user.person_id, raw_sha256=sha, from_addr=smtp.sender_address
    )
    return _back(ticket_id, "sent", "end")


def _addresses(text: str) -> list[str]:
    from email.utils import getaddresses

    out = []
    for _name, addr in getaddresses([text]):
        addr = addr.strip()
        if addr and "@" in addr and " " not in addr and "\r" not in addr and "\n" not in addr:
            out.append(addr)
    return out[:50]


@router.post("/tickets/{ticket_id}/presence")
def presence(request: Request, ticket_id: int, state: str = "viewing", leave: int = 0) -> Response:
    """The page's heartbeat: says who else is here, and the newest message id."""
    store = store_of(request)
    user = request.state.user
    if leave:
        ws.leave_presence(store, ticket_id, user.id)
        return JSONResponse({"ok": True})
    others, latest = ws.heartbeat(store, ticket_id, user.id, state)
    return JSONResponse({"others": others, "latest": latest})
