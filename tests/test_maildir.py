"""maildir: and eml: sources: folders, flags, renames, re-runs, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.mailhelp import at, mail

SUPPORT = '[mail]\nsupport_addresses = ["support@shop.example"]\n'


@pytest.fixture
def cli_support(project_dir: Path, cli):
    (project_dir / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    return cli


def rows(project_dir: Path, sql: str) -> list:
    engine = sa.create_engine(f"sqlite:///{project_dir / 'deskmove.db'}")
    with engine.connect() as c:
        out = list(c.execute(sa.text(sql)))
    engine.dispose()
    return out


def report(cli, spec: str) -> tuple[int, dict]:
    result = cli("--json", "import", spec)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code in (0, 3), result.stderr
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def make_maildir(root: Path) -> Path:
    for folder in (root, root / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    question = mail(mid="<q@example.cz>", date=at(0))
    answer = mail(
        frm="support@shop.example",
        to="jan@example.cz",
        subject="Re: Objednávka",
        mid="<a@shop.example>",
        refs="<q@example.cz>",
        date=at(20),
    )
    (root / "new" / "1700000000.M1P1.host").write_bytes(question)
    (root / ".Sent" / "cur" / "1700000100.M2P1.host:2,S").write_bytes(answer)
    (root / "cur" / "1700000200.M3P1.host:2,ST").write_bytes(mail(mid="<t@example.cz>"))
    for i, path in enumerate(sorted(root.rglob("*.host*"))):
        os.utime(path, (1700000000 + 1000 * i, 1700000000 + 1000 * i))  # delivered long ago
    return root


def test_maildir_folders_threads_and_trashed(tmp_path, project_dir, cli_support):
    root = make_maildir(tmp_path / "Maildir")
    code, rep = report(cli_support, f"maildir:{root}")
    assert code == 3 and rep["read"] == 3 and rep["new"] == 2 and rep["quarantined"] == 1
    reasons = [r[0] for r in rows(project_dir, "select reason from quarantine")]
    assert reasons == ["marked as deleted in the Maildir (T flag), kept here instead of imported"]
    msgs = rows(
        project_dir, "select direction, headers, ticket_id from messages order by created_at"
    )
    assert [m.direction for m in msgs] == ["inbound", "outbound"]
    assert [json.loads(m.headers)["folder"] for m in msgs] == ["INBOX", "Sent"]
    assert msgs[0].ticket_id == msgs[1].ticket_id


def test_maildir_rerun_and_flag_rename_change_nothing(tmp_path, project_dir, cli_support):
    root = make_maildir(tmp_path / "Maildir")
    report(cli_support, f"maildir:{root}")
    new = root / "new" / "1700000000.M1P1.host"
    moved = root / "cur" / "1700000000.M1P1.host:2,S"  # a mail client read it: new/ -> cur/ + flag
    os.rename(new, moved)
    code, rep = report(cli_support, f"maildir:{root}?full=1")
    assert rep["new"] == 0 and rep["read"] == 3
    assert rows(project_dir, "select count(*) from messages")[0][0] == 2
    # a new delivery is read on the next run; older files are not read again
    later = root / "new" / "1800000000.M9P1.host"
    later.write_bytes(mail(mid="<n@example.cz>", subject="Jiný dotaz", date=at(90)))
    code, rep = report(cli_support, f"maildir:{root}")
    assert rep["new"] == 1 and rep["read"] == 1


def test_eml_folder_and_single_file(tmp_path, project_dir, cli_support):
    folder = tmp_path / "export"
    (folder / "2024").mkdir(parents=True)
    (folder / "2024" / "a.eml").write_bytes(mail(mid="<e1@example.cz>"))
    (folder / "b.eml").write_bytes(mail(mid="<e2@example.cz>", subject="Faktura", date=at(9)))
    (folder / "notes.txt").write_text("not a mail")
    code, rep = report(cli_support, f"eml:{folder}")
    assert code == 0 and rep["read"] == 2 and rep["new"] == 2
    single = tmp_path / "one.eml"
    single.write_bytes(mail(mid="<e3@example.cz>", subject="Jedna", date=at(30)))
    code, rep = report(cli_support, f"eml:{single}")
    assert code == 0 and rep["new"] == 1


def test_eml_empty_file_is_quarantined(tmp_path, project_dir, cli_support):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "empty.eml").write_bytes(b"")
    code, rep = report(cli_support, f"eml:{folder}")
    assert code == 3 and rep["quarantined"] == 1
    assert rows(project_dir, "select reason from quarantine")[0][0] == "empty message"


def test_bad_paths_are_clear_errors(tmp_path, cli_support):
    (tmp_path / "plain").mkdir()
    result = cli_support("import", f"maildir:{tmp_path / 'plain'}")
    assert result.exit_code == 2 and "not a Maildir" in result.stderr
    result = cli_support("import", f"eml:{tmp_path / 'nowhere'}")
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")
