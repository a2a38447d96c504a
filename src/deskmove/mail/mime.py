"""MIME bodies and attachments: the best plain and HTML versions, every other part to blobs.

Broken structures are repaired where the content allows (a boundary taken from
the body, names written without quotes) and otherwise kept as text: a part is
never dropped.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from typing import TYPE_CHECKING

from deskmove.mail import bigparts
from deskmove.mail import html as htmlmod
from deskmove.mail.charsets import decode_bytes, decode_header_value
from deskmove.mail.ids import parse_ids
from deskmove.records import AttachmentRec

if TYPE_CHECKING:
    from deskmove.store.blobs import BlobStore

STREAM_THRESHOLD = 4 << 20  # attachments above this go to the blob store as a stream


MAX_PARAMETERS = 16_384  # a Content-Type or Content-Disposition longer than this is cut
CAPPED = frozenset({"content-type", "content-disposition"})


class RawHeaders(EmailPolicy):
    """policy.default, but header values stay the strings the mail carried.

    Building header objects was half of all parse time and raises on broken
    headers; deskmove decodes the few headers it keeps itself (charsets.py).
    """

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        if len(value) > MAX_PARAMETERS and name.lower() in CAPPED:
            return value[:MAX_PARAMETERS]  # the stdlib reads parameters in quadratic time
        return value


POLICY = RawHeaders()
PARSER = BytesParser(policy=POLICY)

# A header block that the stdlib parser reads without a defect: every line a field
# ("Name: value") or a continuation of one, lines ending in LF or CRLF, then a blank line.
_BLANK_LINE = re.compile(r"\n\r?\n")
_BARE_CR = re.compile(rb"\r(?!\n)")  # a CR that does not end a line with LF
_FIELD_NAME = re.compile(r"[\041-\071\073-\176]+:")


def parse_bytes(data: bytes) -> EmailMessage:
    """``PARSER.parsebytes(data)``, the same tree, faster for a plain mail.

    The stdlib feed parser reads every body line by line, matching each against the
    boundaries it is inside, even where it keeps the lines whole. For a mail whose
    header blocks are plain and which is one part, or one multipart of such parts, the
    tree it builds is the headers (``policy.header_source_parse``), the text between the
    boundary lines and the preamble and epilogue around them, which this builds
    directly. Anything else (nested multiparts, message/* parts, a defect the parser
    would note, a bare CR, a ``From `` line) goes to the parser itself.
    """
    # with no bare CR anywhere (counted on the bytes, at C speed) no part needs the check
    clean = b"\r" not in data or _BARE_CR.search(data) is None
    msg = _parse_single(data.decode("ascii", "surrogateescape"), clean)
    return msg if msg is not None else PARSER.parsebytes(data)


def _parse_single(text: str, clean: bool = False) -> EmailMessage | None:
    """The tree of a one-part mail or a one-level multipart, or None: use the parser.
    ``clean``: ``text`` is known to hold no bare CR (a CR not followed by LF)."""
    head = _head(text, clean)
    if head is None:
        return None
    msg, body = head
    maintype = msg.get_content_maintype()
    if maintype == "multipart":
        return _multipart(msg, body, clean)
    if maintype == "message":
        return None
    msg.set_payload(body)
    return msg


def _head(text: str, clean: bool = False) -> tuple[EmailMessage, str] | None:
    """A message with the headers of ``text`` set, and the body after the blank line
    (``clean``: ``text`` is known to hold no bare CR)."""
    m = _BLANK_LINE.search(text)
    if m is None or text.startswith(("\n", "\r")):
        return None
    head = text[: m.start() + 1]
    if not clean and "\r" in head and head.count("\r") != head.count("\r\n"):
        return None  # a bare CR ends a line for the parser
    msg = POLICY.message_factory(policy=POLICY)
    field: list[str] = []
    for line in head.split("\n")[:-1]:
        line += "\n"
        if line[0] in " \t":
            if not field:
                return None  # the first line a continuation: a defect
            field.append(line)
            continue
        if _FIELD_NAME.match(line) is None:
            return None  # "From ", a line with no field name: the parser's own rules
        if field:
            msg.set_raw(*POLICY.header_source_parse(field))
        field = [line]
    if field:
        msg.set_raw(*POLICY.header_source_parse(field))
    return msg, text[m.end() :]


def _multipart(msg: EmailMessage, body: str, clean: bool = False) -> EmailMessage | None:
    """A multipart whose parts are one-part messages, as the feed parser builds it.

    The parser's rules, for the input this takes: a boundary line is ``--boundary``,
    maybe ``--``, spaces or tabs, then the line end; the line end before a boundary line
    belongs to it; the preamble is the text before the first boundary (None when there
    is none), the epilogue the text after the closing one.
    """
    if msg.get_content_type() == "multipart/digest":
        return None  # its parts default to message/rfc822
    boundary = msg.get_boundary()
    if boundary is None:
        return None
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in ("7bit", "8bit", "binary"):
        return None  # the parser notes a defect
    if not clean and "\r" in body and body.count("\r") != body.count("\r\n"):
        return None  # from here on, no part holds a bare CR
    lines = _boundary_lines(body, boundary)
    first = next(lines, None)
    if first is None or first[2]:
        return None  # no start boundary: a defect
    if first[0]:
        msg.preamble = _strip_eol(body[: first[0]])
    pos = _line_end(body, first[1])
    for start, end, closing in lines:
        if start <= pos:
            return None  # two boundary lines in a row
        part = _head(body[pos:start], clean=True)
        if part is None:
            return None
        child, payload = part
        if child.get_content_maintype() in ("multipart", "message"):
            return None
        child.set_payload(_strip_eol(payload))
        msg.attach(child)
        pos = _line_end(body, end)
        if closing:  # the closing boundary: the rest is the epilogue
            msg.epilogue = body[pos:]
            return msg
    return None  # no closing boundary: a defect


_BOUNDARY_TAIL = re.compile(r"(--)?[ \t]*\r?$", re.MULTILINE)


def _boundary_lines(body: str, boundary: str) -> Iterator[tuple[int, int, bool]]:
    """(start, end, closing) of each boundary line in ``body``, as
    ``re.finditer("^" + re.escape("--" + boundary) + r"(--)?[ \t]*\r?$", re.MULTILINE)``
    finds them, without compiling a pattern per mail nor trying every position."""
    if "\n" in boundary:  # a line start inside the boundary: the pattern itself
        pattern = "^" + re.escape("--" + boundary) + r"(--)?[ \t]*\r?$"
        for m in re.finditer(pattern, body, re.MULTILINE):
            yield m.start(), m.end(), bool(m.group(1))
        return
    delimiter = "--" + boundary
    after_newline = "\n" + delimiter
    start = 0 if body.startswith(delimiter) else -1
    search = 0
    while True:
        if start == -1:
            found = body.find(after_newline, search)
            if found == -1:
                return
            start = found + 1
        m = _BOUNDARY_TAIL.match(body, start + len(delimiter))
        if m is None:
            search = start  # the next candidate's line end lies at or after this start
        else:
            yield start, m.end(), m.group(1) is not None
            search = m.end()  # the match holds no line end: the next line starts after it
        start = -1


def _line_end(text: str, pos: int) -> int:
    """Just past the line end at ``pos`` (the end of a boundary line's text)."""
    return pos + 1 if text.startswith("\n", pos) else pos


def _strip_eol(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def clean(value: str) -> str:
    """Raw 8-bit bytes in a header that must be ASCII (ids, addresses) become U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class Sink:
    """The blob store plus the large parts already decoded into it."""

    def __init__(self, blobs: BlobStore, big: list[bigparts.Blob]) -> None:
        self.blobs = blobs
        self.big = big

    def store(self, part: Message) -> tuple[str, int] | None:
        index = bigparts.token_index(part.get_payload()) if self.big else None
        if index is not None and index < len(self.big):
            return self.big[index].sha256, self.big[index].size
        return None


def bodies(
    msg: EmailMessage, sink: Sink, notes: list[str]
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
    if not plain and not html:
        plain += _first_text_leaf(msg, notes)  # the only text is a named part: it is the body
    html_text = "\n".join(html) if html else None
    text = "\n\n".join(p for p in plain if p.strip())
    if not text and html_text:
        text = htmlmod.to_text(html_text)
    return text, (htmlmod.sanitise(html_text) if html_text else None), attachments


def _walk(
    part: Message,
    sink: Sink,
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
    if ctype in REPORTS:
        plain.append(_report_text(part, ctype))
        return
    if ctype in ("message/rfc822", "message/global", "message/partial"):
        attachments.append(_attachment(part, sink, ctype, _filename(part), "attachment"))
        return
    if part.is_multipart():
        children = part.get_payload()
        if ctype == "multipart/alternative":
            _walk_alternative(children, sink, plain, html, attachments, notes)
            return
        for child in children:
            _walk(child, sink, plain, html, attachments, notes, in_alternative=in_alternative)
        return
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    # A named text part shown inline (disposition "inline") is body text, as clients show it.
    is_text = ctype in ("text/plain", "text/html") and (
        disposition == "inline" or (not filename and disposition != "attachment")
    )
    if is_text and sink.big and sink.store(part) is not None:
        is_text = False  # a text body of many megabytes: kept as an attachment
    if is_text:
        text = _text(part, notes)
        (html if ctype == "text/html" else plain).append(text)
        return
    attachments.append(_attachment(part, sink, ctype, filename, disposition))


# Machine-readable reports inside a bounce or a read receipt, kept as readable body text.
REPORTS = {
    "message/delivery-status": "delivery status",
    "message/global-delivery-status": "delivery status",
    "message/disposition-notification": "read receipt",
    "message/global-disposition-notification": "read receipt",
    "message/feedback-report": "feedback report",
    "text/rfc822-headers": "headers of the returned message",
    "message/global-headers": "headers of the returned message",
}


def _report_text(part: Message, ctype: str) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # the parser reads delivery-status as blocks of fields
        data = b"".join(m.as_bytes(policy=policy.compat32) for m in payload)
    else:
        data = _payload(part)
    text = decode_bytes(data, "utf-8")[0].replace("\r\n", "\n").strip()
    return f"--- {REPORTS[ctype]} ---\n{text}"


def _first_text_leaf(msg: Message, notes: list[str]) -> list[str]:
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() not in ("text/plain", "text/html"):
            continue
        if (part.get_content_disposition() or "").lower() == "attachment":
            return []
        text = _text(part, notes)
        return [htmlmod.to_text(text) if part.get_content_type() == "text/html" else text]
    return []


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
    fixed = PARSER.parsebytes(data)
    return fixed if fixed.is_multipart() else None


def _walk_alternative(
    children: list[Message],
    sink: Sink,
    plain: list[str],
    html: list[str],
    attachments: list[AttachmentRec],
    notes: list[str],
) -> None:
    """Keep the best plain and the best HTML version; other parts become attachments."""
    got_plain = got_html = False
    types = {c.get_content_type() for c in children}
    has_text = bool(types & {"text/plain", "text/html"})
    for child in children:
        ctype = child.get_content_type()
        if ctype in _RICH and has_text:
            continue  # the same text again in an older markup: the plain or HTML version has it
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


_RICH = {"text/enriched", "text/richtext"}
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
    if not any(
        "name" in str(value).lower() for key, value in part.raw_items() if key.lower() in CAPPED
    ):
        return None  # no name or filename parameter (RFC 2231 ones too) in either header
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
    part: Message, sink: Sink, ctype: str, filename: str | None, disposition: str
) -> AttachmentRec:
    known = None
    if ctype in ("message/rfc822", "message/global", "message/partial"):
        try:
            inner = part.get_payload()
            if isinstance(inner, list):
                data = inner[0].as_bytes(policy=policy.compat32) if inner else b""
            else:
                data = _payload(part)
        except Exception:  # noqa: BLE001
            data = _payload(part)
        if not filename:
            filename = _partial_name(part) if ctype == "message/partial" else _inner_subject(part)
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
        sha256=sha,
        size=size,
        filename=filename,
        content_type=clean(ctype),
        content_id=clean(content_id) if content_id else None,
        inline=inline,
    )


def _inner_subject(part: Message) -> str | None:
    try:
        inner = part.get_payload()[0]
        subject = decode_header_value(inner.get("subject", "") and str(inner["subject"]))
    except Exception:  # noqa: BLE001
        return None
    return f"{subject.strip() or 'message'}.eml"


def _partial_name(part: Message) -> str:
    """``partial-1-of-3.eml``: one fragment of a message split for sending."""
    number, total = part.get_param("number") or "?", part.get_param("total") or "?"
    return f"partial-{clean(str(number))}-of-{clean(str(total))}.eml"


def _content_id(part: Message) -> str | None:
    for name, value in part.raw_items():
        if name.lower() == "content-id":
            ids = parse_ids(str(value))
            return ids[0].strip("<>") if ids else (str(value).strip().strip("<>") or None)
    return None
