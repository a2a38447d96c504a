"""The stdlib-only reads of `status` (deskmove.store.quick) answer what the full store answers."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deskmove import registry
from deskmove.config import Project
from deskmove.records import Batch, MessageRec, PersonRef, QuarantineRec, TicketRec
from deskmove.store import Store, delta, quick
from tests.sync_helpers import mail_line
from tests.test_sync import PLAN, arrive


@pytest.fixture
def plan(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setitem(registry.SOURCES, "jsonl", "tests.sync_helpers:JsonlSource")
    monkeypatch.setitem(registry.TARGETS, "jsondesk", "tests.sync_helpers:JsonDesk")
    src, desk = project_dir / "inbox.jsonl", project_dir / "desk.json"
    src.write_text("", encoding="utf-8")
    with open(project_dir / "deskmove.toml", "a", encoding="utf-8") as fh:
        fh.write(PLAN.format(src=src, desk=desk))
    return {"src": src, "desk": desk, "root": project_dir}


def full(project: Project, targets: list[str], days: int) -> dict[str, Any]:
    store = Store.open(project.store_url, project.blob_root)
    try:
        info = store.summary()
        info["cutover"] = delta.connections_overview(store, targets, days)
        return info
    finally:
        store.close()


def same(project: Project, targets: list[str] = ["new-desk"], days: int = 100_000) -> None:  # noqa: B006
    fast = quick.status_info(project.store_url, targets, days)
    assert fast is not None
    assert fast == full(project, targets, days)
    assert json.dumps(fast, default=str) == json.dumps(full(project, targets, days), default=str)


def test_an_empty_store_reads_the_same(project: Project) -> None:
    Store.open(project.store_url, project.blob_root).close()
    same(project, [])
    same(project, ["new-desk"], 14)


def test_a_store_after_syncs_quarantine_and_a_killed_run_reads_the_same(cli, plan) -> None:
    project = Project.load(plan["root"])
    arrive(plan["src"], mail_line("A", 1), mail_line("A", 2), mail_line("B", 1, attach="faktura"))
    assert cli("sync", "old-inbox").exit_code == 0
    same(project)  # imported, never pushed: everything pending, no watermark
    assert cli("sync").exit_code == 0
    same(project)  # pushed: a watermark, nothing pending
    arrive(plan["src"], mail_line("A", 3, note=True), mail_line("C", 1, day=40))
    assert cli("sync", "old-inbox").exit_code == 0
    same(project)  # changes above the watermark
    same(project, days=1)

    store = Store.open(project.store_url, project.blob_root)
    run = store.begin_run("import", "other")
    at = datetime.now(UTC) - timedelta(days=2)
    msg = MessageRec("M9", at, PersonRef(email="petr@example.cz"), body_text="Dobrý den")
    batch = Batch(
        [TicketRec("T9", subject="Reklamace", created_at=at, messages=[msg])],
        quarantined=[
            QuarantineRec("line 7", "not valid JSON", b"{"),
            QuarantineRec("line 8", "not valid JSON", b"["),
            QuarantineRec("offset:12", "no Date header"),
        ],
        read=4,
    )
    store.ingestor("other", run).ingest(batch)  # and the run stays "running"
    store.map_put("new-desk", "ticket", 1, None, pushed_hash=None, state="pending")
    store.close()
    same(project)
    store = Store.open(project.store_url, project.blob_root)  # unfinished messages, each range
    for message, state in ((1, "failed"), (2, "held"), (3, "sending"), (4, "matched")):
        store.map_put("new-desk", "message", message, None, pushed_hash=None, state=state)
    store.close()
    same(project)
    same(project, ["new-desk", "never-pushed"], 3)


def test_what_the_fast_path_does_not_know_it_leaves_to_the_store(
    project: Project, tmp_path: Path
) -> None:
    assert quick.status_info("postgresql+psycopg://u@h/db", [], 14) is None
    assert quick.status_info(f"sqlite:///{tmp_path / 'none.db'}", [], 14) is None
    assert quick.status_info(f"sqlite:///{tmp_path / 'x.db'}?mode=ro", [], 14) is None
    Store.open(project.store_url, project.blob_root).close()
    db = sqlite3.connect(project.root / "deskmove.db")
    db.execute("UPDATE alembic_version SET version_num = 'older'")
    db.commit()
    db.close()
    assert quick.status_info(project.store_url, [], 14) is None  # the full path upgrades it


def test_the_pending_count_seeks_the_unfinished_entries_by_index(project: Project) -> None:
    """After a migration the id map holds an entry per ticket and message, all finished:
    the pending count must not read them (it read all 400,000 on 100,000 tickets)."""
    Store.open(project.store_url, project.blob_root).close()
    db = sqlite3.connect(project.root / "deskmove.db")
    plan: list[str] = []
    original = db.execute

    def explained(sql: str, params: Any = ()) -> sqlite3.Cursor:
        if sql.startswith("SELECT count(*) FROM (SELECT entity_id FROM provenance"):
            plan.extend(row[3] for row in original(f"EXPLAIN QUERY PLAN {sql}", params))
        return original(sql, params)

    db.execute(
        "INSERT INTO sync_state (connection, stream, cursor, updated_at) "
        "VALUES ('new-desk', '@push', '{\"run_id\": 1}', '2024-01-01 00:00:00')"
    )

    class Traced:
        execute = staticmethod(explained)

    assert quick._pending_count(Traced(), "new-desk") == 0  # type: ignore[arg-type]
    assert plan and all("id_map" not in step or "ix_id_map_state" in step for step in plan), plan
    assert any("ix_id_map_state (connection=? AND state<?)" in step for step in plan), plan
    db.close()
