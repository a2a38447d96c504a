"""An idle `deskmove sync` answered without the store's machinery (syncplan.idle_sync):
only when nothing changed, and then with the same output and run records as the full path."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from deskmove.config import Project
from deskmove.store import Store
from deskmove.sync import sync_all
from deskmove.syncplan import idle_sync

MAIL = """From {who}@example.cz Mon Mar  4 10:00:00 2024
From: {who} <{who}@example.cz>
To: support@shop.example
Subject: Order {n}
Date: Mon, 04 Mar 2024 10:00:00 +0100
Message-ID: <{who}{n}@example.cz>

Hello {n}.

"""


def _mbox(path: Path, *mails: tuple[str, int]) -> None:
    path.write_text("".join(MAIL.format(who=w, n=n) for w, n in mails), encoding="utf-8")


def _sync_to_csv(project_dir: Path, name: str, spec: str) -> None:
    """Configure [sync] from the source ``name`` (``spec``) to a CSV target ``out``."""
    with open(project_dir / "deskmove.toml", "a", encoding="utf-8") as fh:
        fh.write(
            f'[connections.{name}]\nspec = "{spec}"\n'
            f'[connections.out]\nspec = "csv:{project_dir}/out"\n'
            f'[sync]\nsources = ["{name}"]\ntargets = ["out"]\n'
        )


@pytest.fixture
def synced(cli, project_dir: Path) -> Project:
    """An mbox → CSV project, synced once: the next sync has nothing to do."""
    _mbox(project_dir / "inbox.mbox", ("petr", 1), ("jana", 2))
    _sync_to_csv(project_dir, "inbox", f"mbox:{project_dir}/inbox.mbox")
    assert cli("sync").exit_code == 0
    return Project.load(project_dir)


def _runs(project: Project) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(project.store_url.removeprefix("sqlite:///"))
    try:
        return db.execute(
            "SELECT id, command, connection, status, counts, started_at, finished_at FROM runs "
            "ORDER BY id"
        ).fetchall()
    finally:
        db.close()


def _full(project: Project) -> dict[str, Any]:
    store = Store.open(project.store_url, project.blob_root)
    try:
        return sync_all(project, store).as_dict()
    finally:
        store.close()


def _same(report: dict[str, Any], new_ids: list[int]) -> dict[str, Any]:
    """A report without what differs between any two runs: its time and run ids."""
    report = {**report, "seconds": None}
    report["imports"] = [{**r, "run_id": None} for r in report["imports"]]
    assert [r["run_id"] for r in report["imports"]] == [None] * len(new_ids)
    return report


def test_an_idle_sync_answers_and_records_as_the_full_path(synced: Project) -> None:
    before = _runs(synced)
    light = idle_sync(synced)
    assert light is not None  # nothing changed: the light path answers
    after_light = _runs(synced)
    full = _full(synced)
    after_full = _runs(synced)
    light_rows, full_rows = after_light[len(before) :], after_full[len(after_light) :]
    assert len(light_rows) == len(full_rows) == 1
    # the same row, but for its id and times (and the id inside its counts)
    (lid, *lrow, lstart, lend), (fid, *frow, fstart, fend) = light_rows[0], full_rows[0]
    lcounts, fcounts = json.loads(lrow.pop()), json.loads(frow.pop())
    assert (lcounts.pop("run_id"), fcounts.pop("run_id")) == (lid, fid)
    assert (lrow, lcounts) == (frow, fcounts)
    assert len(lstart) == len(fstart) and len(lend) == len(fend)  # the same stored format
    assert lstart <= lend < fstart
    assert light.as_dict()["imports"][0]["run_id"] == lid
    assert _same(light.as_dict(), [lid]) == _same(full, [fid])
    assert light.summary().rsplit(" (", 1)[0] == "sync: inbox +0 new, 0 changed; out: up to date"


def test_the_cli_prints_the_same_line_and_json_either_way(
    cli, synced: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    light = cli("--json", "sync")
    monkeypatch.setattr("deskmove.syncplan.idle_sync", lambda *_a, **_k: None)
    full = cli("--json", "sync")
    assert light.exit_code == full.exit_code == 0
    a, b = json.loads(light.output), json.loads(full.output)
    assert _same(a, [1]) == _same(b, [1])
    assert a["imports"][0]["run_id"] + 1 == b["imports"][0]["run_id"]


def _keep_mtime(path: Path, change) -> None:  # noqa: ANN001
    st = path.stat()
    change()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_same_size_rewrite_in_the_same_second_is_not_missed(cli, synced: Project) -> None:
    """Size and time cannot prove a file unchanged: the light path reads what the full one
    reads before it (the saved offset's hashes) and so sees the rewrite."""
    path = synced.root / "inbox.mbox"
    size = path.stat().st_size
    _keep_mtime(path, lambda: _mbox(path, ("petr", 1), ("jaxa", 2)))
    assert path.stat().st_size == size
    before = _runs(synced)
    assert idle_sync(synced) is None
    assert _runs(synced) == before  # it wrote nothing: the full path does it all
    out = cli("sync")
    assert out.exit_code == 0
    assert "inbox +1 new" in out.output


def test_an_append_with_the_old_time_is_not_missed(cli, synced: Project) -> None:
    path = synced.root / "inbox.mbox"
    text = path.read_text(encoding="utf-8")
    _keep_mtime(path, lambda: path.write_text(text + MAIL.format(who="eva", n=3), "utf-8"))
    assert idle_sync(synced) is None
    assert "inbox +1 new" in cli("sync").output


def test_a_run_a_kill_left_running_takes_the_full_path(cli, synced: Project) -> None:
    db = sqlite3.connect(synced.store_url.removeprefix("sqlite:///"))
    with db:
        db.execute("UPDATE runs SET status = 'running' WHERE id = (SELECT max(id) FROM runs)")
    db.close()
    assert idle_sync(synced) is None
    assert cli("sync").exit_code == 0
    assert [r[3] for r in _runs(synced)].count("interrupted") == 1


def test_a_killed_runs_holder_in_the_lock_file_takes_the_full_path(cli, synced: Project) -> None:
    holder = {"pid": 999999, "host": "h", "command": "sync", "started_at": "2026-01-01"}
    (synced.root / "deskmove.lock").write_text(json.dumps(holder), encoding="utf-8")
    assert idle_sync(synced) is None
    assert (synced.root / "deskmove.lock").read_text(encoding="utf-8") == json.dumps(holder)
    out = cli("--json", "sync")
    assert json.loads(out.output)["recovered_from"] == [
        "deskmove (sync) pid 999999 on h, since 2026-01-01"
    ]


def test_pending_pushes_take_the_full_path(cli, synced: Project) -> None:
    db = sqlite3.connect(synced.store_url.removeprefix("sqlite:///"))
    with db:
        db.execute("DELETE FROM sync_state WHERE connection = 'out'")  # never pushed
    db.close()
    assert idle_sync(synced) is None
    out = cli("sync")
    assert "out: pushed" in out.output


def test_a_dry_run_or_a_source_without_a_probe_takes_the_full_path(
    cli, synced: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_a: Any, **_k: Any) -> None:
        raise AssertionError("not for a dry run")

    monkeypatch.setattr("deskmove.syncplan.idle_sync", refuse)
    assert "dry run" in cli("sync", "--dry-run").output
    monkeypatch.undo()
    monkeypatch.setattr("deskmove.sources.mbox.MboxSource.nothing_new", lambda *_a: False)
    assert idle_sync(synced) is None


def test_a_maildir_file_with_the_saved_time_but_a_new_name_is_not_missed(
    cli, project_dir: Path
) -> None:
    box = project_dir / "box"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "cur" / "1.eml:2,S").write_text(MAIL.format(who="petr", n=1), encoding="utf-8")
    _sync_to_csv(project_dir, "box", f"maildir:{box}")
    assert cli("sync").exit_code == 0
    project = Project.load(project_dir)
    assert idle_sync(project) is not None
    first = box / "cur" / "1.eml:2,S"
    second = box / "cur" / "2.eml:2,S"
    second.write_text(MAIL.format(who="jana", n=2), encoding="utf-8")
    st = first.stat()
    os.utime(second, ns=(st.st_atime_ns, st.st_mtime_ns))  # the very same mtime
    assert idle_sync(project) is None
    assert "box +1 new" in cli("sync").output


def test_a_source_kind_without_a_probe_is_not_even_checked_twice(
    synced: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMAP, REST, CSV sources have no cheap probe: the light path gives up before their
    check (which may be a network round trip) and before the lock and the store."""
    from deskmove.sources.base import Source

    def no_check(*_a: Any) -> None:
        raise AssertionError("checked by the light path")

    monkeypatch.setattr("deskmove.sources.mbox.MboxSource.nothing_new", Source.nothing_new)
    monkeypatch.setattr("deskmove.sources.mbox.MboxSource.check", no_check)
    monkeypatch.setattr("deskmove.store.quick.idle_sync", no_check)
    assert idle_sync(synced) is None
