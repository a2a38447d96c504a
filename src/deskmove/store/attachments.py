"""Attachments added to a message already in the store (a download retried later)."""

from __future__ import annotations

import sqlalchemy as sa

from deskmove.model import Attachment, Provenance
from deskmove.records import AttachmentRec

ATTACHMENTS, PROVENANCE = Attachment.__table__, Provenance.__table__


def attach(store, connection: str, message_native_id: str, rec: AttachmentRec) -> bool:  # noqa: ANN001
    """Add ``rec`` to the message this connection imported as ``message_native_id``.

    False when that message is not in the store (never imported, or gone). The
    same bytes under the same name are added once, so a retry run twice adds nothing.
    """
    p, a = PROVENANCE.c, ATTACHMENTS.c
    with store.begin() as conn:
        message_id = conn.execute(
            sa.select(p.entity_id).where(
                p.connection == connection, p.kind == "message", p.native_id == message_native_id
            )
        ).scalar()
        if message_id is None:
            return False
        there = conn.execute(
            sa.select(a.id).where(
                a.message_id == message_id, a.sha256 == rec.sha256, a.filename == rec.filename
            )
        ).first()
        if there is None:
            conn.execute(
                ATTACHMENTS.insert().values(
                    message_id=message_id,
                    filename=rec.filename,
                    content_type=rec.content_type,
                    size=rec.size,
                    sha256=rec.sha256,
                    content_id=rec.content_id,
                    inline=rec.inline,
                )
            )
        return True
