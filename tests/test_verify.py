"""`deskmove verify`: per-ticket reconciliation of the store and a target."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from deskmove.store import Store
from deskmove.targets.base import RemoteMessage, RemoteTicket
from deskmove.verify import StoredMessage, compare
from tests.rest.conftest import api, creds, do_export, do_import, seed, sleeps  # noqa: F401
from tests.rest.fakezendesk import FakeZendesk
from tests.sync_helpers import mail_line
from tests.test_sync import arrive, plan  # noqa: F401

T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def edit_desk(path: Path, fn) -> None:  # noqa: ANN001
    data = json.loads(path.read_text(encoding="utf-8"))
    fn(data["tickets"])
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_everything_migrated_exits_0_with_a_json_report(cli, plan, tmp_path: Path) -> None:  # noqa: F811
    arrive(
        plan["src"],
        mail_line("A", 1, attach="faktura"),
        mail_line("A", 2, note=True),
        mail_line("B", 1),
    )
    assert cli("sync").exit_code == 0
    out = tmp_path / "verify.json"
    result = cli("verify", "new-desk", "--report", str(out))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip() == "new-desk: 2 migrated, 0 changed, 0 missing, 0 failed"
    report = json.loads(out.read_text())
    assert report["ok"] is True and report["counts"]["migrated"] == 2
    assert {t["status"] for t in report["tickets"]} == {"migrated"}


def test_each_kind_of_difference_is_found(cli, plan) -> None:  # noqa: F811
    lines = [mail_line(t, n, attach="příloha" if n == 1 else None) for t in "ABCDE" for n in (1, 2)]
    arrive(plan["src"], *lines)
    assert cli("sync").exit_code == 0

    def tamper(tickets: dict) -> None:
        by_ext = {t["external_id"]: t for t in tickets.values()}
        by_ext["dm-1"]["comments"].pop()  # a message lost
        by_ext["dm-2"]["comments"][0]["created_at"] = "2020-01-01T00:00:00+00:00"  # time changed
        by_ext["dm-3"]["comments"][1]["public"] = False  # became internal
        by_ext["dm-4"]["comments"][0]["attachments"] = ["0" * 64]  # another file
        del tickets[next(k for k, t in tickets.items() if t["external_id"] == "dm-5")]  # deleted

    edit_desk(plan["desk"], tamper)
    arrive(plan["src"], mail_line("F", 1))
    assert cli("sync", "old-inbox").exit_code == 0  # F is in the store, not pushed
    result = cli("--json", "verify", "new-desk")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["counts"] == {"migrated": 0, "changed": 4, "missing": 2, "failed": 0}
    problems = {t["ticket_id"]: " ".join(t["problems"]) for t in report["tickets"]}
    assert "the store has 2 messages, the target 1" in problems[1]
    assert "target says 2020-01-01" in problems[2]
    assert "public in the store" in problems[3]
    assert "attachments differ" in problems[4]
    assert problems[5] == "gone from the target" and problems[6] == "never pushed"


def test_an_interrupted_push_is_failed(cli, plan, project) -> None:  # noqa: F811
    arrive(plan["src"], mail_line("A", 1))
    assert cli("sync").exit_code == 0
    store = Store.open(project.store_url, project.blob_root)
    store.map_put("new-desk", "ticket", 1, None, pushed_hash=None, state="pending")
    store.close()
    result = cli("verify", "new-desk")
    assert result.exit_code == 1 and "0 migrated, 0 changed, 0 missing, 1 failed" in result.stdout
    assert "interrupted" in result.stdout


def test_compare_matches_authors_by_email_or_by_pushed_id() -> None:
    ours = [StoredMessage(1, "jan@example.cz", 7, T, True, [])]
    by_email = RemoteTicket("9", "open", [RemoteMessage("c1", "JAN@example.cz", T)])
    assert compare(ours, by_email, {}) == []
    by_id = RemoteTicket("9", "open", [RemoteMessage("c1", "555", T)])
    assert compare(ours, by_id, {7: ("555", None, "done")}) == []
    assert (
        "author jan@example.cz, target says 556"
        in compare(
            ours,
            RemoteTicket("9", "open", [RemoteMessage("c1", "556", T)]),
            {7: ("555", None, "done")},
        )[0]
    )
    # an author never pushed is signed by the target's own user: not a difference
    assert compare(ours, by_id, {}) == []


def test_verify_against_the_zendesk_target(project, store, api) -> None:  # noqa: F811
    source = seed(FakeZendesk(page_size=3), tickets=3, comments=3)
    target = FakeZendesk(host="target.zendesk.com")
    api.serve(source)
    api.serve(target)
    do_import(project, store)
    do_export(project, store)
    from deskmove.verify import verify_target

    report = verify_target(project, store, "zendesk://target")
    assert report.counts["migrated"] == 3 and report.ok, report.as_dict()
    tid = next(iter(target.comments))
    target.comments[tid].pop()
    report = verify_target(project, store, "zendesk://target")
    assert report.counts["changed"] == 1 and not report.ok
    del target.tickets[tid]
    assert verify_target(project, store, "zendesk://target").counts["missing"] == 1


def test_an_appended_message_may_be_dated_when_it_arrived_but_not_before() -> None:
    later = T.replace(hour=12)
    appended = [StoredMessage(1, "jan@example.cz", 7, T, True, [], appended=True)]
    remote = RemoteTicket("9", "open", [RemoteMessage("c1", "jan@example.cz", later)])
    assert compare(appended, remote, {}) == []  # Zendesk dates a comment added by update "now"
    imported = [StoredMessage(1, "jan@example.cz", 7, T, True, [])]
    assert "target says" in compare(imported, remote, {})[0]  # an imported one keeps its time
    earlier = RemoteTicket("9", "open", [RemoteMessage("c1", "jan@example.cz", T.replace(hour=8))])
    assert "target says" in compare(appended, earlier, {})[0]
