"""CSV files as the csv source reads them: encoding and delimiter detection, and rows
with their line numbers and raw bytes, resynchronised after broken quoting.

The file is read line by line (binary, then decoded), so memory stays flat whatever
its size. A record that cannot be parsed (stray quote, wrong column count, bytes
that are not valid in the detected encoding) comes back as a :class:`Row` with an
``error`` and its raw bytes, for the quarantine; the rows after it still import.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from deskmove.csvlayout import FIELD_LIMIT, unescape_cells
from deskmove.errors import InputError

csv.field_size_limit(FIELD_LIMIT)

SAMPLE = 256 * 1024
DELIMITERS = (",", ";", "\t", "|")
LABELS = {
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8 with BOM",
    "cp1250": "windows-1250",
    "cp1251": "windows-1251",
    "iso8859_2": "iso-8859-2",
    "cp1252": "windows-1252",
    "koi8_r": "koi8-r",
}
# Legacy charsets we accept when a file is not UTF-8, most likely first.
CANDIDATES = ["cp1250", "cp1251", "iso8859_2", "cp1252", "koi8_r"]


@dataclass(frozen=True)
class Dialect:
    encoding: str  # a Python codec name
    delimiter: str

    @property
    def label(self) -> str:
        return LABELS.get(self.encoding, self.encoding)

    def describe(self, name: str) -> str:
        shown = "\\t" if self.delimiter == "\t" else self.delimiter
        return f"{name}: {self.label}, delimiter '{shown}'"


@dataclass(slots=True)
class Row:
    line: int  # first physical line of the record (1-based; the header is line 1)
    values: list[str]
    raw: bytes
    error: str | None = None


def codec_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError as exc:
        raise InputError(
            f"unknown encoding '{name}'", "use a name such as utf-8, cp1250, cp1251 or iso-8859-2"
        ) from exc


def _samples(path: Path) -> list[bytes]:
    """The head of the file and a few slices further in (cheap: seeks, never reads it all)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        out = [f.read(SAMPLE)]
        if size > SAMPLE:
            for frac in (0.25, 0.5, 0.75, 1.0):
                f.seek(max(SAMPLE, int(size * frac) - 65536))
                out.append(f.read(65536))
    return out


# A few bad sequences in text that is otherwise UTF-8 are bad rows, not another encoding.
UTF8_MAX_BAD = 16
UTF8_GOOD_PER_BAD = 2
_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def utf8_errors(samples: list[bytes]) -> tuple[int, int]:
    """(invalid sequences, valid multi-byte characters) in the samples, up to a few errors.

    A slice that starts inside a character skips its continuation bytes, and one
    that ends inside a character keeps the incomplete tail out (an incremental
    decoder holds it back), so the cut never counts as an error.
    """
    bad = good = 0
    for i, chunk in enumerate(samples):
        if i:
            skip = 0
            while skip < 3 and skip < len(chunk) and 0x80 <= chunk[skip] <= 0xBF:
                skip += 1
            chunk = chunk[skip:]
        good += len(_MULTIBYTE.findall(chunk))
        decoder = codecs.getincrementaldecoder("utf-8")()
        pos = 0
        while pos < len(chunk):
            try:
                decoder.decode(chunk[pos:], final=False)
                break
            except UnicodeDecodeError as exc:
                bad += 1
                if bad > UTF8_MAX_BAD:
                    return bad, good
                pos += exc.end
                decoder.reset()
    return bad, good


def detect_encoding(path: Path) -> str:
    samples = _samples(path)
    head = samples[0]
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(
            f"{path.name} is UTF-16, which the csv source does not read",
            "save it as UTF-8 (or pass ?encoding=NAME)",
        )
    bad, good = utf8_errors(samples)
    if bad == 0 or (bad <= UTF8_MAX_BAD and good >= UTF8_GOOD_PER_BAD * bad):
        return "utf-8"  # the rows with bad bytes are quarantined when they are read
    if b"\x00" in head:
        raise InputError(
            f"{path.name} does not look like a text file", "check the path; give a CSV file"
        )
    best = from_bytes(b"\n".join(samples), cp_isolation=CANDIDATES).best()
    if best is None and bad <= UTF8_MAX_BAD:
        return "utf-8"  # no legacy charset fits either: read UTF-8, quarantine what is not
    if best is None:
        raise InputError(
            f"cannot tell the encoding of {path.name}",
            "save it as UTF-8, or pass ?encoding=NAME (e.g. cp1250, cp1251, iso-8859-2)",
        )
    enc = codec_name(best.encoding)
    if enc in ("cp1250", "iso8859_2"):
        # The two differ where it matters for Czech and Polish: windows-1250 puts š ť ž ś ź
        # in 0x80-0x9F, which ISO-8859-2 leaves to control codes.
        c1 = re.compile(rb"[\x80-\x9f]")
        enc = "cp1250" if any(c1.search(chunk) for chunk in samples) else "iso8859_2"
    return enc


def detect_delimiter(header: str) -> str:
    """The candidate that splits the header line (outside quotes) most often."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def detect(path: Path, encoding: str | None = None, delimiter: str | None = None) -> Dialect:
    if not path.is_file():
        raise InputError(f"{path} does not exist", "check the path and run again")
    enc = codec_name(encoding) if encoding else detect_encoding(path)
    if enc == "utf-8" and not encoding:
        with path.open("rb") as f:
            if f.read(3) == codecs.BOM_UTF8:
                enc = "utf-8-sig"
    if not delimiter:
        with path.open("rb") as f:
            first = f.readline()
        delimiter = detect_delimiter(first.decode(enc, "replace"))
    elif delimiter in ("\\t", "tab", "TAB"):
        delimiter = "\t"
    if len(delimiter) != 1:
        raise InputError(
            f"the delimiter must be one character, not '{delimiter}'", "use , ; | or \\t"
        )
    return Dialect(enc, delimiter)


class RowReader:
    """Rows of one CSV file with line numbers; ``header`` is the first record."""

    def __init__(self, path: Path, dialect: Dialect, *, unescape: bool = False) -> None:
        self.path = path
        self.dialect = dialect
        self.unescape = unescape  # a deskmove export with formula cells escaped
        self.encoding = "utf-8" if dialect.encoding == "utf-8-sig" else dialect.encoding
        self._f = path.open("rb", buffering=1 << 20)
        self._lineno = 0
        self._pending: deque[tuple[int, bytes]] = deque()
        self._consumed: list[tuple[int, bytes, bool]] = []  # (line, raw, decoded cleanly)
        self._reader = csv.reader(
            _Feed(self), delimiter=dialect.delimiter, quotechar='"', strict=True
        )
        self.header: list[str] = self._read_header()

    def close(self) -> None:
        self._f.close()

    def tell(self) -> int:
        """Bytes of the file read so far (for progress)."""
        try:
            return self._f.tell()
        except (OSError, ValueError):  # closed: all of it
            return self.path.stat().st_size

    def __enter__(self) -> RowReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_line(self) -> str:
        """The next decoded line for the csv parser (pushed-back lines first)."""
        if self._pending:
            n, raw = self._pending.popleft()
        else:
            raw = self._f.readline()
            if not raw:
                raise StopIteration
            self._lineno += 1
            n = self._lineno
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
        try:
            text = raw.decode(self.encoding)
            ok = True
        except UnicodeDecodeError:
            text = raw.decode(self.encoding, "replace")
            ok = False
        self._consumed.append((n, raw, ok))
        return text

    def _read_header(self) -> list[str]:
        for row in self._records():
            if row.error:
                raise InputError(
                    f"{self.path.name}: cannot read the header line: {row.error}",
                    "check that the file is a CSV file with a header row",
                )
            return [h.strip() for h in row.values]
        raise InputError(f"{self.path.name} is empty", "give a CSV file with a header row")

    def _records(self) -> Iterator[Row]:
        """Parsed records, before the column-count check; errors carry the raw lines."""
        reader = self._reader
        while True:
            self._consumed = []
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield self._broken(f"broken quoting ({exc})")
                continue
            lines = self._consumed
            if len(lines) == 1:  # the common case: one physical line, one record
                n, raw, ok = lines[0]
                if not values:
                    continue  # a blank line
                if ok:
                    yield Row(n, values, raw)
                    continue
            else:
                raw = b"".join([r for _n, r, _ok in lines])
                ok = all([ok for _n, _r, ok in lines])
            if not ok:
                bad = next(n for n, _r, ok in lines if not ok)
                yield Row(
                    lines[0][0],
                    values,
                    raw,
                    f"line {bad} is not valid {LABELS.get(self.dialect.encoding, self.encoding)} text",
                )
                continue
            yield Row(lines[0][0], values, raw)

    def _broken(self, reason: str) -> Row:
        """Quarantine the first line of a failed record and re-read the lines after it."""
        lines = self._consumed
        first = lines[0] if lines else (self._lineno, b"", True)
        for n, raw, _ok in reversed(lines[1:]):
            self._pending.appendleft((n, raw))
        return Row(first[0], [], first[1], reason)

    def __iter__(self) -> Iterator[Row]:
        width = len(self.header)
        for row in self._records():
            if row.error is None and len(row.values) != width:
                if row.raw.count(b"\n") > 1:
                    # An unbalanced quote swallowed the following lines: keep only the first.
                    n_lines = row.raw.count(b"\n")
                    self._consumed = self._split_raw(row)
                    row = self._broken(
                        f"broken quoting: a record running over {n_lines} lines has "
                        f"{len(row.values)} columns, expected {width}"
                    )
                else:
                    row.error = f"wrong column count: {len(row.values)} columns, expected {width}"
            if self.unescape and row.error is None:
                row.values = unescape_cells(row.values)
            yield row

    @staticmethod
    def _split_raw(row: Row) -> list[tuple[int, bytes, bool]]:
        parts = [p + b"\n" for p in row.raw.split(b"\n")]
        parts[-1] = parts[-1][:-1]
        if not parts[-1]:
            parts.pop()
        return [(row.line + i, p, True) for i, p in enumerate(parts)]


class _Feed:
    """An iterator the csv parser pulls lines from; it can resume after running dry."""

    def __init__(self, reader: RowReader) -> None:
        self.next = reader._next_line

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        return self.next()


def file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
