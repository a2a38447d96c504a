"""The deskmove command through CliRunner: output, exact errors and exit codes, --help."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from deskmove.cli import app
from tests.csvhelp import EXAMPLES, TICKET_HEADER, ticket_row, write_csv

HELPDESK = EXAMPLES / "helpdesk"


def no_traceback(result) -> None:
    assert "Traceback" not in result.output and "Traceback" not in (result.stderr or "")


def test_init_creates_the_project_file_and_store(cli, tmp_path):
    root = tmp_path / "migration"
    res = cli("init", str(root))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"Initialised {root / 'deskmove.toml'} (store: sqlite:///")
    assert (root / "deskmove.toml").is_file() and (root / "deskmove.db").is_file()


def test_import_then_again_then_status(cli):
    first = cli("import", f"csv:{HELPDESK}")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(
        f"csv:{HELPDESK}: read 1524 = 1524 imported (1524 new, 0 changed)"
    )
    assert "tickets.csv: utf-8, delimiter ','" in first.stderr
    again = cli("import", f"csv:{HELPDESK}")
    assert again.stdout.strip() == (
        f"csv:{HELPDESK}: read 1524 = 0 imported (0 new, 0 changed) + 1524 unchanged + 0 quarantined"
    )
    status = cli("status")
    assert status.exit_code == 0
    assert "320 tickets, 1060 messages" in status.stdout
    data = json.loads(cli("--json", "status").stdout)
    assert data["totals"]["tickets"] == 320 and data["totals"]["attachments"] == 135


def test_global_options_go_before_the_command(cli, project_dir):
    res = cli("--json", "import", f"csv:{HELPDESK}")
    data = json.loads(res.stdout)
    assert data["read"] == data["imported"] + data["unchanged"] + data["quarantined"] == 1524
    assert data["by_kind"]["ticket"]["new"] == 320
    quiet = cli("--quiet", "import", f"csv:{HELPDESK}")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    after = cli("import", f"csv:{HELPDESK}", "--json")  # after the command works as well
    assert after.exit_code == 0 and json.loads(after.stdout)["unchanged"] == 1524


def test_quarantine_exits_3_and_says_so(cli, tmp_path):
    path = write_csv(
        tmp_path / "t.csv", TICKET_HEADER, [ticket_row("1"), ticket_row("2", created_at="včera")]
    )
    res = cli("import", f"csv:{path}")
    assert res.exit_code == 3
    assert (
        res.stdout.strip()
        == f"csv:{path}: read 2 = 1 imported (1 new, 0 changed) + 0 unchanged + 1 quarantined"
    )
    status = cli("status").stdout
    assert "1 × bad date in created_at: 'včera' is not an ISO 8601 timestamp" in status


def test_export_then_again(cli, tmp_path):
    cli("import", f"csv:{HELPDESK}")
    out = tmp_path / "out"
    res = cli("export", f"csv:{out}")
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"csv:{out}: pushed 1524 created, 0 updated, 0 unchanged, 0 failed"
    again = cli("export", f"csv:{out}")
    assert (
        again.stdout.strip() == f"csv:{out}: pushed 0 created, 0 updated, 1524 unchanged, 0 failed"
    )
    dry = cli("export", f"csv:{tmp_path / 'other'}", "--dry-run")
    assert dry.stdout.startswith(f"csv:{tmp_path / 'other'}: would push 1524 created")
    assert not (tmp_path / "other").exists()


def test_the_quickstart_command(tmp_path, monkeypatch):
    (tmp_path / "examples").symlink_to(EXAMPLES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DESKMOVE_DATABASE_URL", raising=False)
    init = CliRunner().invoke(app, ["init", "demo"])
    assert init.exit_code == 0, init.output
    res = CliRunner().invoke(
        app, ["--project", "demo", "migrate", "csv:examples/helpdesk", "csv:demo/export"]
    )
    assert res.exit_code == 0, res.output
    assert "read 1524 = 1524 imported" in res.stdout and "pushed 1524 created" in res.stdout
    assert (tmp_path / "demo/export/tickets.csv").is_file()


def test_adapters_list_shows_csv_both_ways(cli):
    res = cli("adapters", "list")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert any(line.split()[:3] == ["source", "csv", "code"] for line in lines)
    assert any(line.split()[:3] == ["target", "csv", "code"] for line in lines)
    data = json.loads(cli("--json", "adapters", "list").stdout)
    assert {"scheme": "csv", "role": "target"}.items() <= next(
        a for a in data["adapters"] if a["scheme"] == "csv" and a["role"] == "target"
    ).items()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["import", "csv:{tmp}/nowhere.csv"],
            "Error: {tmp}/nowhere.csv does not exist — check the path; csv: takes a folder in the canonical layout or a tickets CSV file",
        ),
        (
            ["import", "csv:{tmp}/utf16.csv"],
            "Error: utf16.csv is UTF-16, which the csv source does not read — save it as UTF-8 (or pass ?encoding=NAME)",
        ),
        (
            ["import", "csv:{tmp}/binary.csv"],
            "Error: binary.csv does not look like a text file — check the path; give a CSV file",
        ),
        (
            ["import", "csv:{tmp}/t.csv?mapping=nope"],
            "Error: unknown mapping 'nope' — valid mappings: ",
        ),
        (
            ["import", "csv:{tmp}/t.csv?mapping={tmp}/bad.yaml"],
            "Error: {tmp}/bad.yaml: columns: unknown field 'subjekt'; valid fields: id, subject,",
        ),
        (
            ["import", "csv:{tmp}/t.csv?mapping={tmp}/broken.yaml"],
            "Error: {tmp}/broken.yaml: line 3 is not valid YAML — fix the line it names",
        ),
        (
            ["import", "nonsense"],
            "Error: 'nonsense' is neither a connection in deskmove.toml nor a spec",
        ),
        (
            ["export", "csv:{tmp}/t.csv"],
            "Error: {tmp}/t.csv is a file — the csv target writes a folder: give a folder path",
        ),
    ],
    ids=[
        "missing-file",
        "utf16",
        "unreadable-encoding",
        "unknown-mapping",
        "bad-mapping-key",
        "broken-yaml",
        "not-a-spec",
        "export-onto-a-file",
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(cli, tmp_path, args, expected):
    write_csv(tmp_path / "t.csv", TICKET_HEADER, [ticket_row("1")])
    (tmp_path / "utf16.csv").write_bytes("id,subject\n".encode("utf-16"))
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "bad.yaml").write_text("name: bad\ncolumns: {subjekt: Subject}\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("name: x\ncolumns: {id: [\n", encoding="utf-8")
    res = cli(*[a.format(tmp=tmp_path) for a in args])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(expected.format(tmp=tmp_path)), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    no_traceback(res)


def test_a_bad_project_file_is_exit_2(cli, project_dir):
    (project_dir / "deskmove.toml").write_text("[store\nurl = 1\n", encoding="utf-8")
    res = cli("status")
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: {project_dir / 'deskmove.toml'} is not valid TOML")
    assert res.stderr.rstrip().endswith("fix the line it names and run again")
    no_traceback(res)


def _commands(group: Any, path: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):  # a sub-app (typer's groups are not always click.Group)
            yield path + (name,), True
            yield from _commands(cmd, path + (name,))
        else:
            yield path + (name,), False


ALL = list(_commands(typer.main.get_command(app)))


def test_every_command_is_walked():
    names = {" ".join(p) for p, _g in ALL}
    assert {"init", "import", "export", "migrate", "status", "adapters list"} <= names


@pytest.mark.parametrize(("path", "is_group"), ALL, ids=[" ".join(p) for p, _g in ALL])
def test_every_command_has_help_with_an_example(path, is_group):
    res = CliRunner().invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.stdout
    if not is_group:
        assert "Example:" in res.stdout, (
            f"`deskmove {' '.join(path)} --help` shows no Example: block"
        )
        example = res.stdout.split("Example:", 1)[1]
        assert f"deskmove {path[0]}" in example or "deskmove --" in example
