"""The blobs of a batch of mails being parsed: small ones kept for the batch, large ones files.

A raw mail and an attachment up to :data:`deskmove.blobs.INLINE_MAX` bytes stay in
memory (:meth:`BlobWriter.take`) and are inserted into the store's ``blobs`` table in
the transaction that writes the batch's messages, so a crash can neither leave a
message whose blob is missing nor a blob no message names. Larger ones are written
as files at once, before the batch is handed on (a crash leaves at most an
unreferenced file, never a missing one). Used in the importing process and in the
parse worker processes alike; it needs no database.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO

from deskmove.blobs import INLINE_MAX, read_head

if TYPE_CHECKING:
    from deskmove.blobs import BlobStore
    from deskmove.mail.parse import ParsedMail
    from deskmove.mail.raw import RawMail


class BlobWriter:
    """Duck-types the parts of a blob store parsing uses: put, put_stream."""

    def __init__(self, files: BlobStore) -> None:
        self.files = files
        self._small: dict[str, bytes] = {}

    def put(self, data: bytes, sha256: str | None = None) -> str:
        sha = sha256 or hashlib.sha256(data).hexdigest()
        if len(data) > INLINE_MAX:
            self.files.put(data, sha)
        else:
            self._small[sha] = data
        return sha

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        head = read_head(stream)
        if len(head) <= INLINE_MAX:
            return self.put(head), len(head)
        return self.files.put_stream(stream, head)

    def parse(self, raw: RawMail, now: datetime, *, keep_raw: bool = True) -> ParsedMail | str:
        """:func:`parse_raw` one mail; a quarantined one keeps none of its blobs. With
        ``keep_raw=False`` a small raw mail is not kept either: the importing process,
        which read it, adds it to the batch itself (:func:`raw_blobs`)."""
        from deskmove.mail.raw import parse_raw

        start = len(self._small)
        result = parse_raw(raw, self, now)
        if isinstance(result, str):
            for sha in list(self._small)[start:]:
                del self._small[sha]
        elif not keep_raw and len(raw.raw) <= INLINE_MAX:
            self._small.pop(result.raw_sha256, None)
        return result

    def take(self) -> dict[str, bytes]:
        """The small blobs put since the last call (sha256 -> bytes), to go with the batch."""
        out, self._small = self._small, {}
        return out


def raw_blobs(
    mails: list[RawMail], parsed: list[ParsedMail | str], into: dict[str, bytes]
) -> dict[str, bytes]:
    """Add the small raw mails of ``mails`` that parsed (their sha256 in ``parsed``) to ``into``."""
    for raw, result in zip(mails, parsed, strict=True):
        if not isinstance(result, str) and len(raw.raw) <= INLINE_MAX:
            into[result.raw_sha256] = raw.raw
    return into
