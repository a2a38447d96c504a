"""`deskmove sync`: the plan, delta imports and pushes, no-op runs, the lock, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deskmove import registry
from deskmove.config import Project
from deskmove.errors import EXIT_LOCKED, EXIT_USAGE
from deskmove.store import Store
from tests.sync_helpers import mail_line

PLAN = """
[connections.old-inbox]
spec = "jsonl:{src}"

[connections.new-desk]
spec = "jsondesk:{desk}"

[sync]
sources = ["old-inbox"]
targets = ["new-desk"]
"""


@pytest.fixture
def plan(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setitem(registry.SOURCES, "jsonl", "tests.sync_helpers:JsonlSource")
    monkeypatch.setitem(registry.TARGETS, "jsondesk", "tests.sync_helpers:JsonDesk")
    src, desk = project_dir / "inbox.jsonl", project_dir / "desk.json"
    src.write_text("", encoding="utf-8")
    with open(project_dir / "deskmove.toml", "a", encoding="utf-8") as fh:
        fh.write(PLAN.format(src=src, desk=desk))
    return {"src": src, "desk": desk, "root": project_dir}


def arrive(src: Path, *lines: str) -> None:
    with open(src, "a", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in lines)


def desk(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_first_sync_imports_and_pushes_then_a_rerun_is_a_no_op(cli, plan) -> None:
    arrive(plan["src"], mail_line("A", 1), mail_line("A", 2), mail_line("B", 1, attach="faktura"))
    first = cli("sync")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.count("\n") == 1  # one summary line for cron
    assert (
        "old-inbox +3 new" in first.stdout
        and "new-desk: pushed 3 messages, 2 tickets created" in first.stdout
    )
    assert len(desk(plan["desk"])["tickets"]) == 2
    before = desk(plan["desk"])

    again = cli("sync")
    assert again.exit_code == 0
    assert "old-inbox +0 new, 0 changed" in again.stdout and "new-desk: up to date" in again.stdout
    assert desk(plan["desk"]) == before


def test_new_mail_is_appended_to_the_same_ticket_and_new_threads_become_tickets(cli, plan) -> None:
    arrive(plan["src"], mail_line("A", 1), mail_line("B", 1))
    assert cli("sync").exit_code == 0
    a_native = next(
        n for n, t in desk(plan["desk"])["tickets"].items() if t["external_id"] == "dm-1"
    )
    arrive(plan["src"], mail_line("A", 2, note=True), mail_line("C", 1))
    result = cli("sync")
    assert result.exit_code == 0, result.stderr
    assert "+2 new" in result.stdout
    tickets = desk(plan["desk"])["tickets"]
    assert len(tickets) == 3
    assert [c["public"] for c in tickets[a_native]["comments"]] == [True, False]


def test_quiet_prints_nothing_on_success(cli, plan) -> None:
    arrive(plan["src"], mail_line("A", 1))
    result = cli("--quiet", "sync")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_dry_run_says_what_would_be_pushed_and_writes_nothing(cli, plan) -> None:
    arrive(plan["src"], mail_line("A", 1), mail_line("A", 2))
    result = cli("sync", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert (
        "sync (dry run)" in result.stdout
        and "would push 2 messages, 1 tickets created" in result.stdout
    )
    assert not plan["desk"].exists()
    real = cli("sync")  # the dry run did not move the watermark: everything is still pushed
    assert (
        "pushed 2 messages, 1 tickets created" in real.stdout
        and len(desk(plan["desk"])["tickets"]) == 1
    )


def test_json_output(cli, plan) -> None:
    arrive(plan["src"], mail_line("A", 1))
    data = json.loads(cli("--json", "sync").stdout)
    assert data["imports"][0]["new"] == 1 and data["pushes"][0]["target"] == "new-desk"
    data = json.loads(cli("--json", "sync").stdout)
    assert data["up_to_date"] == ["new-desk"] and data["pushes"] == []


def test_names_limit_the_run(cli, plan) -> None:
    arrive(plan["src"], mail_line("A", 1))
    result = cli("sync", "old-inbox")
    assert result.exit_code == 0 and "new-desk" not in result.stdout
    assert not plan["desk"].exists()
    result = cli("sync", "new-desk")
    assert "old-inbox" not in result.stdout and "1 tickets created" in result.stdout


def test_unknown_name_and_missing_plan_are_usage_errors(cli, plan, tmp_path: Path) -> None:
    result = cli("sync", "nope")
    assert result.exit_code == EXIT_USAGE
    assert "'nope' is not in the [sync] plan" in result.stderr and "Traceback" not in result.stderr
    other = tmp_path / "empty"
    assert cli("init", str(other)).exit_code == 0
    result = cli("sync", project=other)
    assert result.exit_code == EXIT_USAGE and "no [sync] plan" in result.stderr


def test_a_failing_source_does_not_stop_the_push_of_what_arrived(cli, plan) -> None:
    with open(plan["root"] / "deskmove.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[connections.broken]\nspec = "jsonl:/nonexistent/inbox.jsonl"\n')
    toml = (
        (plan["root"] / "deskmove.toml")
        .read_text()
        .replace('sources = ["old-inbox"]', 'sources = ["broken", "old-inbox"]')
    )
    (plan["root"] / "deskmove.toml").write_text(toml)
    arrive(plan["src"], mail_line("A", 1))
    result = cli("sync")
    assert result.exit_code == EXIT_USAGE  # the broken source's own exit code
    assert result.stderr.startswith("Error: broken:") and "Traceback" not in result.stderr
    assert "1 tickets created" in result.stdout


LOCKER = """
import sys, time
from deskmove.lock import project_lock
with project_lock(sys.argv[1], sys.argv[2], "sync"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_sync_exits_75_while_one_runs(cli, plan, project: Project) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(plan["root"]), project.store_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        arrive(plan["src"], mail_line("A", 1))
        result = cli("sync")
        assert result.exit_code == EXIT_LOCKED
        assert f"pid {proc.pid}" in result.stderr and "Traceback" not in result.stderr
        quiet = cli("--quiet", "sync")  # cron: routine, no mail
        assert quiet.exit_code == EXIT_LOCKED and quiet.stderr == "" and quiet.stdout == ""
        assert cli("import", "old-inbox").exit_code == EXIT_LOCKED  # imports wait their turn too
    finally:
        proc.kill()
        proc.wait()
    assert cli("sync").exit_code == 0  # the kernel dropped the dead holder's lock


def test_watermark_follows_pushes(cli, plan, project: Project) -> None:
    arrive(plan["src"], mail_line("A", 1))
    assert cli("sync").exit_code == 0
    store = Store.open(project.store_url, project.blob_root)
    try:
        assert store.push_watermark("new-desk") is not None
        assert not store.has_push_work("new-desk") and store.changed_ticket_ids("new-desk") == []
        arrive(plan["src"], mail_line("B", 1))
        assert cli("sync", "old-inbox").exit_code == 0
        assert store.has_push_work("new-desk") and len(store.changed_ticket_ids("new-desk")) == 1
        store.map_put("new-desk", "ticket", 1, None, pushed_hash=None, state="pending")
        assert set(store.changed_ticket_ids("new-desk")) == {1, 2}
    finally:
        store.close()


def test_status_shows_cursor_pending_and_active_conversations(cli, plan) -> None:
    arrive(plan["src"], mail_line("A", 1), mail_line("B", 1))
    assert cli("sync", "old-inbox").exit_code == 0
    data = json.loads(cli("--json", "status", "--active-days", "100000").stdout)
    conns = data["cutover"]["connections"]
    assert conns["old-inbox"]["cursor"]["lines"]["offset"] == plan["src"].stat().st_size
    assert conns["old-inbox"]["last_run"]["command"] == "import"
    assert conns["new-desk"]["pending_tickets"] == 2
    assert data["cutover"]["active_conversations"] == 2
    assert cli("sync").exit_code == 0
    text = cli("status", "--active-days", "100000").stdout
    assert "new-desk: 2 tickets there, nothing waiting" in text
    assert "Active conversations: 2 (a message in the last 100000 days)" in text
    assert (
        json.loads(cli("--json", "status", "--active-days", "1").stdout)["cutover"][
            "active_conversations"
        ]
        == 0
    )


def test_change_tracking_on_both_backends(any_store: Store) -> None:
    from datetime import UTC, datetime

    from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
    from deskmove.store import delta

    def batch(tid: str, mid: str) -> Batch:
        at = datetime(2026, 3, 1, tzinfo=UTC)
        msg = MessageRec(mid, at, PersonRef(email="petr@example.cz"), body_text="Dobrý den")
        return Batch([TicketRec(tid, subject="Reklamace", created_at=at, messages=[msg])], read=1)

    first = any_store.begin_run("import", "src")
    any_store.ingestor("src", first).ingest(batch("T1", "M1"))
    assert any_store.has_push_work("desk") and any_store.changed_ticket_ids("desk") is None
    assert delta.pending_count(any_store, "desk") == 1
    push = any_store.begin_run("export", "desk")
    any_store.map_put("desk", "ticket", 1, "900", pushed_hash=None, run_id=push)
    delta.set_push_watermark(any_store, "desk", push)
    assert not any_store.has_push_work("desk") and delta.pending_count(any_store, "desk") == 0
    second = any_store.begin_run("import", "src")
    any_store.ingestor("src", second).ingest(batch("T1", "M2"))  # a new message, same ticket
    assert any_store.has_push_work("desk") and any_store.changed_ticket_ids("desk") == [1]
    assert (
        not any_store.has_push_work("other-desk") or any_store.push_watermark("other-desk") is None
    )
    delta.set_push_watermark(any_store, "desk", None)
    assert any_store.push_watermark("desk") is None
