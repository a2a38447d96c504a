"""One raw RFC 5322/MIME mail to a :class:`ParsedMail`: decoded headers, bodies, attachments.

The stdlib ``email`` package (``policy.default``) builds the MIME tree; headers
are read from ``raw_items()`` and decoded here, because real mail breaks the
strict header parsers (8-bit bytes, mislabelled charsets, 10,000 headers).
Attachment and raw-mail bytes go to the blob store as they are met.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING

from deskmove.mail import html as htmlmod
from deskmove.mail.autodetect import auto_kind
from deskmove.mail.charsets import decode_bytes, decode_header_value
from deskmove.mail.ids import parse_ids, thread_index_root
from deskmove.mail.subjects import ticket_numbers
from deskmove.records import AUDIT_HEADERS, AttachmentRec

if TYPE_CHECKING:
    from deskmove.store.blobs import BlobStore

FUTURE_SLACK = timedelta(days=1)
STREAM_THRESHOLD = 4 << 20  # attachments above this go to the blob store as a stream
_PARSER = BytesParser(policy=policy.default)
_KEEP = frozenset(AUDIT_HEADERS) | {
    "from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references",
    "received", "content-type", "x-mozilla-status", "x-forwarded-to", "x-original-from",
}  # fmt: skip


class MailParseError(Exception):
    """A mail that cannot become a message; the text is the quarantine reason."""


@dataclass(slots=True)
class ParsedMail:
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    subject: str
    sender: tuple[str, str] | None  # (name, email)
    reply_to: list[tuple[str, str]]
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    date: datetime
    date_tz: int | None
    body_text: str
    body_html: str | None
    attachments: list[AttachmentRec]
    headers: dict[str, list[str]]
    raw_sha256: str
    fingerprint: str  # the same mail seen twice (INBOX and Sent) has the same fingerprint
    auto: str | None = None  # "auto-reply", "bounce" or "bulk"
    notes: list[str] = field(default_factory=list)
    secondary_keys: list[str] = field(default_factory=list)  # gm:…, ti:…, tn:…


def parse_mail(
    raw: bytes,
    blobs: BlobStore,
    *,
    fallback_date: datetime | None = None,
    now: datetime | None = None,
) -> ParsedMail:
    """Parse one mail; raise :class:`MailParseError` with a reason when it is not a mail."""
    if not raw or not raw.strip():
        raise MailParseError("empty message")
    try:
        msg = _PARSER.parsebytes(raw)
    except RecursionError as exc:
        raise MailParseError("MIME structure nested too deeply to parse") from exc
    headers = _headers(msg)
    if not any(k in headers for k in ("from", "date", "subject", "message-id", "to", "received")):
        raise MailParseError("not an email: no From, To, Date, Subject or Message-ID header")
    notes: list[str] = []
    date, tz = _date(headers, fallback_date, now or datetime.now(UTC), notes)
    sender = _first(_addresses(headers.get("from", [])))
    if sender is None:
        sender = _first(_addresses(headers.get("sender", []) + headers.get("return-path", [])))
    subject = decode_header_value(headers.get("subject", [""])[0]).strip()
    text, html, attachments = _bodies(msg, blobs, notes)
    message_id = _first_id(headers.get("message-id", []))
    references = parse_ids(" ".join(headers.get("references", [])))
    in_reply_to = _first_id(headers.get("in-reply-to", []))
    return ParsedMail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        sender=sender,
        reply_to=_addresses(headers.get("reply-to", [])),
        to=_addresses(headers.get("to", [])),
        cc=_addresses(headers.get("cc", [])),
        date=date,
        date_tz=tz,
        body_text=text,
        body_html=html,
        attachments=attachments,
        headers={k: [decode_header_value(v) for v in vs] for k, vs in headers.items() if k in AUDIT_HEADERS},
        raw_sha256=blobs.put(raw),
        fingerprint=_fingerprint(raw, message_id, headers),
        auto=auto_kind(headers, msg.get_content_type(), sender, subject),
        notes=notes,
        secondary_keys=_secondary_keys(headers, subject),
    )  # fmt: skip


# -- headers ------------------------------------------------------------------------------
def _headers(msg: Message) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = name.strip().lower()
        if key in _KEEP:
            out.setdefault(key, []).append(str(value))
    return out


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        cleaned = value.replace("\r", " ").replace("\n", " ")
        try:
            pairs = getaddresses([cleaned])
        except Exception:  # noqa: BLE001 - a broken list: take what looks like addresses
            pairs = [("", a) for a in re.findall(r"[\w.+-]+@[\w.-]+", cleaned)]
        for name, addr in pairs:
            addr = decode_header_value(addr).strip().strip("<>").lower()
            if "@" not in addr:
                continue
            out.append((decode_header_value(name).strip().strip('"').strip(), addr))
    return out


def _first(items: list[tuple[str, str]]) -> tuple[str, str] | None:
    return items[0] if items else None


def _first_id(values: list[str]) -> str | None:
    ids = parse_ids(" ".join(values))
    return ids[0] if ids else None


def _date(
    headers: dict[str, list[str]],
    fallback: datetime | None,
    now: datetime,
    notes: list[str],
) -> tuple[datetime, int | None]:
    """The Date header; else the newest Received date; else the caller's; future dates clamped."""
    received = _received_date(headers.get("received", []))
    for value in headers.get("date", []):
        parsed = _parse_date(value)
        if parsed is None:
            notes.append(f"unreadable Date {value.strip()!r}")
            continue
        if parsed > now + FUTURE_SLACK:
            clamp = min(d for d in (received, fallback, now) if d is not None)
            headers["original-date"] = [value.strip()]
            notes.append(f"Date {value.strip()!r} lies in the future; clamped")
            return clamp.astimezone(UTC), None
        off = parsed.utcoffset()
        tz = int(off.total_seconds() // 60) if off is not None and not _naive(value) else None
        return parsed.astimezone(UTC), tz
    if headers.get("date"):
        headers["original-date"] = [headers["date"][0].strip()]
    for candidate in (received, fallback):
        if candidate is not None:
            return min(candidate, now).astimezone(UTC), None
    notes.append("no date anywhere in the message; the import time was used")
    return now, None


def _naive(value: str) -> bool:
    return re.search(r"[+-]\d{4}\s*(\(.*\))?\s*$|\b(?:GMT|UTC|UT|[ECMP][SD]T|Z)\b", value) is None


def _parse_date(value: str) -> datetime | None:
    text = value.strip()
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year < 1971:
        return None
    return parsed


def _received_date(values: list[str]) -> datetime | None:
    for value in values:  # the first Received header is the last hop: closest to delivery
        _, sep, tail = value.rpartition(";")
        if sep:
            parsed = _parse_date(tail)
            if parsed is not None:
                return parsed.astimezone(UTC)
    return None


def _secondary_keys(headers: dict[str, list[str]], subject: str) -> list[str]:
    keys = [f"gm:{v.strip()}" for v in headers.get("x-gm-thrid", []) if v.strip()]
    for value in headers.get("thread-index", []):
        root = thread_index_root(value)
        if root:
            keys.append(f"ti:{root}")
    keys += [f"tn:{n}" for n in ticket_numbers(subject)]
    return keys


def _fingerprint(raw: bytes, message_id: str | None, headers: dict[str, list[str]]) -> str:
    """Hash of Date, From, Subject and the whitespace-normalised body: equal for copies of one mail."""
    cut = raw.find(b"\n\n")
    cut2 = raw.find(b"\r\n\r\n")
    if cut2 != -1 and (cut == -1 or cut2 < cut):
        cut = cut2
    body = raw[cut:] if cut != -1 else raw
    digest = hashlib.blake2b(digest_size=12)
    for name in ("date", "from", "subject"):
        digest.update(repr(headers.get(name, [])).encode("utf-8", "surrogateescape"))
    digest.update((message_id or "").encode())
    for line in body.split(b"\n"):
        digest.update(line.rstrip())
    return digest.hexdigest()


# -- bodies and attachments ---------------------------------------------------------------
def _bodies(
    msg: EmailMessage, blobs: BlobStore, notes: list[str]
) -> tuple[str, str | None, list[AttachmentRec]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[AttachmentRec] = []
    try:
        _walk(msg, blobs, plain, html, attachments, notes, in_alternative=False)
    except Exception as exc:  # noqa: BLE001 - broken MIME: keep the raw body as text
        notes.append(f"MIME structure unreadable ({type(exc).__name__}); body kept as raw text")
        payload = msg.get_payload()
        plain = [payload if isinstance(payload, str) else ""]
    html_text = "\n".join(html) if html else None
    text = "\n\n".join(p for p in plain if p.strip())
    if not text and html_text:
        text = htmlmod.to_text(html_text)
    return text, (htmlmod.sanitise(html_text) if html_text else None), attachments


def _walk(
    part: Message,
    blobs: BlobStore,
    plain: list[str],
    html: list[str],
    attachments: list[AttachmentRec],
    notes: list[str],
    *,
    in_alternative: bool,
) -> None:
    ctype = part.get_content_type()
    if part.is_multipart() and ctype != "message/rfc822":
        children = part.get_payload()
        if ctype == "multipart/alternative":
            _walk_alternative(children, blobs, plain, html, attachments, notes)
            return
        for child in children:
            _walk(child, blobs, plain, html, attachments, notes, in_alternative=in_alternative)
        return
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    is_text = ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename
    if is_text:
        text = _text(part, notes)
        (html if ctype == "text/html" else plain).append(text)
        return
    attachments.append(_attachment(part, blobs, ctype, filename, disposition))


def _walk_alternative(
    children: list[Message],
    blobs: BlobStore,
    plain: list[str],
    html: list[str],
    attachments: list[AttachmentRec],
    notes: list[str],
) -> None:
    """Keep the best plain and the best HTML version; other parts become attachments."""
    got_plain = got_html = False
    for child in children:
        ctype = child.get_content_type()
        if ctype == "text/plain" and not got_plain and not _filename(child):
            plain.append(_text(child, notes))
            got_plain = True
        elif ctype == "text/html" and not got_html and not _filename(child):
            html.append(_text(child, notes))
            got_html = True
        elif child.is_multipart():
            sub_plain: list[str] = []
            sub_html: list[str] = []
            _walk(child, blobs, sub_plain, sub_html, attachments, notes, in_alternative=True)
            if sub_html and not got_html:
                html.extend(sub_html)
                got_html = True
            if sub_plain and not got_plain:
                plain.extend(sub_plain)
                got_plain = True
        elif ctype not in ("text/plain", "text/html"):
            attachments.append(_attachment(child, blobs, ctype, _filename(child), "inline"))


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a broken Content-Disposition
        name = None
    if not name:
        try:
            name = part.get_param("name", header="content-type")
        except Exception:  # noqa: BLE001
            name = None
        if isinstance(name, tuple):  # RFC 2231 (charset, language, value)
            name = name[2]
    if not name:
        return None
    return decode_header_value(str(name)).strip() or None


def _text(part: Message, notes: list[str]) -> str:
    payload = _payload(part)
    try:
        label = part.get_content_charset()
    except Exception:  # noqa: BLE001
        label = None
    text, note = decode_bytes(payload, label)
    if note:
        notes.append(note)
    return text.replace("\r\n", "\n")


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - undecodable transfer encoding: keep the raw text
        data = None
    if data is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            return raw.encode("ascii", "surrogateescape")
        if isinstance(raw, list):  # message/rfc822 and friends: the attached mail's bytes
            return b"".join(m.as_bytes(policy=policy.compat32) for m in raw)
        return b""
    return data


def _attachment(
    part: Message, blobs: BlobStore, ctype: str, filename: str | None, disposition: str
) -> AttachmentRec:
    if ctype == "message/rfc822":
        try:
            inner = part.get_payload()
            data = inner[0].as_bytes(policy=policy.compat32) if inner else b""
        except Exception:  # noqa: BLE001
            data = _payload(part)
        if not filename:
            filename = _inner_subject(part)
    else:
        data = _payload(part)
    if len(data) > STREAM_THRESHOLD:
        sha, size = blobs.put_stream(io.BytesIO(data))
    else:
        sha, size = blobs.put(data), len(data)
    content_id = _content_id(part)
    inline = disposition == "inline" or (bool(content_id) and disposition != "attachment")
    return AttachmentRec(
        sha256=sha, size=size, filename=filename, content_type=ctype,
        content_id=content_id, inline=inline,
    )  # fmt: skip


def _inner_subject(part: Message) -> str | None:
    try:
        inner = part.get_payload()[0]
        subject = decode_header_value(inner.get("subject", "") and str(inner["subject"]))
    except Exception:  # noqa: BLE001
        return None
    return f"{subject or 'message'}.eml"


def _content_id(part: Message) -> str | None:
    for name, value in part.raw_items():
        if name.lower() == "content-id":
            ids = parse_ids(str(value))
            return ids[0].strip("<>") if ids else (str(value).strip().strip("<>") or None)
    return None
