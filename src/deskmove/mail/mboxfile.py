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

    The file is read into one buffer that is reused (what is left of a message moves to
    its front, the next bytes are read in behind it); it grows only for a message larger
    than itself. A fresh buffer per read, as appending to a trimmed ``bytearray`` makes,
    costs a page fault per 4 KiB of the file (large blocks are mapped memory).
    """
    fh.seek(offset)
    buf = bytearray(2 * CHUNK)
    view = memoryview(buf)
    filled = _fill(fh, view, 0)
    base, base_at = 0, offset  # where the current message starts, in buf and in the file
    scan, eof = 1, filled == 0
    try:
        while filled > base:
            idx = buf.find(b"\nFrom ", scan, filled)
            eol = buf.find(b"\n", idx + 1, filled) if idx != -1 else -1
            if idx == -1 or eol == -1:
                if eof:
                    break
                scan = max(base + 1, (idx if idx != -1 else filled) - 8) - base
                filled -= base
                if base:  # what is left of the message to the front (memmove, in place)
                    view[:filled] = view[base : base + filled]
                    base = 0
                if filled == len(buf):  # one message fills the buffer: a larger one
                    grown = bytearray(2 * len(buf))
                    grown[:filled] = view
                    view.release()
                    buf, view = grown, memoryview(grown)
                got = _fill(fh, view, filled)
                if not got:
                    eof = True
                filled += got
                continue
            p = idx + 1
            if _is_boundary(buf, base, p, eol, strict):
                yield _entry(buf, base, p, base_at)
                base_at += p - base
                base, scan = p, p + 1
            else:
                scan = p
        if filled > base and (bytes(view[base:filled]).strip() or base_at == offset):
            yield _entry(buf, base, filled, base_at)
    finally:
        view.release()


def _fill(fh: BinaryIO, view: memoryview, at: int) -> int:
    """Read into ``view[at:]`` (as much as the file gives at once); how many bytes came."""
    got = fh.readinto(view[at:])  # type: ignore[attr-defined]
    return got or 0


def _is_boundary(buf: bytearray, base: int, p: int, eol: int, strict: bool) -> bool:
    if strict:
        return _FROM_LINE.match(buf, p, eol + 1) is not None
    before = buf[max(base, p - 3) : p]
    return before.endswith(b"\n\n") or before.endswith(b"\n\r\n")


def _entry(buf: bytearray, start: int, stop: int, at: int) -> MboxEntry:
    """The message in ``buf[start:stop]``, its bytes copied once (not the block, then its parts)."""
    cut = start
    if buf.startswith(b"From ", start, stop):
        nl = buf.find(b"\n", start, stop)
        cut = nl + 1 if nl != -1 else start  # a From_ line with no end: all of it is raw
    from_line = bytes(buf[start:cut])
    end = stop
    if end - cut >= 4 and buf[end - 4 : end] == b"\r\n\r\n":
        end -= 2  # the blank separator line before the next From_ line
    elif end - cut >= 2 and buf[end - 2 : end] == b"\n\n":
        end -= 1
    with memoryview(buf) as view:
        raw = bytes(view[cut:end])
    if b">From " in raw:
        raw = _QUOTED.sub(rb"\1", raw)
    return MboxEntry(at, at + stop - start, from_line.rstrip(b"\r\n"), raw)
