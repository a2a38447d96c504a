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
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING

from deskmove.mail import bigparts
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


class _RawHeaders(EmailPolicy):
    """policy.default, but header values stay the strings the mail carried.

    Building header objects was half of all parse time and raises on broken
    headers; deskmove decodes the few headers it keeps itself (charsets.py).
    """

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        return value


_POLICY = _RawHeaders()
_PARSER = BytesParser(policy=_POLICY)
_KEEP = frozenset(AUDIT_HEADERS) | {
    "from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references",
    "received", "content-type", "x-mozilla-status", "x-forwarded-to", "x-original-from",
}  # fmt: skip


_STORED = frozenset(AUDIT_HEADERS) | {"original-date"}  # the Date header, when it was replaced


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
    skeleton, big = bigparts.extract(raw, blobs)
    try:
        msg = _PARSER.parsebytes(skeleton)
    except RecursionError as exc:
        raise MailParseError("MIME structure nested too deeply to parse") from exc
    headers = _headers(msg)
    if not _looks_like_mail(headers):
        repaired = _repair_obsolete_headers(raw)
        if repaired is not None:
            msg = _PARSER.parsebytes(repaired)
            headers = _headers(msg)
    if not _looks_like_mail(headers):
        raise MailParseError("not an email: no From, To, Date, Subject or Message-ID header")
    notes: list[str] = []
    date, tz = _date(headers, fallback_date, now or datetime.now(UTC), notes)
    sender = _first(_addresses(headers.get("from", [])))
    if sender is None:
        sender = _first(_addresses(headers.get("sender", []) + headers.get("return-path", [])))
    subject = decode_header_value(headers.get("subject", [""])[0]).strip()
    text, html, attachments = _bodies(msg, _Sink(blobs, big), notes)
    message_id = _first_id(headers.get("message-id", []))
    references = parse_ids(_clean(" ".join(headers.get("references", []))))
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
        headers={k: [decode_header_value(v) for v in vs] for k, vs in headers.items() if k in _STORED},
        raw_sha256=blobs.put(raw),
        fingerprint=_fingerprint(raw, message_id, headers),
        auto=auto_kind(headers, msg.get_content_type(), sender, subject),
        notes=notes,
        secondary_keys=_secondary_keys(headers, subject),
    )  # fmt: skip


# -- headers ------------------------------------------------------------------------------
_OBS_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)


def _looks_like_mail(headers: dict[str, list[str]]) -> bool:
    return any(k in headers for k in ("from", "date", "subject", "message-id", "to", "received"))


def _repair_obsolete_headers(raw: bytes) -> bytes | None:
    """RFC 822's obsolete ``Name  : value`` form (space before the colon) made strict."""
    cut = raw.find(b"\n\n")
    cut = len(raw) if cut == -1 else cut
    head, fixed = raw[:cut], _OBS_NAME.sub(rb"\1:", raw[:cut])
    return fixed + raw[cut:] if fixed != head else None


def _headers(msg: Message) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = name.strip().lower()
        if key in _KEEP:
            out.setdefault(key, []).append(str(value))
    return out


# One plain address, "Name <addr>" or a bare addr: most mail; parsed without getaddresses.
_SIMPLE_ADDRESS = re.compile(
    r'\s*(?:([^"<>,;:()\\@]*?)\s*<([^<>\s,;:()"\\]+@[^<>\s,;:()"\\]+)>|([^<>\s,;:()"\\]+@[^<>\s,;:()"\\]+))\s*'
)


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        cleaned = value.replace("\r", " ").replace("\n", " ")
        simple = _SIMPLE_ADDRESS.fullmatch(cleaned)
        if simple:
            name, addr = (
                (simple.group(1) or "", simple.group(2))
                if simple.group(2)
                else ("", simple.group(3))
            )
            out.append((decode_header_value(name).strip(), _clean(addr).lower()))
            continue
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


def _clean(value: str) -> str:
    """Raw 8-bit bytes in a header that must be ASCII (ids, addresses) become U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _first_id(values: list[str]) -> str | None:
    ids = parse_ids(_clean(" ".join(values)))
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
    if parsed.year < 1900:
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
    keys = [f"gm:{_clean(v).strip()}" for v in headers.get("x-gm-thrid", []) if v.strip()]
    for value in headers.get("thread-index", []):
        root = thread_index_root(value)
        if root:
            keys.append(f"ti:{root}")
    keys += [f"tn:{n}" for n in ticket_numbers(subject)]
    return keys


def _fingerprint(raw: bytes, message_id: str | None, headers: dict[str, list[str]]) -> str:
    """Hash of Date, From, Subject and the body (white space ignored): equal for copies of one mail."""
    cut = raw.find(b"\n\n")
    cut2 = raw.find(b"\r\n\r\n")
    if cut2 != -1 and (cut == -1 or cut2 < cut):
        cut = cut2
    digest = hashlib.blake2b(digest_size=12)
    for name in ("date", "from", "subject"):
        digest.update(repr(headers.get(name, [])).encode("utf-8", "surrogateescape"))
    digest.update((message_id or "").encode())
    body = memoryview(raw)[cut if cut != -1 else 0 :]
    digest.update(bytes(body[:65536]).translate(None, b" \t\r\n"))  # head and tail are enough
    digest.update(bytes(body[-65536:]).translate(None, b" \t\r\n"))  # to tell two mails apart
    return digest.hexdigest()


class _Sink:
    """The blob store plus the large parts already decoded into it."""

    def __init__(self, blobs: BlobStore, big: list[bigparts.Blob]) -> None:
        self.blobs = blobs
        self.big = big

    def store(self, part: Message) -> tuple[str, int] | None:
        index = bigparts.token_index(part.get_payload()) if self.big else None
        if index is not None and index < len(self.big):
            return self.big[index].sha256, self.big[index].size
        return None


# -- bodies and attachments ---------------------------------------------------------------
def _bodies(
    msg: EmailMessage, sink: _Sink, notes: list[str]
) -> tuple[str, str | None, list[AttachmentRec]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[AttachmentRec] = []
    try:
        _walk(msg, sink, plain, html, attachments, notes, in_alternative=False)
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
    sink: _Sink,
    plain: list[str],
    html: list[str],
    attachments: list[AttachmentRec],
    notes: list[str],
    *,
    in_alternative: bool,
) -> None:
    ctype = part.get_content_type()
    if ctype.startswith("multipart/") and not part.is_multipart():
        repaired = _repair_multipart(part, ctype)
        if repaired is not None:
            notes.append("broken MIME boundary repaired")
            part = repaired
        else:
            ctype = "text/plain"  # no parts to be found: keep the content as text
    if part.is_multipart() and ctype != "message/rfc822":
        children = part.get_payload()
        if ctype == "multipart/alternative":
            _walk_alternative(children, sink, plain, html, attachments, notes)
            return
        for child in children:
            _walk(child, sink, plain, html, attachments, notes, in_alternative=in_alternative)
        return
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    is_text = ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename
    if is_text and sink.big and sink.store(part) is not None:
        is_text = False  # a text body of many megabytes: kept as an attachment
    if is_text:
        text = _text(part, notes)
        (html if ctype == "text/html" else plain).append(text)
        return
    attachments.append(_attachment(part, sink, ctype, filename, disposition))


_BOUNDARY_LINE = re.compile(r"^--([^\s]{1,200}?)(--)?[ \t]*\r?$", re.MULTILINE)


def _repair_multipart(part: Message, ctype: str) -> Message | None:
    """A multipart whose boundary parameter is unusable: take the boundary from the body."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return None
    m = _BOUNDARY_LINE.search(payload)
    if not m:
        return None
    data = f'Content-Type: {ctype}; boundary="{m.group(1)}"\n\n'.encode() + payload.encode(
        "ascii", "surrogateescape"
    )
    fixed = _PARSER.parsebytes(data)
    return fixed if fixed.is_multipart() else None


def _walk_alternative(
    children: list[Message],
    sink: _Sink,
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
            _walk(child, sink, sub_plain, sub_html, attachments, notes, in_alternative=True)
            if sub_html and not got_html:
                html.extend(sub_html)
                got_html = True
            if sub_plain and not got_plain:
                plain.extend(sub_plain)
                got_plain = True
        elif ctype not in ("text/plain", "text/html"):
            attachments.append(_attachment(child, sink, ctype, _filename(child), "inline"))


_RAW_NAME = re.compile(r'(?:^|;)\s*(?:file)?name\s*=\s*(?:"([^"]*)"|([^;]+))', re.IGNORECASE)


def _raw_filename(part: Message) -> str | None:
    """The name as written, for values the strict parser cuts (unquoted spaces, bare =?…?=)."""
    for header in ("content-disposition", "content-type"):
        for name, value in part.raw_items():
            if name.lower() != header:
                continue
            text = " ".join(str(value).split())
            m = _RAW_NAME.search(text)
            if m and "*=" not in text:
                return (m.group(1) if m.group(1) is not None else m.group(2)).strip()
    return None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a broken Content-Disposition
        name = None
    raw = _raw_filename(part)
    if raw and (
        not name or (len(raw) > len(str(name)) and raw.startswith(str(name))) or "=?" in raw
    ):
        name = raw
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
    part: Message, sink: _Sink, ctype: str, filename: str | None, disposition: str
) -> AttachmentRec:
    known = None
    if ctype == "message/rfc822":
        try:
            inner = part.get_payload()
            data = inner[0].as_bytes(policy=policy.compat32) if inner else b""
        except Exception:  # noqa: BLE001
            data = _payload(part)
        if not filename:
            filename = _inner_subject(part)
    else:
        known = sink.store(part)
        data = b"" if known else _payload(part)
    if known:
        sha, size = known
    elif len(data) > STREAM_THRESHOLD:
        sha, size = sink.blobs.put_stream(io.BytesIO(data))
    else:
        sha, size = sink.blobs.put(data), len(data)
    content_id = _content_id(part)
    inline = disposition == "inline" or (bool(content_id) and disposition != "attachment")
    return AttachmentRec(
        sha256=sha, size=size, filename=filename, content_type=_clean(ctype),
        content_id=_clean(content_id) if content_id else None, inline=inline,
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
