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
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING

from deskmove.mail import bigparts, mime
from deskmove.mail.autodetect import auto_kind
from deskmove.mail.charsets import decode_header_value
from deskmove.mail.ids import parse_ids, thread_index_root
from deskmove.mail.subjects import ticket_numbers
from deskmove.records import AUDIT_HEADERS, AttachmentRec

if TYPE_CHECKING:
    from deskmove.store.blobs import BlobStore

FUTURE_SLACK = timedelta(days=1)


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
        msg = mime.PARSER.parsebytes(skeleton)
    except RecursionError as exc:
        raise MailParseError("MIME structure nested too deeply to parse") from exc
    headers = _headers(msg)
    if not _looks_like_mail(headers):
        repaired = _repair_obsolete_headers(raw)
        if repaired is not None:
            msg = mime.PARSER.parsebytes(repaired)
            headers = _headers(msg)
    if not _looks_like_mail(headers):
        raise MailParseError("not an email: no From, To, Date, Subject or Message-ID header")
    notes: list[str] = []
    date, tz = _date(headers, fallback_date, now or datetime.now(UTC), notes)
    sender = _first(_addresses(headers.get("from", [])))
    if sender is None:
        sender = _first(_addresses(headers.get("sender", []) + headers.get("return-path", [])))
    subject = decode_header_value(headers.get("subject", [""])[0]).strip()
    text, html, attachments = mime.bodies(msg, mime.Sink(blobs, big), notes)
    message_id = _first_id(headers.get("message-id", []))
    references = parse_ids(mime.clean(" ".join(headers.get("references", []))))
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
            out.append((decode_header_value(name).strip(), mime.clean(addr).lower()))
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


def _first_id(values: list[str]) -> str | None:
    ids = parse_ids(mime.clean(" ".join(values)))
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
    keys = [f"gm:{mime.clean(v).strip()}" for v in headers.get("x-gm-thrid", []) if v.strip()]
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
