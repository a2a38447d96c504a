"""The csv target verifies, rolls back and takes samples like any other target."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.csvhelp import EXAMPLES, canonical_folder, message_row, ticket_row
from tests.test_rollback import run_undo

HELPDESK = f"csv:{EXAMPLES / 'helpdesk'}"


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))[1:]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def write_rows(path: Path, header_and_rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerows(header_and_rows)


def test_a_sample_into_a_new_folder_is_undone_by_its_printed_command(cli, tmp_path):
    out = tmp_path / "out"
    result = cli("--json", "migrate", HELPDESK, f"csv:{out}", "--sample", "5")
    assert result.exit_code == 0, result.stderr
    sample = json.loads(result.stdout)["sample"]
    chosen = {str(t) for t in sample["tickets"]}
    assert {r[0] for r in rows(out / "tickets.csv")} == chosen
    messages = rows(out / "messages.csv")
    assert messages and {r[1] for r in messages} == chosen
    authors = {r[4] for r in messages if r[4]}
    people = rows(out / "people.csv")
    assert authors <= {r[0] for r in people} | {e for r in people for e in r[5].split()}
    assert len(people) < 53  # only the people these tickets need

    undo = run_undo(cli, sample["undo"])
    assert undo.exit_code == 0, undo.stderr
    assert "deleted" in undo.stdout and "nothing" not in undo.stdout
    assert not out.exists()  # as before the sample
    again = cli("rollback", f"csv:{out}", "--yes")
    assert again.exit_code == 0 and "deleted nothing" in again.stdout


def test_a_sample_into_an_earlier_export_and_its_undo_leave_it_byte_for_byte(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("migrate", HELPDESK, f"csv:{out}").exit_code == 0
    before = tree(out)
    later = canonical_folder(
        tmp_path / "later",
        [ticket_row("n1", "=1+1 objednávka", created_at="2030-01-02T10:00:00+01:00")],
        [
            message_row(
                "n1-1",
                "n1",
                "Zboží nedorazilo",
                created_at="2030-01-02T10:00:00+01:00",
                author_email="nova@zakaznice.cz",
            )
        ],
    )
    result = cli("--json", "migrate", f"csv:{later}", f"csv:{out}", "--sample", "4")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["export"]["kinds"]["ticket"]["created"] == 1  # the new ticket, the newest
    assert len(rows(out / "tickets.csv")) == 321
    assert rows(out / "tickets.csv")[-1][3] == "'=1+1 objednávka"  # escaped once, not twice
    assert "nova@zakaznice.cz" in {r[0] for r in rows(out / "people.csv")}
    assert cli("verify", f"csv:{out}").exit_code == 0  # every ticket of the store is there

    undo = run_undo(cli, data["sample"]["undo"])
    assert undo.exit_code == 0, undo.stderr
    assert tree(out) == before


def test_verify_compares_the_folder_with_the_store(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("migrate", HELPDESK, f"csv:{out}").exit_code == 0
    ok = cli("verify", f"csv:{out}")
    assert ok.exit_code == 0, ok.stderr
    assert "320 migrated, 0 changed, 0 missing, 0 failed" in ok.stdout

    tickets, messages = rows(out / "tickets.csv"), rows(out / "messages.csv")
    gone, edited = tickets[0][0], messages[-1]
    edited[8] = "2001-01-01T00:00:00Z"
    write_rows(out / "tickets.csv", [["id"] + [""] * 19] + [t for t in tickets if t[0] != gone])
    header = list(csv.reader((out / "messages.csv").open(encoding="utf-8", newline="")))[0]
    write_rows(out / "messages.csv", [header, *messages])
    report = tmp_path / "verify.json"
    bad = cli("verify", f"csv:{out}", "--report", str(report))
    assert bad.exit_code == 1
    checks = {str(c["ticket_id"]): c for c in json.loads(report.read_text())["tickets"]}
    assert checks[gone]["status"] == "missing"
    assert checks[edited[1]]["status"] == "changed"
    assert "written" in checks[edited[1]]["problems"][0]


def test_rollback_of_one_export_run_removes_only_its_rows(cli, tmp_path):
    out = tmp_path / "out"
    assert cli("migrate", HELPDESK, f"csv:{out}").exit_code == 0
    before = tree(out)
    later = canonical_folder(
        tmp_path / "later",
        [ticket_row("n1", "Reklamace")],
        [message_row("n1-1", "n1", author_email="nova@zakaznice.cz")],
    )
    result = cli("--json", "migrate", f"csv:{later}", f"csv:{out}")
    assert result.exit_code == 0, result.stderr
    runs = json.loads(cli("--json", "status").stdout)["runs"]
    last = max(r["id"] for r in runs if r["command"] == "export")
    done = cli("rollback", f"csv:{out}", "--run", str(last), "--yes")
    assert done.exit_code == 0, done.stderr
    assert "deleted 2 persons, 1 tickets" in done.stdout  # the message went with its ticket
    assert tree(out) == before
    everything = cli("rollback", f"csv:{out}", "--yes")
    assert everything.exit_code == 0 and not out.exists()
    again = cli("--json", "export", f"csv:{out}")
    assert json.loads(again.stdout)["kinds"]["ticket"]["created"] == 321


def test_a_sample_into_a_relative_folder_is_undone_from_another_folder(cli, tmp_path, monkeypatch):
    # The folder typed relative to where the sample ran: its undo must name the same folder
    # wherever it is run from, and say what it deleted, the messages included.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = cli("--json", "migrate", HELPDESK, "csv:out?formulas=raw", "--sample", "3")
    assert result.exit_code == 0, result.stderr
    undo_line = json.loads(result.stdout)["sample"]["undo"]
    assert f"csv:{work / 'out'}" in undo_line
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    undo = run_undo(cli, undo_line)
    assert undo.exit_code == 0, undo.stderr
    assert "messages" in undo.stdout and "nothing" not in undo.stdout
    assert not (work / "out").exists()


def test_the_printed_undo_names_the_program_when_it_is_not_on_path(monkeypatch, tmp_path):
    # `.venv/bin/deskmove migrate … --sample 20` without the venv on PATH: a bare
    # `deskmove` in the undo would not run.
    import sys

    from deskmove.cli import undo_command

    prog = tmp_path / ".venv" / "bin" / "deskmove"
    prog.parent.mkdir(parents=True)
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(prog), "migrate"])
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert undo_command(tmp_path, "csv:/x", 3).startswith(f"{prog} --project ")
    monkeypatch.setenv("PATH", str(prog.parent))
    assert undo_command(tmp_path, "csv:/x", 3).startswith("deskmove --project ")


def test_after_a_sample_verify_pushed_checks_the_sample_and_a_full_verify_stays_short(
    cli, tmp_path
):
    out = tmp_path / "out"
    result = cli("--json", "migrate", HELPDESK, f"csv:{out}", "--sample", "5")
    assert result.exit_code == 0, result.stderr
    chosen = set(json.loads(result.stdout)["sample"]["tickets"])

    only = cli("--json", "verify", f"csv:{out}", "--pushed")
    assert only.exit_code == 0, only.output
    data = json.loads(only.stdout)
    assert data["counts"]["migrated"] == 5 and data["ok"]
    assert {t["ticket_id"] for t in data["tickets"]} == chosen

    full = cli("verify", f"csv:{out}")
    assert full.exit_code == 1
    lines = [line for line in full.stdout.splitlines() if line.startswith("  ")]
    total = json.loads(cli("--json", "status").stdout)["totals"]["tickets"]
    assert len(lines) == 11 and sum("never pushed" in line for line in lines) == 11
    assert lines[-1].startswith(f"  … and {total - 5 - 10:,} more tickets never pushed")
    assert "verify --pushed" in lines[-1]
