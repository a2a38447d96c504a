"""One raw RFC 5322/MIME mail to a :class:`ParsedMail`: decoded headers, bodies, attachments.

The stdlib ``email`` package (``policy.default``) builds the MIME tree; headers
are read from ``raw_items()`` and decoded here, because real mail breaks the
strict header parsers (8-bit bytes, mislabelled charsets, 10,000 headers).
Attachment and raw-mail bytes go to the blob store as they are met.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import Message
from typing import TYPE_CHECKING

from deskmove.errors import MailParseError
from deskmove.mail import bigparts, mime, repair
from deskmove.mail.addresses import parse_addresses
from deskmove.mail.autodetect import auto_kind
from deskmove.mail.charsets import declared_charsets, decode_header_value
from deskmove.mail.dates import mail_date
from deskmove.mail.ids import parse_ids, thread_index_root
from deskmove.mail.subjects import ticket_numbers
from deskmove.records import AUDIT_HEADERS, AttachmentRec

if TYPE_CHECKING:
    from deskmove.store.blobs import BlobStore


_KEEP = frozenset(AUDIT_HEADERS) | {
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "received",
    "content-type",
    "x-mozilla-status",
    "x-forwarded-to",
    "x-original-from",
}


_STORED = frozenset(AUDIT_HEADERS) | {"original-date"}  # the Date header, when it was replaced


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
    folded: tuple[str, str] | None = None  # subject and text for the search index (textfold)


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
    notes: list[str] = []
    msg, headers = _parse_repaired(repair.strip_bom(skeleton, notes), notes)
    with declared_charsets(_part_charsets(msg, notes)):
        return _parsed(raw, msg, headers, big, blobs, notes, fallback_date, now)


def _parse_repaired(data: bytes, notes: list[str]) -> tuple[Message, dict[str, list[str]]]:
    """The MIME tree, after the header repairs this mail needs (repair.py)."""
    msg = _parse(data)
    headers = _headers(msg)
    if not _looks_like_mail(headers):
        fixed = repair.skip_leading_lines(data, notes)
        if fixed is not None:
            data, msg = fixed, _parse(fixed)
            headers = _headers(msg)
    if msg.defects and any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects):
        fixed = repair.join_bare_continuations(data, notes)
        if fixed is not None:
            data, msg = fixed, _parse(fixed)
            headers = _headers(msg)
    if not _looks_like_mail(headers):
        fixed = repair.obsolete_names(data)
        if fixed is not None:
            msg = _parse(fixed)
            headers = _headers(msg)
    if not _looks_like_mail(headers):
        raise MailParseError("not an email: no From, To, Date, Subject or Message-ID header")
    return msg, headers


def _parse(data: bytes) -> Message:
    try:
        return mime.parse_bytes(data)
    except RecursionError as exc:
        raise MailParseError("MIME structure nested too deeply to parse") from exc


def _part_charsets(msg: Message, notes: list[str]) -> list[str]:
    """The charsets the parts declare; over-long Content-Type headers are noted (mime.CAPPED)."""
    labels = []
    for part in msg.walk():
        for name, value in part.raw_items():
            if len(name) != 12 or name.lower() != "content-type":
                if len(value) > mime.MAX_PARAMETERS and name.lower() in mime.CAPPED:
                    _note_cut(name, value, notes)
                continue
            if len(value) > mime.MAX_PARAMETERS:
                _note_cut(name, value, notes)
            m = _CHARSET.search(value, 0, mime.MAX_PARAMETERS)
            if m:
                labels.append(m.group(1))
    return labels


_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


def _note_cut(name: str, value: str, notes: list[str]) -> None:
    note = f"a {name} header of {len(value):,} characters was cut"
    if note not in notes:
        notes.append(note)


def _parsed(
    raw: bytes,
    msg: Message,
    headers: dict[str, list[str]],
    big: list[bigparts.Blob],
    blobs: BlobStore,
    notes: list[str],
    fallback_date: datetime | None,
    now: datetime | None,
) -> ParsedMail:
    date, tz = mail_date(headers, fallback_date, now or datetime.now(UTC), notes)
    sender = _author(headers, notes)
    subject = _subject(headers.get("subject", [""])[0], notes)
    text, html, attachments = mime.bodies(msg, mime.Sink(blobs, big), notes)
    message_id = _first_id(headers.get("message-id", []), notes)
    references = parse_ids(
        mime.clean(" ".join(headers.get("references", []))), notes, name="References"
    )
    in_reply_to = _first_id(headers.get("in-reply-to", []), notes)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        sender=sender,
        reply_to=parse_addresses(headers.get("reply-to", []), notes),
        to=parse_addresses(headers.get("to", []), notes),
        cc=parse_addresses(headers.get("cc", []), notes),
        date=date,
        date_tz=tz,
        body_text=text,
        body_html=html,
        attachments=attachments,
        headers={
            k: [decode_header_value(v) for v in vs] for k, vs in headers.items() if k in _STORED
        },
        raw_sha256=blobs.put(raw),
        fingerprint=_fingerprint(raw, message_id, headers),
        auto=auto_kind(headers, msg.get_content_type(), sender, subject),
        notes=notes,
        secondary_keys=_secondary_keys(headers, subject),
    )


# -- headers ------------------------------------------------------------------------------
def _looks_like_mail(headers: dict[str, list[str]]) -> bool:
    return any(k in headers for k in ("from", "date", "subject", "message-id", "to", "received"))


def _headers(msg: Message) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = name.strip().lower()
        if key in _KEEP:
            out.setdefault(key, []).append(str(value))
    return out


# Where the author comes from when From has no address, in the order mail clients use.
AUTHOR_FALLBACKS = ("reply-to", "sender", "return-path")


def _author(headers: dict[str, list[str]], notes: list[str]) -> tuple[str, str] | None:
    """From; else Reply-To, Sender, Return-Path (keeping From's display name), with a note."""
    raw_from = " ".join(headers.get("from", [])).strip()
    sender = _first(parse_addresses(headers.get("from", []), notes))
    if sender is not None:
        return sender
    name = decode_header_value(raw_from).strip().strip('"').strip() if raw_from else ""
    for header in AUTHOR_FALLBACKS:
        found = _first(parse_addresses(headers.get(header, []), notes))
        if found is not None:
            why = "From has no address" if raw_from else "no From header"
            notes.append(f"author taken from {_TITLE[header]} ({why})")
            return (name or found[0], found[1])
    return None


_TITLE = {"reply-to": "Reply-To", "sender": "Sender", "return-path": "Return-Path"}


MAX_SUBJECT = 10_000  # characters; a longer Subject is cut (with a note)


def _subject(value: str, notes: list[str]) -> str:
    if len(value) > MAX_SUBJECT * 4:  # before decoding: encoded words are longer than their text
        notes.append(f"a Subject of {len(value):,} characters was cut")
        value = value[: MAX_SUBJECT * 4]
    subject = decode_header_value(value).strip()
    if len(subject) > MAX_SUBJECT:
        if not any(n.startswith("a Subject of") for n in notes):
            notes.append(f"a Subject of {len(subject):,} characters was cut")
        subject = subject[:MAX_SUBJECT]
    return subject


def _first(items: list[tuple[str, str]]) -> tuple[str, str] | None:
    return items[0] if items else None


def _first_id(values: list[str], notes: list[str]) -> str | None:
    ids = parse_ids(mime.clean(" ".join(values)), notes)
    return ids[0] if ids else None


def _secondary_keys(headers: dict[str, list[str]], subject: str) -> list[str]:
    keys = [f"gm:{mime.clean(v).strip()}" for v in headers.get("x-gm-thrid", []) if v.strip()]
    for value in headers.get("thread-index", []):
        root = thread_index_root(value)
        if root:
            keys.append(f"ti:{root}")
    keys += [f"tn:{n}" for n in ticket_numbers(subject)]
    return keys


def _fingerprint(raw: bytes, message_id: str | None, headers: dict[str, list[str]]) -> str:
    """Hash of Date, From, Subject and the body (white space ignored): equal for copies of one mail."""
    end = _HEAD_END.search(raw)  # the first of a "\n\n" and a "\r\n\r\n"
    cut = end.start() if end else -1
    digest = hashlib.blake2b(digest_size=12)
    for name in ("date", "from", "subject"):
        digest.update(repr(headers.get(name, [])).encode("utf-8", "surrogateescape"))
    digest.update((message_id or "").encode())
    body = memoryview(raw)[cut if cut != -1 else 0 :]
    # White space goes before the windows are cut, so copies that differ only in
    # trailing spaces or line ends agree; head and tail are enough to tell mails apart.
    digest.update(_squeezed_head(body, FINGERPRINT_WINDOW))
    digest.update(_squeezed_tail(body, FINGERPRINT_WINDOW))
    return digest.hexdigest()


FINGERPRINT_WINDOW = 65536
_HEAD_END = re.compile(rb"\r\n\r\n|\n\n")
_WHITE = b" \t\r\n"
_CHUNK = 1 << 18


def _squeezed_head(body: memoryview, size: int) -> bytes:
    """The first ``size`` bytes of the body with white space removed, read chunk by chunk."""
    first = bytes(body[: size + size // 4]).translate(None, _WHITE)
    if len(first) >= size or len(body) <= size + size // 4:
        return first[:size]
    out, pos = bytearray(first), size + size // 4
    while len(out) < size and pos < len(body):
        out += bytes(body[pos : pos + _CHUNK]).translate(None, _WHITE)
        pos += _CHUNK
    return bytes(out[:size])


def _squeezed_tail(body: memoryview, size: int) -> bytes:
    """The last ``size`` bytes of the body with white space removed, read from the end."""
    parts: list[bytes] = []
    total, end = 0, len(body)
    step = size + size // 4
    while total < size and end > 0:
        start = max(0, end - step)
        step = _CHUNK
        part = bytes(body[start:end]).translate(None, _WHITE)
        parts.append(part)
        total, end = total + len(part), start
    return b"".join(reversed(parts))[-size:] if parts else b""
