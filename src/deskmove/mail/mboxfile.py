"""Stream an mbox file: split on ``From `` lines, unquote ``>From``, never load the whole file.

Reads fixed-size chunks and yields one :class:`MboxEntry` per message with the
byte offsets it spans, so a sync can resume at the end of the last committed
message. Handles mboxo and mboxrd quoting, CRLF files, Gmail Takeout and
Thunderbird ``From `` lines, and a truncated last message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

CHUNK = 1 << 20
HEAD_BYTES = 64 << 10
# "From sender@example.com Mon Jan  1 10:00:00 2024", Gmail's "… +0000 2024", Thunderbird's "- …".
_FROM_LINE = re.compile(
    rb"From \S*\s+(?:.*?\s)?(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +"
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +\d{1,2}:\d{2}"
)
_ASCTIME = re.compile(
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) +(\d{1,2}):(\d{2})(?::(\d{2}))?"
    rb"(?: +([+-]\d{4}))?(?: +[A-Z]{2,5})? +(\d{4})"
)
_MONTHS = {
    m: i for i, m in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}
_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)


@dataclass(slots=True)
class MboxEntry:
    start: int  # offset of the From_ line
    end: int  # offset just past this message (where the next From_ line starts)
    from_line: bytes
    raw: bytes  # the message without its From_ line, >From unquoted

    @property
    def date(self) -> datetime | None:
        return from_line_date(self.from_line)


def is_from_line(line: bytes) -> bool:
    return line.startswith(b"From ") and _FROM_LINE.match(line) is not None


def from_line_date(line: bytes) -> datetime | None:
    m = _ASCTIME.search(line)
    if not m:
        return None
    mon, day, hh, mm, ss, tz, year = m.groups()
    try:
        when = datetime(
            int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss or 0), tzinfo=UTC
        )
    except ValueError:
        return None
    if tz:
        sign = 1 if tz[:1] == b"+" else -1
        when -= sign * _offset(tz)
    return when


def _offset(tz: bytes):  # noqa: ANN202 - a timedelta
    from datetime import timedelta

    return timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))


def fingerprint(fh: BinaryIO, limit: int = HEAD_BYTES) -> str:
    """A hash of the file's first bytes (up to 64 KiB): a rewrite changes it, appending does not."""
    fh.seek(0)
    return hashlib.blake2b(fh.read(min(limit, HEAD_BYTES)), digest_size=16).hexdigest()


def hash_before(fh: BinaryIO, offset: int, size: int = 4096) -> str:
    """A hash of the bytes just before ``offset``: the last committed message is still there."""
    start = max(0, offset - size)
    fh.seek(start)
    return hashlib.blake2b(fh.read(offset - start), digest_size=16).hexdigest()


def iter_mbox(fh: BinaryIO, offset: int = 0, *, strict: bool = True) -> Iterator[MboxEntry]:
    """Messages from ``offset`` on (the start of a From_ line, or 0).

    ``strict`` takes only From_ lines that carry a date (every mbox writer puts one),
    so a body line "From here on …" is never a boundary; without it, a From_ line
    must follow a blank line.
    """
    fh.seek(offset)
    buf = bytearray(fh.read(CHUNK))
    buf_at, scan, eof = offset, 1, False
    while buf:
        idx = buf.find(b"\nFrom ", scan)
        eol = buf.find(b"\n", idx + 1) if idx != -1 else -1
        if idx == -1 or eol == -1:
            if eof:
                break
            more = fh.read(CHUNK)
            if not more:
                eof = True
            else:
                scan = max(1, (idx if idx != -1 else len(buf)) - 8)
                buf += more
            continue
        p = idx + 1
        if _is_boundary(buf, p, eol, strict):
            yield _entry(bytes(buf[:p]), buf_at)
            del buf[:p]
            buf_at += p
            scan = 1
        else:
            scan = p
    if buf and (buf.strip() or buf_at == offset):
        yield _entry(bytes(buf), buf_at)


def _is_boundary(buf: bytearray, p: int, eol: int, strict: bool) -> bool:
    if strict:
        return _FROM_LINE.match(buf, p, eol + 1) is not None
    before = buf[max(0, p - 3) : p]
    return before.endswith(b"\n\n") or before.endswith(b"\n\r\n")


def _entry(block: bytes, at: int) -> MboxEntry:
    if block.startswith(b"From "):
        nl = block.find(b"\n")
        from_line, raw = block[: nl + 1], block[nl + 1 :]
    else:
        from_line, raw = b"", block
    if raw.endswith(b"\r\n\r\n"):  # the blank separator line before the next From_ line
        raw = raw[:-2]
    elif raw.endswith(b"\n\n"):
        raw = raw[:-1]
    if b">From " in raw:
        raw = _QUOTED.sub(rb"\1", raw)
    return MboxEntry(at, at + len(block), from_line.rstrip(b"\r\n"), raw)
