"""Bulk jobs collect garbage less often, and put the collector back as it was."""

from __future__ import annotations

import gc
import weakref

import pytest

from deskmove.audit import run_audit
from deskmove.gcpause import YOUNG, fewer_collections
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


def test_an_import_and_an_audit_run_with_fewer_collections(project, store, monkeypatch):
    seen = []
    ingest = Ingestor.ingest

    def watched(self, batch):
        seen.append(gc.get_threshold()[0])
        return ingest(self, batch)

    monkeypatch.setattr(Ingestor, "ingest", watched)
    import_source(project, store, f"csv:{EXAMPLES / 'helpdesk'}")
    assert seen and min(seen) >= YOUNG
    assert gc.get_threshold()[0] < YOUNG and gc.get_freeze_count() == 0

    from deskmove.audit import scan as audit_scan

    scans = []
    scan = audit_scan.scan_range

    def watched_scan(db, ctx, **kwargs):
        scans.append(gc.get_freeze_count())
        return scan(db, ctx, **kwargs)

    monkeypatch.setattr(audit_scan, "scan_range", watched_scan)
    run_audit(project, store)
    assert scans and scans[0] > 0 and gc.get_freeze_count() == 0
