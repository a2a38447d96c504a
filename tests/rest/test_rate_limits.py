"""Rate limits end to end: an account that allows N requests a minute, on a clock the sleeps move."""

from __future__ import annotations

import pytest

from deskmove.rest.adapter import RestAdapter
from tests.rest.conftest import do_export, do_import, seed
from tests.rest.fakezendesk import FakeZendesk, Limit


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(RestAdapter, "sleep", staticmethod(sleep))
    return now


def test_export_and_import_under_a_tight_limit_pace_instead_of_hitting_429(
    api, project, store, clock
):
    source = seed(
        FakeZendesk(
            page_size=2, events_page_size=3, limit=Limit(per_window=4, clock=lambda: clock[0])
        ),
        tickets=6,
        comments=2,
    )
    target = FakeZendesk(
        host="target.zendesk.com", limit=Limit(per_window=4, clock=lambda: clock[0])
    )
    api.serve(source)
    api.serve(target)
    report = do_import(project, store)
    assert report.balanced and report.new == 6 + 12
    pushed = do_export(project, store)
    assert pushed.created["ticket"] == 6
    assert source.counts.get("429", 0) == 0 and target.counts.get("429", 0) == 0
    minutes = clock[0] / 60
    assert source.counts["requests"] + target.counts["requests"] <= 4 * (
        minutes + 2
    )  # paced, not bursting


def test_a_429_storm_without_remaining_headers_is_survived(api, project, store, clock, monkeypatch):
    """An API that says nothing until it refuses: back off, then carry on; nothing lost."""
    source = seed(
        FakeZendesk(page_size=2, limit=Limit(per_window=3, clock=lambda: clock[0])),
        tickets=4,
        comments=1,
        attachments=False,
    )
    real = source.limit.check

    def silent() -> tuple[bool, dict[str, str]]:
        ok, headers = real()
        return ok, {} if ok else {}  # no Retry-After, no remaining quota

    monkeypatch.setattr(source.limit, "check", silent)
    api.serve(source)
    report = do_import(project, store)
    assert report.balanced and report.new == 4 + 4
    assert source.counts["429"] >= 1


def test_incremental_exports_are_paced_to_ten_requests_a_minute(api, project, store, clock):
    """Zendesk: "You can make up to 10 requests per minute to these endpoints"."""
    limit = Limit(per_window=10, clock=lambda: clock[0])
    source = seed(
        FakeZendesk(page_size=1, events_page_size=2, export_limit=limit),
        tickets=8,
        comments=1,
        attachments=False,
    )
    api.serve(source)
    report = do_import(project, store)
    assert report.balanced and report.new == 8 + 8
    exports = sum(1 for _m, p in source.log if p.startswith("/api/v2/incremental/"))
    assert exports > 20 and source.counts.get("429", 0) == 0  # paced, never refused
    assert clock[0] >= 60 * (exports // 10 - 1)
