"""Large base64 parts are decoded straight into the blob store, never through the MIME parser.

The stdlib parser holds a part several times over (text lines, joined payload,
decoded bytes). For a mail with a 50 MB attachment that is half a gigabyte, so
runs of base64 lines above a threshold are cut out first, decoded in chunks into
the blob store, and replaced by a short token the parser sees instead.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deskmove.store.blobs import BlobStore

MIN_MAIL = 4 << 20  # only mails above this are scanned
MIN_LINES = 8192  # ~600 KB of base64: smaller parts go through the parser as usual
TOKEN = "DESKMOVE-BLOB-{}"
_RUN = re.compile(
    rb"(?:^[A-Za-z0-9+/]{40,}={0,2}\r?\n){%d,}(?:^[A-Za-z0-9+/]{1,39}={0,2}\r?\n)?" % MIN_LINES,
    re.MULTILINE,
)
_TOKEN = re.compile(r"^\s*DESKMOVE-BLOB-(\d+)\s*$")


@dataclass(slots=True)
class Blob:
    sha256: str
    size: int


class _Base64Reader:
    """A file-like reader that decodes a base64 span chunk by chunk."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0
        self.rest = b""

    def read(self, n: int = -1) -> bytes:
        while self.pos < len(self.data):
            piece = bytes(self.data[self.pos : self.pos + (1 << 20)])
            self.pos += len(piece)
            clean = self.rest + piece.translate(None, b"\r\n \t")
            cut = len(clean) - len(clean) % 4
            self.rest = clean[cut:]
            if cut:
                return binascii.a2b_base64(clean[:cut])
        if self.rest:
            tail, self.rest = self.rest, b""
            return binascii.a2b_base64(tail + b"=" * (-len(tail) % 4))
        return b""


def extract(raw: bytes, blobs: BlobStore) -> tuple[bytes, list[Blob]]:
    """The mail with large base64 runs replaced by tokens, and the blobs they became."""
    if len(raw) < MIN_MAIL:
        return raw, []
    view = memoryview(raw)
    out: list[bytes] = []
    found: list[Blob] = []
    last = 0
    for m in _RUN.finditer(raw):
        sha, size = blobs.put_stream(_Base64Reader(view[m.start() : m.end()]))  # type: ignore[arg-type]
        out.append(raw[last : m.start()])
        out.append(TOKEN.format(len(found)).encode() + b"\r\n")
        found.append(Blob(sha, size))
        last = m.end()
    if not found:
        return raw, []
    out.append(raw[last:])
    return b"".join(out), found


def token_index(payload: object) -> int | None:
    """The blob number when a part's payload is one of our tokens."""
    if isinstance(payload, str) and len(payload) < 64:
        m = _TOKEN.match(payload)
        if m:
            return int(m.group(1))
    return None
