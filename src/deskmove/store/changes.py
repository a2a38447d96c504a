"""The store's change counter: raised by every transaction that changes tickets.

A reader that keeps something derived from the tickets (the workspace's counts
per status) reads the counter with it and trusts the copy while the counter
stays the same. The counter is raised as the *last* statement of a writing
transaction (an import batch, a workspace change): the row lock it takes on
PostgreSQL is then held only while the transaction commits, so two writers never
wait on each other in a cycle.
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection

TICKETS = "tickets"


@cache
def _counters() -> sa.Table:
    """The counters' table. The workspace's models are loaded when a counter is first
    raised or read: an import that changes nothing (a cron run) never loads them."""
    from deskmove.store.webmodel import StoreChange

    return StoreChange.__table__


def bump(conn: Connection, name: str = TICKETS) -> None:
    """Raise the counter; call it last in the transaction that changed tickets."""
    counters = _counters()
    c = counters.c
    if not conn.execute(counters.update().where(c.name == name).values(n=c.n + 1)).rowcount:
        conn.execute(counters.insert().values(name=name, n=1))


@cache
def _stamp_query() -> sa.Select[tuple[int]]:
    c = _counters().c
    return sa.select(c.n).where(c.name == sa.bindparam("name"))


def stamp(conn: Connection, name: str = TICKETS) -> int:
    """The counter's value now (0 before the first change); one prepared statement, read
    on every list page (building the SELECT anew cost more than running it)."""
    return conn.execute(_stamp_query(), {"name": name}).scalar() or 0
