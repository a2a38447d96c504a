"""`deskmove quarantine list|show|retry|drop`, and `status` counting open items only."""

from __future__ import annotations

import csv
import io
import json
import mailbox
from pathlib import Path

from tests.csvhelp import EXAMPLES, TICKET_HEADER, ticket_row, write_csv

ZENDESK_CSV = EXAMPLES / "exports" / "zendesk-tickets.csv"


def _archived_export(tmp_path: Path) -> tuple[Path, int, bytes]:
    """A few rows of the Zendesk export, one in a status the shipped mapping does not know."""
    with ZENDESK_CSV.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))[:6]
    rows[3][rows[0].index("Status")] = "Archived"

    def encode(some: list[list[str]]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(some)
        return buf.getvalue().encode("utf-8")

    before = encode(rows[:3])
    path = tmp_path / "zendesk.csv"
    path.write_bytes(encode(rows))
    return path, before.count(b"\n") + 1, encode([rows[3]])


def _mapping_with_archived(tmp_path: Path) -> Path:
    text = (EXAMPLES.parent / "mappings" / "zendesk-csv.yaml").read_text(encoding="utf-8")
    text = text.replace("    Closed: closed\n", "    Closed: closed\n    Archived: closed\n", 1)
    path = tmp_path / "fixed.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_fixed_mapping_brings_the_row_in_and_it_leaves_the_quarantine(cli, tmp_path):
    export, line, raw = _archived_export(tmp_path)
    mapping = tmp_path / "my.yaml"
    mapping.write_text(
        (EXAMPLES.parent / "mappings" / "zendesk-csv.yaml").read_text(encoding="utf-8")
    )
    spec = f"csv:{export}?mapping={mapping}"
    first = cli("import", spec)
    assert first.exit_code == 3, first.output
    status = cli("status").stdout
    assert f"zendesk.csv line {line}" in status and "unknown status 'Archived'" in status

    listed = json.loads(cli("quarantine", "list", "--json").stdout)["items"]
    assert len(listed) == 1
    item = listed[0]
    assert item["reference"] == f"zendesk.csv line {line}"
    assert item["reason"].startswith("unknown status 'Archived'")
    assert item["source"] == f"csv:{export}" and item["when"] and item["state"] == "open"
    human = cli("quarantine", "list").stdout
    assert (
        f"#{item['id']}" in human and f"zendesk.csv line {line}: unknown status 'Archived'" in human
    )

    shown = cli("quarantine", "show", str(item["id"]))
    assert shown.exit_code == 0 and shown.stdout_bytes == raw

    still = cli("quarantine", "retry")  # nothing fixed yet: it stays, with exit 3
    assert still.exit_code == 3
    assert f"  #{item['id']} zendesk.csv line {line}: unknown status 'Archived'" in still.stdout
    assert still.stdout.strip().endswith("retried 1: 0 imported, 1 still quarantined (run #2)")

    mapping.write_text(_mapping_with_archived(tmp_path).read_text(encoding="utf-8"))
    fixed = cli("quarantine", "retry", str(item["id"]))
    assert fixed.exit_code == 0, fixed.output
    assert "retried 1: 1 imported, 0 still quarantined" in fixed.stdout
    data = json.loads(cli("--json", "status").stdout)
    assert data["totals"]["quarantined"] == 0
    assert "Quarantined: nothing open" in cli("status").stdout
    assert json.loads(cli("quarantine", "list", "--json").stdout)["items"] == []
    kept = json.loads(cli("quarantine", "list", "--all", "--json").stdout)["items"]
    assert [i["state"] for i in kept] == ["imported"]
    again = cli("import", spec)  # the re-import finds the ticket already there
    assert again.exit_code == 0 and "0 quarantined" in again.stdout


def test_re_importing_with_a_fixed_mapping_empties_the_quarantine(cli, tmp_path):
    export, _line, _raw = _archived_export(tmp_path)
    assert cli("import", f"csv:{export}?mapping=zendesk-csv").exit_code == 3
    fixed = _mapping_with_archived(tmp_path)
    res = cli("import", f"csv:{export}?mapping={fixed}")
    assert res.exit_code == 0, res.output
    assert json.loads(cli("--json", "status").stdout)["totals"]["quarantined"] == 0
    (kept,) = json.loads(cli("quarantine", "list", "--all", "--json").stdout)["items"]
    assert kept["state"] == "imported" and kept["note"].startswith("imported by run #")


def test_drop_keeps_the_item_as_reviewed_with_the_reason(cli, tmp_path):
    path = write_csv(
        tmp_path / "t.csv", TICKET_HEADER, [ticket_row("1"), ticket_row("2", created_at="včera")]
    )
    assert cli("import", f"csv:{path}").exit_code == 3
    (item,) = json.loads(cli("quarantine", "list", "--json").stdout)["items"]
    assert item["reference"] == "t.csv line 3"
    no_why = cli("quarantine", "drop", str(item["id"]))
    assert no_why.exit_code == 2 and "--why" in no_why.stderr
    empty = cli("quarantine", "drop", str(item["id"]), "--why", " ")
    assert empty.exit_code == 2 and empty.stderr.startswith("Error: --why is empty")
    res = cli("quarantine", "drop", str(item["id"]), "--why", "a test ticket")
    assert (
        res.exit_code == 0 and res.stdout.strip() == "dropped 1 (kept as reviewed: a test ticket)"
    )
    assert json.loads(cli("--json", "status").stdout)["totals"]["quarantined"] == 0
    (kept,) = json.loads(cli("quarantine", "list", "--all", "--json").stdout)["items"]
    assert kept["state"] == "dropped" and kept["note"] == "a test ticket"
    twice = cli("quarantine", "drop", str(item["id"]), "--why", "again")
    assert twice.exit_code == 2
    assert twice.stderr.startswith(
        f"Error: item #{item['id']} already left the quarantine (dropped: a test ticket)"
    )
    unknown = cli("quarantine", "show", "999")
    assert unknown.exit_code == 2 and unknown.stderr.startswith("Error: no quarantined item #999")


def test_a_canonical_single_file_row_is_retried_on_its_own(cli, tmp_path):
    path = write_csv(
        tmp_path / "t.csv", TICKET_HEADER, [ticket_row("1"), ticket_row("2", status="Archived")]
    )
    assert cli("import", f"csv:{path}").exit_code == 3
    path.unlink()  # the retry reads the kept bytes, not the file
    res = cli("quarantine", "retry")
    assert res.exit_code == 3 and "t.csv line 3: unknown status 'Archived'" in res.stdout


def test_mail_is_retried_from_its_raw_bytes(cli, tmp_path):
    box = tmp_path / "support.mbox"
    mb = mailbox.mbox(box)
    deleted = mailbox.mboxMessage(
        b"From: a@example.com\nTo: support@shop.example\nSubject: old\n"
        b"Message-ID: <x1@example.com>\nX-Mozilla-Status: 0009\n\nbody\n"
    )
    mb.add(deleted)
    mb.add(
        mailbox.mboxMessage(
            b"From: b@example.com\nTo: support@shop.example\nSubject: hi\nMessage-ID: <x2@example.com>\n\nhello\n"
        )
    )
    mb.flush()
    mb.close()
    assert cli("import", f"mbox:{box}").exit_code == 3
    (item,) = json.loads(cli("quarantine", "list", "--json").stdout)["items"]
    assert item["reference"].startswith("offset:") and "deleted in Thunderbird" in item["reason"]
    res = cli("quarantine", "retry")  # still marked deleted: the same code keeps it out
    assert res.exit_code == 3 and "retried 1: 0 imported, 1 still quarantined" in res.stdout
    assert cli("quarantine", "show", str(item["id"])).stdout_bytes.startswith(
        b"From: a@example.com"
    )


def test_quarantine_commands_refuse_a_folder_with_no_project(tmp_path):
    from typer.testing import CliRunner

    from deskmove.cli import app

    res = CliRunner().invoke(app, ["--project", str(tmp_path / "x"), "quarantine", "list"])
    assert res.exit_code == 2 and res.stderr.startswith("Error: no deskmove project in")


def test_retry_uses_the_mapping_of_the_latest_import(cli, tmp_path):
    # Imported with the shipped mapping, then again with one of the admin's own: retrying
    # after fixing that file must read the row through it, not through the first one.
    export, _line, _raw = _archived_export(tmp_path)
    assert cli("import", f"csv:{export}?mapping=zendesk-csv").exit_code == 3
    mine = tmp_path / "mine.yaml"
    mine.write_text((EXAMPLES.parent / "mappings" / "zendesk-csv.yaml").read_text("utf-8"))
    assert cli("import", f"csv:{export}?mapping={mine}").exit_code == 3
    mine.write_text(_mapping_with_archived(tmp_path).read_text(encoding="utf-8"))
    fixed = cli("quarantine", "retry")
    assert fixed.exit_code == 0, fixed.output
    assert "retried 1: 1 imported, 0 still quarantined" in fixed.stdout


def test_a_row_quarantined_again_for_another_reason_is_one_open_item(cli, tmp_path):
    export, line, _raw = _archived_export(tmp_path)
    assert cli("import", f"csv:{export}?mapping=zendesk-csv").exit_code == 3
    fixed = _mapping_with_archived(tmp_path)
    with export.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    rows[3][rows[0].index("Created at")] = "včera"
    with export.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerows(rows)
    res = cli("import", f"csv:{export}?mapping={fixed}")
    assert res.exit_code == 3 and "1 quarantined" in res.stdout
    (item,) = json.loads(cli("quarantine", "list", "--json").stdout)["items"]
    assert item["reference"] == f"zendesk.csv line {line}"
    assert item["reason"].startswith("bad date 'včera'")
    assert json.loads(cli("--json", "status").stdout)["totals"]["quarantined"] == 1


def test_a_dropped_item_stays_dropped_when_the_same_row_is_imported_again(cli, tmp_path):
    path = write_csv(
        tmp_path / "t.csv", TICKET_HEADER, [ticket_row("1"), ticket_row("2", created_at="včera")]
    )
    assert cli("import", f"csv:{path}").exit_code == 3
    (item,) = json.loads(cli("quarantine", "list", "--json").stdout)["items"]
    assert cli("quarantine", "drop", str(item["id"]), "--why", "a test ticket").exit_code == 0
    again = cli("import", f"csv:{path}")  # a cron sync reads the same file again
    assert json.loads(cli("quarantine", "list", "--json").stdout)["items"] == []
    assert json.loads(cli("--json", "status").stdout)["totals"]["quarantined"] == 0
    assert again.exit_code in (0, 3)
