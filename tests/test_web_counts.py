"""The list's counts per status are cached while the store's change counter stays put,
and recounted after an import batch or a workspace change; a broad search pages the
same tickets as a narrow one."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from deskmove.model import Ticket
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from deskmove.store import changes, worklist
from deskmove.store import workspace as ws
from deskmove.store.worklist import CountCache, Filters
from tests.webhelp import T0, seed


def _import(store, native_id: str, status: str = "open", subject: str = "Nová reklamace"):
    who = PersonRef(email="novy@zakaznik.cz", name="Nový Zákazník")
    t = TicketRec(
        native_id=native_id,
        subject=subject,
        status=status,
        channel="email",
        requester=who,
        created_at=T0,
        updated_at=T0 + timedelta(days=3),
        messages=[
            MessageRec(
                native_id=f"{native_id}-m",
                created_at=T0,
                author=who,
                body_text="žluťoučký kůň znovu",
                direction="inbound",
            )
        ],
    )
    run = store.begin_run("import", "later")
    store.ingestor("later", run).ingest(Batch(tickets=[t], read=1))


def test_counts_are_cached_until_the_change_counter_moves(any_store):
    seed(any_store)
    cache = CountCache()
    first = cache.counts(any_store, Filters(status="all"))
    # A change made around deskmove (no counter raised) is not seen while the copy is fresh …
    with any_store.begin() as conn:
        conn.execute(Ticket.__table__.update().values(status="closed"))
    assert cache.counts(any_store, Filters(status="all")) == first
    # … and is, once anything raises the counter.
    with any_store.begin() as conn:
        changes.bump(conn)
    after = cache.counts(any_store, Filters(status="all"))
    assert after["closed"] == after["all"] == first["all"]


def test_an_import_batch_and_a_workspace_change_recount(any_store):
    ids = seed(any_store)
    cache = CountCache()
    before = cache.counts(any_store, Filters(status="all"))
    _import(any_store, "later-1", status="pending")
    after = cache.counts(any_store, Filters(status="all"))
    assert after["all"] == before["all"] + 1
    assert after["pending"] == before["pending"] + 1
    tid = next(iter(ids.values()))
    status = (
        any_store.engine.connect()
        .execute(sa.select(Ticket.__table__.c.status).where(Ticket.__table__.c.id == tid))
        .scalar()
    )
    target = "hold" if status != "hold" else "new"
    assert ws.update_ticket(any_store, tid, {"status": target})
    changed = cache.counts(any_store, Filters(status="all"))
    assert changed[target] == after[target] + 1
    assert changed[status] == after[status] - 1


def test_counts_are_kept_per_filter_and_viewer(store):
    seed(store)
    cache = CountCache()
    everyone = cache.counts(store, Filters(status="all"))
    nobody = cache.counts(store, Filters(status="all", assignee="mine", me=-5))
    assert nobody["all"] == 0 and everyone["all"] > 0
    found = cache.counts(store, Filters(status="all", q="zlutoucky"))
    assert found["all"] == 1
    assert cache.counts(store, Filters(status="all", q="!!!"))["all"] == 0


def test_the_cache_forgets_after_its_time(store):
    seed(store)
    cache = CountCache(ttl=0.0)
    first = cache.counts(store, Filters(status="all"))
    with store.begin() as conn:
        conn.execute(Ticket.__table__.update().values(status="closed"))
    assert cache.counts(store, Filters(status="all"))["closed"] == first["all"]


@pytest.mark.parametrize("status", ["all", "unsolved", "open"], ids=["all", "unsolved", "open"])
def test_a_broad_search_pages_like_a_narrow_one(store, monkeypatch, status):
    seed(store)
    for n in range(30):
        _import(store, f"many-{n}", status="open" if n % 2 else "new", subject=f"Kůň {n}")
    f = Filters(status=status, q="zlutoucky kun")

    def walk(limit: int = 7) -> list[int]:
        seen, cursor = [], None
        while True:
            page = worklist.list_tickets(store, f, cursor, limit=limit)
            seen += [r.id for r in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                return seen

    narrow = walk()
    monkeypatch.setattr(worklist, "BROAD_SEARCH", -1)  # every search takes the broad plan
    broad = walk()
    assert broad == narrow and len(narrow) >= 15
