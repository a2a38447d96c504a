"""The ticket list, one ticket's conversation, mail bodies, attachments and raw mail."""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from deskmove.blobs import CHUNK
from deskmove.errors import StoreError
from deskmove.store import worklist
from deskmove.store import workspace as ws
from deskmove.web import render
from deskmove.web.app import BODY_CSP, context, new_token, page, settings_of, store_of

router = APIRouter()

# Shown in the browser; everything else is a download (an SVG or HTML file could carry script).
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def _filters(request: Request) -> worklist.Filters:
    q = request.query_params
    group = q.get("group", "")
    return worklist.Filters(
        status=q.get("status", "unsolved")[:20],
        assignee=q.get("assignee", "")[:20],
        group=int(group) if group.isdigit() else None,
        tag=q.get("tag", "")[:200],
        channel=q.get("channel", "")[:40],
        source=q.get("source", "")[:200],
        q=q.get("q", "")[:500],
        sort=q.get("sort", "updated") if q.get("sort", "updated") in worklist.SORTS else "updated",
        me=request.state.user.person_id,
    )


def _query(f: worklist.Filters, **override: Any) -> str:
    values = {
        "status": f.status,
        "assignee": f.assignee,
        "group": f.group or "",
        "tag": f.tag,
        "channel": f.channel,
        "source": f.source,
        "q": f.q,
        "sort": f.sort,
    }
    values.update(override)
    return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@router.get("/tickets")
def ticket_list(request: Request, after: str = "", partial: int = 0) -> Response:
    store = store_of(request)
    f = _filters(request)
    settings = settings_of(request)
    counts = None if partial else settings.counts
    result = worklist.list_tickets(store, f, after or None, counts=counts)
    extra = {
        "f": f,
        "page": result,
        "query": lambda **kw: _query(f, **kw),
        "next_url": f"/tickets?{_query(f, after=result.next_cursor)}"
        if result.next_cursor
        else None,
    }
    if partial:
        return page(request, "_rows.html", **extra)
    cache = settings.cached
    return page(
        request,
        "list.html",
        counts=result.counts,
        options=cache("options", lambda: worklist.filter_options(store)),
        agents=cache("agents", lambda: ws.agents(store)),
        **extra,
    )


@router.get("/tickets/{ticket_id}")
def ticket_view(request: Request, ticket_id: int, notice: str = "") -> Response:
    store = store_of(request)
    found = ws.ticket_page(store, ticket_id)
    if found is None:
        raise HTTPException(404, f"There is no ticket #{ticket_id}.")
    user = request.state.user
    try:
        others = ws.touch_presence(store, ticket_id, user.id, "viewing")
    except StoreError:  # a sync holds the store: the page is still shown, presence catches up
        others = ws.others_present(store, ticket_id, user.id)
    ctx = context(
        request,
        t=found.ticket,
        messages=_with_text(worklist.messages(store, ticket_id)),
        drafts=found.drafts,
        others=others,
        reply=found.reply,
        seen_upto=found.latest_message_id,
        form_token=new_token(),
        agents=settings_of(request).cached("agents", lambda: ws.agents(store)),
        smtp=settings_of(request).smtp,
        notice=notice,
        presence_ms=int(settings_of(request).presence_seconds * 1000),
        safe_name=safe_filename,
    )
    template = request.app.state.env.get_template("ticket.html")
    return StreamingResponse(
        _buffered(template.generate(ctx)), media_type="text/html; charset=utf-8"
    )


def _with_text(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for r in rows:
        text = r.get("body_text") or ""
        r["text_main"], r["text_quoted"] = render.split_quoted(text) if text else ("", "")
        yield r


def _buffered(chunks: Iterator[str], size: int = 32768) -> Iterator[bytes]:
    buf: list[str] = []
    n = 0
    for c in chunks:
        buf.append(c)
        n += len(c)
        if n >= size:
            yield "".join(buf).encode()
            buf, n = [], 0
    if buf:
        yield "".join(buf).encode()


@router.get("/messages/{message_id}/body")
def message_body(request: Request, message_id: int, remote: int = 0) -> Response:
    """A message's HTML, sanitised, as its own document for a sandboxed frame."""
    store = store_of(request)
    found = worklist.message_html(store, message_id)
    if found is None or not found[1]:
        raise HTTPException(404, "This message has no HTML body.")
    inline = {
        cid: f"/attachments/{aid}" for cid, aid in worklist.inline_images(store, message_id).items()
    }
    body = render.display_html_cached(found[1], inline=inline, remote_images=bool(remote))
    html = request.app.state.env.get_template("message_body.html").render(
        context(request, body=body, message_id=message_id, remote=bool(remote))
    )
    # The frame's page is the same until the mail or the viewer's language changes: the
    # browser keeps it (private, revalidated) and a second look costs a 304, not a page.
    etag = '"' + hashlib.sha256(html.encode()).hexdigest()[:32] + '"'
    if etag in request.headers.get("if-none-match", ""):
        response: Response = Response(status_code=304)
    else:
        response = HTMLResponse(html)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Content-Security-Policy"] = BODY_CSP.format(
        remote=" https: http:" if remote else ""
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    if body.blocked_images:
        response.headers["X-Deskmove-Blocked-Images"] = str(body.blocked_images)
    return response


@router.get("/messages/{message_id}/raw")
def message_raw(request: Request, message_id: int) -> Response:
    store = store_of(request)
    sha = worklist.message_raw(store, message_id)
    blob = _blob(store, sha)
    if blob is None:
        raise HTTPException(404, "The original mail of this message is not in the store.")
    return _file(blob, "message/rfc822", f"message-{message_id}.eml", inline=False)


@router.get("/attachments/{attachment_id}")
def attachment(request: Request, attachment_id: int, download: int = 0) -> Response:
    store = store_of(request)
    a = worklist.attachment(store, attachment_id)
    blob = _blob(store, a.sha256) if a is not None else None
    if a is None or blob is None:
        raise HTTPException(404, "This attachment is not in the store.")
    ctype = (a.content_type or "").split(";")[0].strip().lower()
    if not _TYPE.match(ctype):
        ctype = "application/octet-stream"
    inline = ctype in INLINE_TYPES and not download
    return _file(
        blob,
        ctype,
        safe_filename(a.filename, f"attachment-{attachment_id}"),
        inline=inline,
    )


def _blob(store: Any, sha: str | None) -> BinaryIO | None:
    """The blob to send (a row of the store, or a file of the blob folder), None: not there."""
    if not sha or not re.fullmatch(r"[0-9a-f]{64}", sha):
        return None
    try:
        return store.blobs.open(sha)
    except FileNotFoundError:
        return None


def _file(blob: BinaryIO, ctype: str, filename: str, *, inline: bool) -> Response:
    """Streamed in chunks (a large blob is a file, never read into memory at once)."""
    size = blob.seek(0, io.SEEK_END)
    blob.seek(0)
    response = StreamingResponse(_chunks(blob), media_type=ctype)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = content_disposition(filename, inline=inline)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _chunks(blob: BinaryIO) -> Iterator[bytes]:
    with blob:
        while chunk := blob.read(CHUNK):
            yield chunk


def safe_filename(name: str | None, fallback: str) -> str:
    """The last path segment, without control characters or leading dots."""
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = (
        "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".").strip()
    )
    return name[:200] or fallback


def content_disposition(filename: str, *, inline: bool) -> str:
    ascii_name = "".join(
        ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in filename
    )
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
