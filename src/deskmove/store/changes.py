"""The store's change counter: raised by every transaction that changes tickets.

A reader that keeps something derived from the tickets (the workspace's counts
per status) reads the counter with it and trusts the copy while the counter
stays the same. The counter is raised as the *last* statement of a writing
transaction (an import batch, a workspace change): the row lock it takes on
PostgreSQL is then held only while the transaction commits, so two writers never
wait on each other in a cycle.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.store.webmodel import StoreChange

COUNTERS = StoreChange.__table__
TICKETS = "tickets"


def bump(conn: Connection, name: str = TICKETS) -> None:
    """Raise the counter; call it last in the transaction that changed tickets."""
    c = COUNTERS.c
    if not conn.execute(COUNTERS.update().where(c.name == name).values(n=c.n + 1)).rowcount:
        conn.execute(COUNTERS.insert().values(name=name, n=1))


_STAMP = sa.select(COUNTERS.c.n).where(COUNTERS.c.name == sa.bindparam("name"))


def stamp(conn: Connection, name: str = TICKETS) -> int:
    """The counter's value now (0 before the first change); one prepared statement, read
    on every list page (building the SELECT anew cost more than running it)."""
    return conn.execute(_STAMP, {"name": name}).scalar() or 0
