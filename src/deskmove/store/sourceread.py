"""What sources ask the store back: the mails a connection kept (to re-match after an
IMAP UIDVALIDITY change), the people it stored as agents."""

from __future__ import annotations

import sqlalchemy as sa

from deskmove.model import Message, Provenance, Quarantine

PROVENANCE, MESSAGES, QUARANTINE = Provenance.__table__, Message.__table__, Quarantine.__table__


def raw_mail_shas(conn: sa.Connection, connection: str) -> set[str]:
    """The blobs of every raw mail ``connection`` imported or quarantined."""
    p, m, q = PROVENANCE.c, MESSAGES.c, QUARANTINE.c
    imported = (
        sa.select(m.raw_sha256)
        .join(PROVENANCE, p.entity_id == m.id)
        .where(p.connection == connection, p.kind == "message", m.raw_sha256.is_not(None))
    )
    kept = sa.select(q.raw_sha256).where(q.connection == connection, q.raw_sha256.is_not(None))
    return set(conn.execute(imported).scalars()) | set(conn.execute(kept).scalars())
