"""Mail is one namespace: the same mail read through two connections is one message.

A mail message's native id is content-derived (``<Message-ID>/<fingerprint>``)
and a mail ticket's is its thread root (``thread:<Message-ID>``), so they mean
the same thing whichever mbox, Maildir, eml folder or IMAP account they were
read from. An mbox imported as ``mbox:PATH`` and again through a connection
naming the same file, or a byte-identical copy at another path, must not give
every mail twice. The ingestor therefore looks these ids up in every mail
connection of the store (those with thread keys), and adopts what it finds:
the entity stays one, and the new connection gets its own provenance row
pointing at it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import Provenance, Run
from deskmove.store.threads import KEY_KIND

SHARED_KINDS = ("ticket", "message")


def mail_connections(conn: Connection, me: str) -> list[str]:
    """The other connections of this store that imported mail (a few indexed probes)."""
    p, r = Provenance.__table__.c, Run.__table__.c
    names = conn.execute(
        sa.select(r.connection).where(r.connection.is_not(None), r.connection != me).distinct()
    ).scalars()
    out = []
    for name in names:
        probe = sa.select(p.id).where(p.connection == name, p.kind == KEY_KIND).limit(1)
        if conn.execute(probe).first() is not None:
            out.append(name)
    return sorted(out)
