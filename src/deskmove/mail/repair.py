"""Broken header blocks made readable, as mail clients read them.

Only the bytes given to the MIME parser change; the raw original kept in the
blob store is the mail as it came. Each repair says what it did in a note.

- a leading UTF-8 byte-order mark is dropped;
- a few lines before the header block that are not headers (``---- Original
  email message ----``) are skipped;
- a header continuation line written without leading white space is joined to
  the header above it, instead of ending the header block (which loses From,
  Subject, the threading headers and the MIME structure);
- RFC 822's obsolete ``Name  : value`` (space before the colon) is made strict.
"""

from __future__ import annotations

import re

BOM = b"\xef\xbb\xbf"
MAX_LEADING = 5  # non-header lines skipped before a header block, at most
MAX_HEAD = 1 << 20  # only the first megabyte is looked at
_HEADER = re.compile(rb"[!-9;-~]{1,76}:")  # a header name and its colon at a line's start
_OBS_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)
# Headers that prove the block goes on after a broken line (not a body that lacks its blank line).
_KNOWN = re.compile(
    rb"(?i)(?:from|to|cc|bcc|subject|date|message-id|in-reply-to|references|reply-to|sender"
    rb"|return-path|received|mime-version|content-[a-z-]+|x-[a-z0-9-]+|list-[a-z-]+"
    rb"|delivered-to|dkim-signature|arc-[a-z-]+|authentication-results|thread-[a-z]+"
    rb"|importance|priority|organization|user-agent):"
)


def strip_bom(raw: bytes, notes: list[str]) -> bytes:
    if raw.startswith(BOM):
        notes.append("a byte-order mark before the headers was removed")
        return raw[len(BOM) :]
    return raw


def skip_leading_lines(raw: bytes, notes: list[str]) -> bytes | None:
    """The mail without a few non-header lines before its header block, or None."""
    pos = 0
    skipped: list[bytes] = []
    while len(skipped) <= MAX_LEADING and pos < min(len(raw), MAX_HEAD):
        end = raw.find(b"\n", pos)
        if end == -1:
            return None
        line = raw[pos:end].rstrip(b"\r")
        if _HEADER.match(line):
            if not _KNOWN.match(line) or pos == 0:
                return None  # a header block from the first line, or no mail after the note
            shown = b" / ".join(skipped).decode("utf-8", "replace")[:80]
            notes.append(f"line(s) before the headers skipped: {shown!r}")
            return raw[pos:]
        if line.strip():
            skipped.append(line.strip())
        pos = end + 1
    return None


def join_bare_continuations(raw: bytes, notes: list[str]) -> bytes | None:
    """Lines inside the header block that are neither headers nor folded: joined to the one above.

    A line counts as inside the block when a known header that has not been
    seen yet follows it before the first empty line. Otherwise it is where a
    body without its blank line begins (a quoted "From: … To: …" of a forwarded
    mail repeats headers already seen), and it stays so.
    """
    cut = _blank_line(raw)
    if cut == -1:
        return None
    lines = raw[:cut].split(b"\n")
    first_seen: dict[bytes, int] = {}
    for i, line in enumerate(lines):
        m = _KNOWN.match(line)
        if m:
            first_seen.setdefault(m.group(0).lower(), i)
    last_new = max(
        first_seen.values(), default=-1
    )  # the last header that appears for the first time
    fixed = 0
    for i in range(1, last_new):
        line = lines[i]
        if line.strip() and not line[:1].isspace() and not _HEADER.match(line):
            lines[i] = b" " + line
            fixed += 1
    if not fixed:
        return None
    notes.append(f"{fixed} header line(s) without leading white space read as continuations")
    return b"\n".join(lines) + raw[cut:]


def _blank_line(raw: bytes) -> int:
    """Offset of the empty line that ends the header block (LF or CRLF), or -1."""
    head = raw[:MAX_HEAD]
    lf, crlf = head.find(b"\n\n"), head.find(b"\n\r\n")
    if lf == -1 or (crlf != -1 and crlf < lf):
        lf = crlf
    return lf + 1 if lf != -1 else -1


def obsolete_names(raw: bytes) -> bytes | None:
    """RFC 822's obsolete ``Name  : value`` form (space before the colon) made strict."""
    cut = raw.find(b"\n\n")
    cut = len(raw) if cut == -1 else cut
    head, fixed = raw[:cut], _OBS_NAME.sub(rb"\1:", raw[:cut])
    return fixed + raw[cut:] if fixed != head else None
