"""Bulk jobs collect garbage less often, and put the collector back as it was."""

from __future__ import annotations

import gc
import sys
import weakref

import pytest

from deskmove.audit import run_audit
from deskmove.gcpause import FULL_EVERY, YOUNG, batch_collections, fewer_collections
from deskmove.store import Ingestor
from deskmove.sync import import_source
from tests.csvhelp import EXAMPLES


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it


def test_the_collector_is_put_back_after_the_block_even_on_an_error():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        assert gc.get_threshold()[0] >= YOUNG and gc.get_freeze_count() > 0
        raise RuntimeError("boom")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_cycles_made_inside_the_block_are_still_collected():
    with fewer_collections():
        gone = weakref.ref(_Node())
        for _ in range(YOUNG * 3):
            _Node()  # enough allocations for the young generation to be collected
        assert gone() is None


def test_batch_collections_collect_only_at_boundaries_and_put_the_collector_back():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), batch_collections() as collections:
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        gone = weakref.ref(_Node())
        for _ in range(YOUNG * 3):
            _Node()
        assert gone() is not None  # no collection while a batch is being made
        collections.boundary()
        assert gone() is None  # the cycle is freed at the boundary
        raise RuntimeError("boom")
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_boundary_collects_everything_now_and_then(monkeypatch):
    asked = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: asked.append(generation))
    with batch_collections() as collections:
        for _ in range(FULL_EVERY * 2):
            collections.boundary()
    assert asked.count(2) == 2 and asked.count(1) == FULL_EVERY * 2 - 2


def test_an_import_collects_between_batches_and_an_audit_with_fewer_collections(
    project, store, monkeypatch
):
    seen = []
    ingest = Ingestor.ingest

    def watched(self, batch):
        seen.append(gc.isenabled())
        return ingest(self, batch)

    monkeypatch.setattr(Ingestor, "ingest", watched)
    import_source(project, store, f"csv:{EXAMPLES / 'helpdesk'}")
    assert seen and not any(seen)
    assert gc.isenabled() and gc.get_freeze_count() == 0

    from deskmove.audit import scan as audit_scan

    scans = []
    scan = audit_scan.scan_range

    def watched_scan(db, ctx, **kwargs):
        scans.append(gc.get_freeze_count())
        return scan(db, ctx, **kwargs)

    monkeypatch.setattr(audit_scan, "scan_range", watched_scan)
    run_audit(project, store)
    assert scans and scans[0] > 0 and gc.get_freeze_count() == 0


def test_the_ingestor_lets_a_written_batch_go(store):
    """What the search index needed of a batch is not kept until the next one: the
    collection at the boundary would walk all of it, and memory would hold two batches."""
    from deskmove.model import utcnow
    from deskmove.records import Batch, MessageRec, TicketRec

    run = store.begin_run("import", "src")
    ingestor = store.ingestor("src", run)
    msg = MessageRec(native_id="m1", created_at=utcnow(), body_text="Dobrý den")
    batch = Batch(tickets=[TicketRec(native_id="t1", subject="Reklamace", messages=[msg])])
    batch.read = 2
    alone = sys.getrefcount(msg) - 1  # the batch's reference and this variable's
    ingestor.ingest(batch)
    assert sys.getrefcount(msg) - 1 == alone  # the ingestor keeps no reference of its own
    del batch
    assert sys.getrefcount(msg) == 2  # this variable's and the call's: nothing else
