"""Small blobs are rows of the store's ``blobs`` table, large ones files; readers find both,
also the files a store wrote before the table existed; a killed import leaves none missing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import warnings
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from deskmove.blobs import INLINE_MAX, BlobStore
from deskmove.config import Project, init_project
from deskmove.mail import parallel
from tests.launch import Launcher

SUPPORT = '[mail]\nsupport_addresses = ["support@shop.example"]\n'
SMALL = "Příloha: žluťoučký kůň úpěl ďábelské ódy.\n".encode() * 300  # ~14 KB
BIG = os.urandom(INLINE_MAX + 50_000)


def _rows(store) -> dict[str, bytes]:
    with store.begin() as conn:
        return {s: bytes(d) for s, d in conn.execute(sa.text("SELECT sha256, data FROM blobs"))}


def _files(root: Path) -> set[str]:
    return {p.parent.name + p.name for p in root.glob("??/*") if not p.name.startswith(".")}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_small_blobs_are_rows_large_ones_files_both_read_back(any_store) -> None:
    small = any_store.blobs.put(SMALL)
    big = any_store.blobs.put(BIG)
    streamed_small, n_small = any_store.blobs.put_stream(io.BytesIO(SMALL[:5000]))
    streamed_big, n_big = any_store.blobs.put_stream(io.BytesIO(BIG[::-1]))
    assert any_store.blobs.put(SMALL) == small  # content-addressed: once
    rows = _rows(any_store)
    assert set(rows) == {small, streamed_small} and rows[small] == SMALL
    assert _files(any_store.blobs.root) == {big, streamed_big}
    assert (n_small, n_big) == (5000, len(BIG))
    for sha, data in [(small, SMALL), (big, BIG), (streamed_big, BIG[::-1])]:
        assert any_store.blobs.get(sha) == data
        with any_store.blobs.open(sha) as f:
            assert f.read() == data
        assert any_store.blobs.exists(sha) and any_store.blobs.size(sha) == len(data)
    missing = "0" * 64
    assert not any_store.blobs.exists(missing) and any_store.blobs.size(missing) is None
    with pytest.raises(FileNotFoundError):
        any_store.blobs.open(missing)


def test_a_store_whose_blobs_are_files_still_reads_them(store, project) -> None:
    old = BlobStore(project.blob_root)  # how every blob was written before the table
    sha = old.put(SMALL)
    assert _rows(store) == {} and _files(project.blob_root) == {sha}
    assert store.blobs.get(sha) == SMALL and store.blobs.size(sha) == len(SMALL)
    with store.blobs.open(sha) as f:
        assert f.read() == SMALL


def _mbox(path: Path, count: int = 30) -> Path:
    out = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = f"Zákazník {i} <z{i}@example.cz>"
        msg["To"] = "support@shop.example"
        msg["Subject"] = f"Objednávka č. {i}"
        msg["Message-ID"] = f"<m{i}@example.cz>"
        msg["Date"] = f"Mon, 03 Mar 2025 09:{i % 60:02d}:00 +0100"
        msg.set_content("Dobrý den, posílám fakturu.\n" * (1 + i % 5))
        if i % 3 == 0:
            msg.add_attachment(
                SMALL + bytes([i]), maintype="text", subtype="plain", filename="a.txt"
            )
        if i == 7:
            msg.add_attachment(BIG, maintype="application", subtype="pdf", filename="velká.pdf")
        out.append(b"From z@example.cz Mon Mar  3 09:00:00 2025\n" + msg.as_bytes() + b"\n")
    out.append(b"From z@example.cz Mon Mar  3 09:00:00 2025\nthis is not a mail at all\n\n")
    path.write_bytes(b"".join(out))
    return path


def _import(root: Path, box: Path):
    from deskmove.sync import import_source, open_store

    project = Project.load(root)
    store = open_store(project)
    report = import_source(project, store, f"mbox:{box}")
    return project, store, report


def _referenced(store) -> tuple[list[str], list[tuple[str, int]], list[str]]:
    with store.begin() as conn:
        raws = list(conn.execute(sa.text("SELECT raw_sha256 FROM messages")).scalars())
        atts = [tuple(r) for r in conn.execute(sa.text("SELECT sha256, size FROM attachments"))]
        kept = list(conn.execute(sa.text("SELECT raw_sha256 FROM quarantine")).scalars())
    return raws, atts, kept


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_mail_import_puts_raw_mails_and_small_attachments_in_the_table(
    tmp_path: Path, monkeypatch, workers: str
) -> None:
    monkeypatch.setenv(parallel.WORKERS_ENV, workers)
    monkeypatch.delenv("DESKMOVE_DATABASE_URL", raising=False)
    box = _mbox(tmp_path / "in.mbox")
    root = tmp_path / "p"
    init_project(root)
    (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    _project, store, report = _import(root, box)
    try:
        assert report.as_dict()["read"] == 31 and report.as_dict()["quarantined"] == 1
        raws, atts, kept = _referenced(store)
        rows = _rows(store)
        big_raw = [s for s in raws if s not in rows]
        assert len(raws) == 30 and len(big_raw) == 1  # only the mail holding BIG is a file
        assert _files(store.blobs.root) == {big_raw[0], _sha(BIG)}
        assert {s for s, _n in atts} == {_sha(BIG)} | {
            _sha(SMALL + bytes([i])) for i in range(0, 30, 3)
        }
        assert set(rows) == (set(raws) - set(big_raw)) | {
            s for s, _n in atts if s != _sha(BIG)
        } | set(kept)
        assert rows[kept[0]] == b"this is not a mail at all\n"
        for sha, size in atts:
            data = store.blobs.get(sha)
            assert _sha(data) == sha and len(data) == size
        text = box.read_bytes()
        for sha in raws:
            assert store.blobs.get(sha) in text and _sha(store.blobs.get(sha)) == sha
    finally:
        store.close()


def test_the_workspace_serves_blobs_from_the_table_and_from_files(project, store) -> None:
    from deskmove.store import workspace as ws
    from deskmove.web.app import create_app
    from deskmove.web.auth import hash_password
    from tests.webhelp import PASSWORD, RAW_MAIL, seed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    ids = seed(store)
    assert _rows(store) and not _files(project.blob_root)  # seed's blobs are rows
    ws.add_user(store, email="eva@shop.example", password_hash=hash_password(PASSWORD))
    old = BlobStore(project.blob_root).put(BIG)  # a file, as an older store has them
    with store.begin() as conn:
        aid = conn.execute(
            sa.text(
                "INSERT INTO attachments (message_id, filename, content_type, size, sha256, inline) "
                "VALUES (:m, 'stara.pdf', 'application/pdf', :n, :s, false) RETURNING id"
            ),
            {"m": ids["m1"], "n": len(BIG), "s": old},
        ).scalar()
    c = TestClient(create_app(project, store))
    page = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    c.post("/login", data={"email": "eva@shop.example", "password": PASSWORD, "csrf": token})
    raw = c.get(f"/messages/{ids['m1']}/raw")
    assert raw.status_code == 200 and raw.content == RAW_MAIL
    assert raw.headers["content-length"] == str(len(RAW_MAIL))
    got = c.get(f"/attachments/{aid}")
    assert got.status_code == 200 and got.content == BIG
    assert got.headers["content-length"] == str(len(BIG))


def test_csv_export_copies_attachments_from_the_table_and_from_files(
    tmp_path: Path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from deskmove.cli import app

    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    monkeypatch.delenv("DESKMOVE_DATABASE_URL", raising=False)
    box = _mbox(tmp_path / "in.mbox", 10)
    root = tmp_path / "p"
    init_project(root)
    (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    result = CliRunner().invoke(app, ["--project", str(root), "import", f"mbox:{box}"])
    assert result.exit_code == 3, result.output
    out = tmp_path / "export"
    result = CliRunner().invoke(app, ["--project", str(root), "export", f"csv:{out}"])
    assert result.exit_code == 0, result.output
    import csv

    with (out / "attachments.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["sha256"] for r in rows} >= {_sha(BIG), _sha(SMALL + bytes([0]))}
    for r in rows:
        assert _sha((out / r["path"]).read_bytes()) == r["sha256"]


@pytest.mark.timeout(300)
def test_a_killed_mbox_import_rerun_has_every_blob_and_none_orphaned(tmp_path: Path) -> None:
    box = _mbox(tmp_path / "in.mbox", 120)
    env = {**os.environ, parallel.WORKERS_ENV: "2"}
    env.pop("DESKMOVE_DATABASE_URL", None)
    runs = Launcher(preload="import deskmove.sources.mbox as m; m.BATCH_MAILS = 20")
    try:
        root = tmp_path / "p"
        init_project(root)
        (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
        killed = runs.run(
            ["--project", str(root), "import", f"mbox:{box}"],
            env={**env, "DESKMOVE_CRASH_AT": "ingest:5"},  # before batch 3, 4-5 being parsed
        )
        assert killed.returncode == -signal.SIGKILL
        again = runs.run(["--project", str(root), "--json", "import", f"mbox:{box}"], env=env)
        assert again.returncode == 3, again.stderr
        assert json.loads(again.stdout)["read"] < 121  # it resumed after the committed batches
    finally:
        runs.close()
    from deskmove.sync import open_store

    store = open_store(Project.load(root))
    try:
        raws, atts, kept = _referenced(store)
        assert len(raws) == 120 and len(kept) == 1
        for sha in [*raws, *kept, *(s for s, _n in atts)]:
            assert _sha(store.blobs.get(sha)) == sha
        named = set(raws) | set(kept) | {s for s, _n in atts}
        assert set(_rows(store)) <= named  # no row that nothing names
    finally:
        store.close()
