"""Request Tracker 5 (REST2): native JSON <-> canonical records, and the write payloads.

Read side: tickets come from TicketSQL searches (``Queue = … AND LastUpdated >=
…``), one page per window; each ticket's messages are its Create, Correspond
and Comment transactions (``/ticket/{id}/history``) joined with their
attachments (``/ticket/{id}/attachments``): the inline text parts are the body,
the rest are files, fetched from ``/attachment/{id}`` (base64 in JSON). A
ticket's history includes the tickets merged into it, so their messages follow
it. Requestors, Cc and AdminCc beyond the first requestor are kept in the
ticket's custom fields (``rt.requestors``, ``rt.cc``, ``rt.admincc``).

TicketSQL reads a date in RT's time zone, while REST2 answers in UTC: the
cursor is written in ``?timezone=`` (default UTC), and each run first checks
that RT reads it that way, so a wrong zone fails loudly instead of skipping
tickets.

Write side: a ticket is created in the spec's queue with its requestors,
subject and first message (``RefersTo`` holds deskmove's external id, so a
re-run after a crash finds it); later messages are Correspond (public) or
Comment (internal) transactions. REST2 cannot set a transaction's time or
creator: every body starts with the original author and time, and ends the
line with deskmove's message id, which is how verify reads the times back and
an interrupted append is found again. Files go as multipart (RT 5.0.3 answers
500 to a non-ASCII file name in a JSON body). Everyone deskmove puts on a
ticket is on its ``SquelchMailTo`` list, so RT's scrips mail none of them.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deskmove.errors import ConfigError, UsageError
from deskmove.records import GroupRec, MessageRec, PersonRec, PersonRef, TicketRec
from deskmove.rest.hooks import HookContext, MessageDraft, RemoteFile, parse_time
from deskmove.rest.pushrecords import MessagePush, OrgPush, PersonPush, TicketPush
from deskmove.targets.base import RemoteMessage

MESSAGE_TYPES = {"Create", "Correspond", "Comment"}
NOBODY = {"Nobody", "RT_System"}
EPOCH_ZERO = "1970-01-01T00:00:00Z"  # RT's "not set"
STEP = 15 * 60  # time zone offsets are whole quarter hours
WATCHERS = (("Requestor", "rt.requestors"), ("Cc", "rt.cc"), ("AdminCc", "rt.admincc"))


# -- the search: queues and the cursor in RT's time zone --------------------------------
def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def queue_clause(ctx: HookContext) -> str:
    queues = ctx.conn.folders
    if not queues:
        raise UsageError(
            f"'{ctx.conn.spec}' names no queue",
            "write it as rt://HOST/QUEUE (or QUEUE1,QUEUE2)",
        )
    return " OR ".join(f"Queue = {_quote(q)}" for q in queues)


def zone(ctx: HookContext) -> ZoneInfo:
    name = str(ctx.conn.option("timezone") or "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"?timezone={name} is not a time zone", "use a name like Europe/Prague or UTC"
        ) from None


def local(epoch: float, tz: ZoneInfo) -> str:
    """An instant as RT reads TicketSQL dates: wall time in its zone, no offset."""
    return datetime.fromtimestamp(epoch, UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def stream_values(ctx: HookContext, client: Any) -> dict[str, Any]:
    tz = zone(ctx)
    values = {"queues": queue_clause(ctx), "format_start": lambda epoch: local(epoch, tz)}
    check_zone(client, values["queues"], tz)
    return values


def _found(client: Any, query: str) -> bool:
    _r, body = client.json(
        "GET", "/REST/2.0/tickets", params={"query": query, "per_page": 1, "fields": "id"}
    )
    return bool((body or {}).get("items"))


def check_zone(client: Any, queues: str, tz: ZoneInfo) -> None:
    """RT must read a wall time in ``tz`` as we mean it: checked on its newest ticket.

    ``LastUpdated >= 'wall time of L'`` must find the ticket last updated at L,
    and a quarter hour later must not. When it fails, the offset RT does use
    is found by bisection and named in the error.
    """
    _r, body = client.json(
        "GET",
        "/REST/2.0/tickets",
        params={
            "query": f"({queues})",
            "orderby": "LastUpdated",
            "order": "DESC",
            "per_page": 1,
            "fields": "LastUpdated",
        },
    )
    items = (body or {}).get("items") or []
    last = parse_time(items[0].get("LastUpdated")) if items else None
    if last is None:
        return  # nothing to read yet: nothing to get wrong
    tid, at = items[0]["id"], last.timestamp()

    def reads_as_at_most(offset: float) -> bool:  # RT's offset >= this one
        wall = datetime.fromtimestamp(at + offset, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return _found(client, f"id = {tid} AND LastUpdated >= '{wall}'")

    ours = (tz.utcoffset(last.replace(tzinfo=None)) or timedelta()).total_seconds()
    if reads_as_at_most(ours) and not reads_as_at_most(ours + STEP):
        return
    lo, hi = -12 * 3600, 14 * 3600  # bisect RT's offset: true at lo, false above it
    while hi - lo > STEP:
        mid = lo + ((hi - lo) // (2 * STEP)) * STEP
        lo, hi = (mid, hi) if reads_as_at_most(mid) else (lo, mid)
    theirs = lo if reads_as_at_most(lo) else lo - STEP
    sign = "+" if theirs >= 0 else "-"
    hours = f"UTC{sign}{int(abs(theirs) // 3600):02d}:{int(abs(theirs) % 3600 // 60):02d}"
    raise ConfigError(
        f"RT reads TicketSQL dates at {hours}, not in {tz.key}",
        "add ?timezone=AREA/CITY with RT's time zone (its $Timezone, or the API user's "
        "own time zone setting) so no ticket is skipped",
    )


# -- one login per run -------------------------------------------------------------------
def prepare_client(client: Any, ctx: HookContext) -> None:
    """Log in once and reuse RT's session: RT checks a password or token hash on every
    request (two bcrypt checks for basic auth, ~0.4 s each here), a session cookie not.

    Only with RT_USER + RT_PASSWORD (a token cannot open a web session). Every request
    still carries the credentials: when the session ends or RT refuses the cookie
    (its referrer check), RT falls back to them by itself.
    """
    if ctx.conn.optional_secret("token", "RT_TOKEN"):
        return
    user = ctx.conn.optional_secret("user", "RT_USER")
    password = ctx.conn.optional_secret("password", "RT_PASSWORD")
    if not (user and password):
        return
    base = client.base_url
    try:
        resp = client.http.post(
            f"{base}/NoAuth/Login.html",
            data={"user": user, "pass": password},
            timeout=client.spec.retry.timeout,
        )
        # RT answers a failed login with a session too: only one that REST2 accepts counts
        ok = (
            resp.status_code < 400
            and client.http.get(
                f"{base}/REST/2.0/rt", timeout=client.spec.retry.timeout
            ).status_code
            == 200
        )
    except Exception:  # noqa: BLE001 - the credentials still work on every request
        ok = False
    cookies = [c for c in client.http.cookies.jar if c.name.startswith("RT_SID_")]
    if not ok or not cookies:
        client.http.cookies.clear()
        return
    client.redact.add(*(c.value for c in cookies))
    client.http.headers["Referer"] = base + "/"  # RT's CSRF check for POST/PUT with a session


# -- people ------------------------------------------------------------------------------
def privileged(name: str, ctx: HookContext) -> bool | None:
    """Whether an RT user is privileged (staff), looked up once per run; None if unknown."""
    cache = ctx.scratch.setdefault("privileged", {})
    if name not in cache:
        try:
            _r, body = ctx.client.json("GET", f"/REST/2.0/user/{name}")
            cache[name] = bool(int((body or {}).get("Privileged") or 0))
        except Exception:  # noqa: BLE001 - a non-admin key may not read users
            cache[name] = None
    return cache[name]


def user_ref(raw: Any, ctx: HookContext) -> PersonRef | None:
    """A person from an expanded RT user (``Name``, ``EmailAddress``, ``RealName``)."""
    if not isinstance(raw, dict):
        return None
    name = raw.get("Name") or raw.get("id")
    if not name or name in NOBODY:
        return None
    email = (raw.get("EmailAddress") or "").strip().lower() or None
    staff = privileged(str(name), ctx) if ctx.client is not None else None
    role = "agent" if staff else None
    if staff:
        ctx.agents.add(str(name))
    return PersonRef(
        email=email, name=raw.get("RealName") or None, native_id=f"user:{name}", role=role
    )


def _emails(users: Any) -> list[str]:
    return [
        str(u.get("EmailAddress") or u.get("id")).lower()
        for u in users or []
        if isinstance(u, dict) and (u.get("EmailAddress") or "@" in str(u.get("id")))
    ]


# -- tickets -----------------------------------------------------------------------------
def _priority(value: Any) -> str | None:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    if n <= 0:
        return None
    return "low" if n < 34 else "normal" if n < 67 else "high" if n < 90 else "urgent"


def _time(value: Any) -> datetime | None:
    return None if not value or value == EPOCH_ZERO else parse_time(value)


def ticket(raw: dict[str, Any], ctx: HookContext) -> TicketRec:
    m = ctx.mapping
    custom: dict[str, Any] = {}
    for cf in raw.get("CustomFields") or []:
        values = [v for v in cf.get("values") or [] if v not in (None, "")]
        if values:
            custom[m.field_name(cf.get("name") or cf.get("id"))] = (
                values[0] if len(values) == 1 else values
            )
    requestors = raw.get("Requestor") or []
    for key, name in WATCHERS:
        emails = _emails(raw.get(key))
        if key == "Requestor":
            emails = emails[1:]  # the first one is the ticket's requester
        if emails:
            custom[name] = emails
    status = str(raw.get("Status") or "")
    rec = TicketRec(
        native_id=str(raw["id"]),
        subject=raw.get("Subject") or None,
        status=m.canonical("status", status) or "open",
        priority=_priority(raw.get("Priority")),
        channel="other",  # set from the Create transaction's interface
        requester=user_ref(requestors[0], ctx) if requestors else None,
        assignee=user_ref(raw.get("Owner"), ctx),
        group=(raw.get("Queue") or {}).get("Name") or None,
        tags=[f"rt-{status}"] if status in ("rejected", "deleted") else [],
        custom_fields=custom,
        created_at=_time(raw.get("Created")),
        updated_at=_time(raw.get("LastUpdated")),
        solved_at=_time(raw.get("Resolved")),
    )
    ctx.scratch.setdefault("tickets", {})[rec.native_id] = rec
    return rec


# -- messages: transactions joined with their attachments -------------------------------
_PARSER = email.parser.HeaderParser(policy=email.policy.default)
CHANNELS = {
    "Email": "email",
    "Web": "web",
    "REST": "api",
    "API": "api",
    "CLI": "api",
    "Mobile": "web",
    "SelfService": "web",
}


def _headers(text: str | None) -> Any:
    return _PARSER.parsestr(text or "")


def _addresses(headers: Any, name: str) -> list[str]:
    values = [str(v) for v in headers.get_all(name) or []]
    return [a.lower() for _n, a in email.utils.getaddresses(values) if "@" in a]


def _is_file(att: dict[str, Any], headers: Any) -> bool:
    ctype = (att.get("ContentType") or "").lower()
    if ctype.startswith("multipart/"):
        return False
    if att.get("Filename"):
        return True
    disposition = str(headers.get("Content-Disposition") or "").lower()
    return not ctype.startswith("text/") or disposition.startswith("attachment")


def ticket_history(
    records: dict[str, list[dict[str, Any]]], ctx: HookContext, ticket_id: str
) -> list[MessageDraft]:
    by_txn: dict[str, list[dict[str, Any]]] = {}
    for att in records.get("attachments") or []:
        by_txn.setdefault(str(att.get("TransactionId")), []).append(att)
    requestor_ids = set()
    rec = (ctx.scratch.get("tickets") or {}).get(ticket_id)
    if rec is not None and rec.requester is not None:
        requestor_ids.add(rec.requester.native_id)
    drafts = []
    for txn in records.get("history") or []:
        if txn.get("Type") not in MESSAGE_TYPES:
            continue
        draft = _message(
            txn,
            sorted(by_txn.get(str(txn["id"]), []), key=lambda a: int(a["id"])),
            ctx,
            ticket_id,
            requestor_ids,
        )
        drafts.append(draft)
        if txn.get("Type") == "Create" and rec is not None:
            rec.channel = draft.message.headers.pop("_channel", None) or rec.channel
        draft.message.headers.pop("_channel", None)
    return drafts


def _message(
    txn: dict[str, Any],
    atts: list[dict[str, Any]],
    ctx: HookContext,
    ticket_id: str,
    requestor_ids: set[str | None],
) -> MessageDraft:
    top = _headers(atts[0].get("Headers")) if atts else _headers("")
    text = html = None
    files: list[RemoteFile] = []
    for att in atts:
        h = _headers(att.get("Headers"))
        ctype = (att.get("ContentType") or "").lower()
        if _is_file(att, h):
            cid = str(h.get("Content-ID") or "").strip("<> ") or None
            files.append(
                RemoteFile(
                    f"/REST/2.0/attachment/{att['id']}",
                    att.get("Filename") or None,
                    att.get("ContentType") or "application/octet-stream",
                    int(att.get("ContentLength") or 0) or None,
                    inline=bool(cid)
                    and not str(h.get("Content-Disposition") or "")
                    .lower()
                    .startswith("attachment"),
                    content_id=cid,
                    json_field="Content",
                )
            )
        elif ctype == "text/plain" and text is None:
            text = att.get("Content") or ""
        elif ctype == "text/html" and html is None:
            html = att.get("Content") or ""
    kind = txn.get("Type")
    author = user_ref(txn.get("Creator"), ctx)
    if kind == "Comment":
        inbound = False  # comments are the staff's internal notes
    elif author is None:
        inbound = True
    else:
        staff = ctx.scratch.get("privileged", {}).get(author.native_id.removeprefix("user:"))
        inbound = not staff if staff is not None else author.native_id in requestor_ids
    headers: dict[str, Any] = {}
    interface = str(top.get("X-RT-Interface") or "")
    if kind == "Create":
        headers["_channel"] = CHANNELS.get(interface, "email" if top.get("Received") else None)
    auto = str(top.get("Auto-Submitted") or "").lower()
    refs = str(top.get("References") or "").split()
    msg = MessageRec(
        native_id=str(txn["id"]),
        created_at=parse_time(txn.get("Created")),
        author=author,
        public=kind != "Comment",
        direction="inbound" if inbound else "outbound",
        subject=(atts[0].get("Subject") if atts else None) or None,
        body_text=text,
        body_html=html,
        to=_addresses(top, "To"),
        cc=_addresses(top, "Cc"),
        message_id=(atts[0].get("MessageId") if atts else None) or None,
        in_reply_to=str(top.get("In-Reply-To") or "").strip() or None,
        references=refs,
        headers=headers,
        is_auto=bool(auto and auto != "no"),
    )
    return MessageDraft(ticket_id, msg, files)


# -- write side --------------------------------------------------------------------------
INLINE_MESSAGES = 1  # the first message is the ticket's Content; the rest are appended
ATTACHMENTS = "multipart"  # sent with the create or append call
ATTACHMENT_PART = "Attachments"
REPLIES_CHANGE_STATUS = True  # a Correspond reopens a ticket ("On Correspond Open Inactive…")
STATUS_FIELD = "Status"
ORIGIN = re.compile(
    r"Originally from (?P<who>.*?) at (?P<when>\S+) \(imported by deskmove, message (?P<id>\d+)\)"
)
MAIL_SCRIPS = (
    "On Create Autoreply To Requestors",
    "On Create Notify Owner and AdminCcs",
    "On Create Notify Ccs",
    "On Create Notify Other Recipients",
    "On Correspond Notify Requestors and Ccs",
    "On Correspond Notify Owner and AdminCcs",
    "On Correspond Notify Other Recipients",
    "On Comment Notify AdminCcs as Comment",
    "On Comment Notify Other Recipients as Comment",
    "On Owner Change Notify Owner",
    "On Resolve Notify Requestors",
)


def target_values(ctx: HookContext) -> dict[str, str]:
    """Lookups stay in the spec's queues: another store's tickets in the same RT carry the
    same ``deskmove:ticket:N`` (``?external_id_prefix=`` tells two stores apart)."""
    return {"queues": queue_clause(ctx)}


def push_notes(ctx: HookContext) -> list[str]:
    notes = [
        "RT cannot set a transaction's original time or creator through REST2: each ticket "
        "and message body starts with the original author and time; RT shows the API user "
        "and the time of the import",
        "a ticket's owner is set only when the store's assignee is a privileged RT user "
        "(matched by e-mail) with the OwnTicket right in the queue; others stay with Nobody",
    ]
    if squelching(ctx):
        notes.append(
            "RT mails nobody deskmove puts on a ticket: requestors, Cc, AdminCc and owner are "
            "on its SquelchMailTo list (RT's People page shows it; remove them there after the "
            "cutover); queue watchers are not: if the queues have any, disable these scrips "
            "for the import: " + ", ".join(MAIL_SCRIPS)
        )
    else:
        notes.append(
            "?squelch=none: RT's scrips decide who is mailed; disable these before the import: "
            + ", ".join(MAIL_SCRIPS)
        )
    return notes


def squelching(ctx: HookContext) -> bool:
    value = str(ctx.conn.option("squelch") or "requestors").lower()
    if value not in ("requestors", "none"):
        raise ConfigError(
            f"?squelch={value} is not known", "use ?squelch=requestors or ?squelch=none"
        )
    return value == "requestors"


def _user(name: str, ctx: HookContext) -> dict[str, Any]:
    """An RT user by name (``EmailAddress``, ``Privileged``), read once per run."""
    cache = ctx.scratch.setdefault("users", {})
    if name not in cache:
        try:
            _r, body = ctx.client.json("GET", f"/REST/2.0/user/{name}")
            cache[name] = body or {}
        except Exception:  # noqa: BLE001 - a missing or hidden user is no user
            cache[name] = {}
    return cache[name]


def person(raw: dict[str, Any], ctx: HookContext) -> PersonRec | None:
    """An RT user a lookup found (matching people by e-mail)."""
    name = str(raw.get("Name") or raw.get("id") or "")
    if not name or name in NOBODY:
        return None
    email = (raw.get("EmailAddress") or "").strip().lower()
    if email:
        ctx.scratch.setdefault("emails", {})[name] = email
    return PersonRec(
        native_id=name, name=raw.get("RealName") or None, emails=[email] if email else []
    )


def find_agent(email: str, ctx: HookContext) -> str | None:
    """The privileged RT user with this address (REST2 lists no agents: each is looked up)."""
    query = json.dumps([{"field": "EmailAddress", "value": email}])
    _r, body = ctx.client.json(
        "GET", "/REST/2.0/users", params={"query": query, "fields": "Name,EmailAddress"}
    )
    for raw in (body or {}).get("items") or []:
        found = person(raw, ctx)
        if (
            found
            and email.casefold() in found.emails
            and int(_user(found.native_id, ctx).get("Privileged") or 0)
        ):
            return found.native_id
    return None


def group(raw: dict[str, Any], ctx: HookContext) -> GroupRec:
    """A queue (RT's groups of tickets); its id is remembered by name for ``_queue``."""
    name = str(raw.get("Name") or f"queue {raw['id']}")
    ctx.scratch.setdefault("queues", {})[name] = str(raw["id"])
    return GroupRec(str(raw["id"]), name)


def person_payload(p: PersonPush, ctx: HookContext) -> dict[str, Any]:
    """An unprivileged RT user, named by its e-mail (as RT names the users mail creates)."""
    out: dict[str, Any] = {
        "Name": p.email or f"deskmove-person-{p.entity_id}",
        "Privileged": 0,
        "Comments": f"Imported by deskmove ({p.external_id})",
    }
    if p.email:
        out["EmailAddress"] = p.email
    if p.name:
        out["RealName"] = p.name
    return out


def organization_payload(org: OrgPush, ctx: HookContext) -> dict[str, Any]:
    return {"Name": org.name}  # RT has no organizations: the spec creates none


def _origin(m: MessagePush) -> str:
    when = m.created_at
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else "an unknown time"
    who = m.author_label or "an unknown author"
    return f"Originally from {who} at {stamp} (imported by deskmove, message {m.entity_id})"


def _content(m: MessagePush | None) -> dict[str, Any]:
    """Content and ContentType: the original HTML or text, after the origin line."""
    if m is None:
        return {"Content": "(imported without messages)", "ContentType": "text/plain"}
    origin = _origin(m)
    left = (
        f"\n\nAttachments not migrated: {', '.join(m.files_left_out)}" if m.files_left_out else ""
    )
    if m.body_html:
        extra = f"<p><em>{html.escape(left.strip())}</em></p>" if left else ""
        return {
            "Content": f"<p><em>{html.escape(origin)}</em></p>\n{extra}{m.body_html}",
            "ContentType": "text/html",
        }
    return {
        "Content": f"{origin}{left}\n\n{m.body_text or '(empty message)'}",
        "ContentType": "text/plain",
    }


def _queue(t: TicketPush, ctx: HookContext) -> str:
    """The ticket's group when it is one of the spec's queues, else the first queue."""
    queues = ctx.conn.folders
    if not queues:
        raise UsageError(f"'{ctx.conn.spec}' names no queue", "write it as rt://HOST/QUEUE")
    ids = ctx.scratch.get("queues") or {}
    for q in queues:
        if t.group and ids.get(q) == t.group:
            return q
    return queues[0]


def _status(t: TicketPush) -> str:
    """The mapping's status, except that a closed ticket is resolved in RT (rejected only
    when an RT source tagged it so: the mapping reads RT's rejected as closed)."""
    if "rt-rejected" in t.tags:
        return "rejected"
    if t.canonical_status == "closed":
        return "resolved"
    return str(t.status or "open")


def _email(name: str, ctx: HookContext) -> str:
    known = (ctx.scratch.get("emails") or {}).get(name)
    if known:
        return known
    return name if "@" in name else str(_user(name, ctx).get("EmailAddress") or "")


def _custom_fields(t: TicketPush, ctx: HookContext) -> dict[str, Any]:
    """RT's own custom fields, by their RT names (the mapping's ``fields``, reversed)."""
    native = {canonical: name for name, canonical in ctx.mapping.maps.fields.items()}
    return {native.get(k, k): v for k, v in t.custom_fields.items() if not k.startswith("rt.")}


def ticket_payload(t: TicketPush, ctx: HookContext) -> dict[str, Any]:
    custom = t.custom_fields
    requestors = list(
        dict.fromkeys(r for r in [t.requester, *custom.get("rt.requestors", [])] if r)
    )
    out: dict[str, Any] = {
        "Queue": _queue(t, ctx),
        "Subject": t.subject or "(no subject)",
        "Requestor": requestors,
        "Status": _status(t),
        "RefersTo": t.external_id,  # how a re-run after a crash finds the ticket
        **_content(t.messages[0] if t.messages else None),
    }
    for key, name in (("Cc", "rt.cc"), ("AdminCc", "rt.admincc")):
        if custom.get(name):
            out[key] = list(custom[name])
    if t.assignee:  # a privileged RT user (find_agent); never a customer
        out["Owner"] = t.assignee
    if t.priority not in (None, ""):
        out["Priority"] = int(t.priority)
    fields = _custom_fields(t, ctx)
    if fields:
        out["CustomFields"] = fields
    if squelching(ctx):
        people = [
            *(_email(r, ctx) for r in requestors),
            *out.get("Cc", []),
            *out.get("AdminCc", []),
        ]
        if t.assignee:
            people.append(_email(t.assignee, ctx))
        squelch = ", ".join(dict.fromkeys(e.lower() for e in people if "@" in e))
        if squelch:
            out["SquelchMailTo"] = squelch  # one string: REST2 drops a JSON list here
    return out


def append_payload(m: MessagePush, ctx: HookContext) -> dict[str, Any]:
    """Correspond (public) or Comment (internal: the spec's ``append_internal``)."""
    return _content(m)


def form_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """A payload as RT's multipart takes it: the JSON in one field, the files beside it."""
    return {"JSON": json.dumps(payload)}


def ticket_fields(t: TicketPush, ctx: HookContext) -> dict[str, Any]:
    """What a delta push keeps in step: status, the owner (when RT may own it), custom fields."""
    out: dict[str, Any] = {"Status": _status(t)}
    if t.assignee:
        out["Owner"] = t.assignee
    fields = _custom_fields(t, ctx)
    if fields:
        out["CustomFields"] = fields
    return out


def update_payload(diff: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    return dict(diff)


def listed_id(raw: dict[str, Any]) -> str:
    """An attachment listed by ``message.find`` names the transaction (the message)."""
    return str(raw.get("TransactionId"))


def same_message(raw: dict[str, Any], payload: dict[str, Any]) -> bool:
    """The attachment carries this message's origin line (deskmove's message id)."""
    found = ORIGIN.search(html.unescape(str(payload.get("Content") or "")))
    if not found:
        return False
    return f"imported by deskmove, message {found['id']})" in html.unescape(
        str(raw.get("Content") or "")
    )


def remote_record(msg: MessageRec) -> RemoteMessage:
    """A message read back from RT, with the author and time its origin line keeps."""
    text = msg.body_text or html.unescape(msg.body_html or "")
    origin = ORIGIN.search(text[:2000])
    author = (msg.author.email or msg.author.native_id) if msg.author else None
    when = msg.created_at
    if origin:
        author = email.utils.parseaddr(origin["who"])[1] or author
        when = parse_time(origin["when"]) if origin["when"][:1].isdigit() else None
    return RemoteMessage(msg.native_id, author, when, msg.public)
