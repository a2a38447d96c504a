"""An admin's first hour: projects, closed pipes, global options after the command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskmove.cli import app
from tests.csvhelp import EXAMPLES

HELPDESK = EXAMPLES / "helpdesk"


def run(*args: str, cwd: Path | None = None):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


# -- item 4: only init creates a project ----------------------------------------------------
COMMANDS_NEEDING_A_PROJECT = [
    ["status"],
    ["import", f"csv:{HELPDESK}"],
    ["export", "csv:{tmp}/out"],
    ["migrate", f"csv:{HELPDESK}", "csv:{tmp}/out"],
    ["sync"],
    ["verify", "csv:{tmp}/out"],
    ["rollback", "csv:{tmp}/out", "--yes"],
    ["audit"],
    ["audit", "check", "forms"],
]


@pytest.mark.parametrize("args", COMMANDS_NEEDING_A_PROJECT, ids=lambda a: " ".join(a[:2]))
def test_every_command_but_init_refuses_a_folder_with_no_project(tmp_path, monkeypatch, args):
    monkeypatch.delenv("DESKMOVE_DATABASE_URL", raising=False)
    typo = tmp_path / "migratoin"
    argv = [a.format(tmp=tmp_path) for a in args]
    res = run("--project", str(typo), *argv)
    assert res.exit_code == 2, res.output
    assert res.stderr == f"Error: no deskmove project in {typo} — run deskmove init {typo}\n"
    assert not typo.exists() and not (tmp_path / "out").exists()


def test_a_folder_of_input_data_is_not_turned_into_a_project(tmp_path, monkeypatch):
    data = tmp_path / "helpdesk"
    data.mkdir()
    (data / "tickets.csv").write_bytes((HELPDESK / "tickets.csv").read_bytes())
    monkeypatch.chdir(tmp_path)
    res = run("--project", "helpdesk", "status")
    assert res.exit_code == 2
    assert res.stderr == (f"Error: no deskmove project in {data} — run deskmove init helpdesk\n")
    assert sorted(p.name for p in data.iterdir()) == ["tickets.csv"]


def test_the_current_folder_with_no_project_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run("status")
    assert res.exit_code == 2
    assert res.stderr == f"Error: no deskmove project in {tmp_path} — run deskmove init .\n"
    assert list(tmp_path.iterdir()) == []


def test_init_says_when_the_project_already_exists(tmp_path, monkeypatch):
    monkeypatch.delenv("DESKMOVE_DATABASE_URL", raising=False)
    root = tmp_path / "p"
    first = run("init", str(root))
    assert first.stdout.startswith("Initialised ")
    (root / "deskmove.toml").write_text("[mail]\nsupport_domains = ['shop.example']\n")
    again = run("init", str(root))
    assert again.exit_code == 0
    assert again.stdout.startswith(
        f"Already a deskmove project, nothing changed: {root / 'deskmove.toml'}"
    )
    assert "Initialised" not in again.stdout
    assert (root / "deskmove.toml").read_text() == "[mail]\nsupport_domains = ['shop.example']\n"
    assert json.loads(run("--json", "init", str(root)).stdout)["created"] is False


# -- item 8: a closed pipe ends any command quietly ---------------------------------------
CLOSED_PIPE_COMMANDS = [
    ["--help"],
    ["status"],
    ["--json", "status"],
    ["status", "--help"],
    ["adapters", "list"],
    ["audit"],
    ["import", f"csv:{HELPDESK}"],
]


@pytest.fixture(scope="module")
def filled_project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipe") / "p"
    env = {k: v for k, v in os.environ.items() if k != "DESKMOVE_DATABASE_URL"}
    for args in (["init", str(root)], ["--project", str(root), "import", f"csv:{HELPDESK}"]):
        subprocess.run(
            [sys.executable, "-m", "deskmove", *args],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    return root


@pytest.mark.parametrize("args", CLOSED_PIPE_COMMANDS, ids=lambda a: " ".join(a))
def test_a_closed_pipe_ends_every_command_quietly(filled_project, args):
    """`deskmove status | head -2`: the reader leaves before deskmove writes."""
    env = {k: v for k, v in os.environ.items() if k != "DESKMOVE_DATABASE_URL"}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte is written
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "deskmove", "--project", str(filled_project), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    said = proc.stderr.decode()
    for word in ("Error", "Traceback", "Exception", "BrokenPipe"):
        assert word not in said, said
    assert proc.returncode == 141


# -- item 9: global options after the command ---------------------------------------------
def test_global_options_work_after_the_command(cli, project_dir, tmp_path, monkeypatch):
    res = cli("import", f"csv:{HELPDESK}", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["read"] == 1524
    assert json.loads(cli("status", "--json").stdout)["totals"]["tickets"] == 320
    quiet = run("import", f"csv:{HELPDESK}", "--quiet", "--project", str(project_dir))
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    for form in (["-p", str(project_dir)], [f"--project={project_dir}"]):
        res = run("status", *form, "-q")
        assert res.exit_code == 0 and res.stdout == "", res.output
        res = run("adapters", "list", *form, "--json")
        assert json.loads(res.stdout)["adapters"], res.output
    monkeypatch.chdir(tmp_path)
    audit = run("audit", "--format", "json", "--project", str(project_dir))
    assert audit.exit_code == 0, audit.output
    assert json.loads(audit.stdout)["checklist"]


def test_a_misspelt_global_option_after_the_command_suggests_the_right_one(tmp_path):
    for args, meant in (
        (["status", "--projcet", str(tmp_path)], "--project"),
        (["quarantine", "list", "--jsno"], "--json"),
    ):
        res = run(*args)
        assert res.exit_code == 2 and "Traceback" not in res.output
        assert f"No such option: {args[-2] if meant == '--project' else args[-1]}" in res.stderr
        assert f"(Possible options: {meant})" in res.stderr, res.stderr


def test_arguments_after_a_double_dash_are_left_alone(cli):
    res = cli("import", "--", "--json")
    assert res.exit_code == 2
    assert "'--json' is neither a connection in deskmove.toml nor a spec" in res.stderr


# -- item 11: status is a short report in plain words ---------------------------------------
def test_status_is_a_short_report_in_plain_words(cli, tmp_path):
    import re

    box = tmp_path / "support.mbox"
    box.write_bytes(
        b"From a@example.com Mon Jan  1 00:00:00 2024\nFrom: a@example.com\nTo: support@shop.example\n"
        b"Subject: hi\nMessage-ID: <s1@example.com>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nhello\n"
    )
    assert cli("import", f"csv:{HELPDESK}").exit_code == 0
    assert cli("import", f"mbox:{box}").exit_code == 0
    assert cli("export", f"csv:{tmp_path / 'out'}").exit_code == 0
    text = cli("status").stdout
    assert "{" not in text and "}" not in text  # no raw JSON cursors
    assert not re.search(r"\d\d:\d\d:\d\d", text)  # to the minute
    assert not re.search(r"\+00:00|T\d\d:", text)  # local time, not ISO UTC
    assert "mail-thread" not in text and "@push" not in text
    assert "320 tickets, 1060 messages, 144 people" in text
    assert "read up to byte" in text
    assert "Quarantined: nothing open" in text
    assert re.search(r"tickets there, nothing waiting; last export \d{4}-\d\d-\d\d \d\d:\d\d", text)
    assert len(text.splitlines()) <= 15
    data = json.loads(cli("status", "--json").stdout)  # the detail stays in --json
    assert any(c["cursor"].get("offset") for c in data["cursors"])
    assert any(s["kind"] == "mail-thread" for s in data["sources"])


# -- item 12: examples everywhere, every spec error said, unknown spec options refused ------
def _groups():
    import typer as _typer

    root = _typer.main.get_command(app)
    yield ()
    for name, cmd in sorted(root.commands.items()):
        if hasattr(cmd, "commands"):
            yield (name,)


@pytest.mark.parametrize("path", list(_groups()), ids=lambda p: " ".join(p) or "deskmove")
def test_the_root_and_every_group_have_an_example(path):
    res = run(*path, "--help")
    assert res.exit_code == 0
    assert "Example:" in res.stdout, f"`deskmove {' '.join(path)} --help` shows no example"
    assert f"deskmove {' '.join(path)}".strip() in res.stdout.split("Example:", 1)[1]


SPEC_OPTIONS = [
    ("import", "csv:{helpdesk}?timout=3", "csv source", "delimiter, encoding, mapping, timezone"),
    ("import", "csv:{helpdesk}?bogus=1", "csv source", "delimiter, encoding, mapping, timezone"),
    ("export", "csv:{tmp}/out?bogus=1", "csv target", "formulas"),
    ("import", "maildir:{tmp}?bogus=1", "maildir source", "full"),
    ("import", "eml:{tmp}?bogus=1", "eml source", "full"),
    ("import", "imap://u@127.0.0.1/INBOX?timout=3", "imap source", "batch, batch_mb, cafile"),
    ("import", "zendesk://shop?bogus=1", "zendesk source", "agents, archive_immediately, base_url"),
    (
        "export",
        "zendesk://shop?timout=3",
        "zendesk target",
        "agents, archive_immediately, base_url",
    ),
    ("import", "freshdesk://shop?bogus=1", "freshdesk source", "base_url"),
    ("import", "rt://127.0.0.1/General?bogus=1", "rt source", "base_url"),
]


@pytest.mark.parametrize(
    ("command", "spec", "what", "valid"),
    SPEC_OPTIONS,
    ids=[
        s[1].split("?")[0].split(":")[0] + "-" + s[0] + "-" + s[1].split("?")[1]
        for s in SPEC_OPTIONS
    ],
)
def test_an_unknown_spec_option_is_refused_with_the_valid_ones(
    cli, tmp_path, command, spec, what, valid
):
    spec = spec.format(helpdesk=HELPDESK, tmp=tmp_path)
    key = spec.split("?", 1)[1]
    res = cli(command, spec)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(
        f"Error: unknown option ?{key} for the {what} — valid options: {valid}"
    )
    assert json.loads(cli("--json", "status").stdout)["totals"]["tickets"] == 0


def test_an_option_for_an_adapter_that_takes_none_says_so(cli, tmp_path):
    box = tmp_path / "in.mbox"
    box.write_bytes(b"")
    res = cli("import", f"mbox:{box}?charset=latin1")
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(
        "Error: unknown option ?charset=latin1 for the mbox source — the mbox source takes no "
        "options: remove ?charset=…"
    )


def test_known_spec_options_still_work(cli):
    res = cli("import", f"csv:{HELPDESK}?encoding=utf-8&delimiter=,")
    assert res.exit_code == 0, res.output


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mydesk.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_adapters_check_names_every_problem(tmp_path):
    path = _spec(
        tmp_path,
        "name: mydesk\nbase_url: https://x.example\nauth: [{type: bearer, token: {env: T}}]\n",
    )
    res = run("adapters", "check", str(path))
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert "hooks: Field required" in line and "streams: Field required" in line, line
    assert "more)" not in line and len(res.stderr.strip().splitlines()) == 1


def test_adapters_check_refuses_a_spec_whose_hooks_module_is_missing(tmp_path):
    text = (EXAMPLES.parent / "adapters" / "zendesk.yaml").read_text(encoding="utf-8")
    text = text.replace("hooks: deskmove.rest.hooks.zendesk", "hooks: mydesk_hooks_not_installed")
    assert "mydesk_hooks_not_installed" in text
    res = run("adapters", "check", str(_spec(tmp_path, text)))
    assert res.exit_code == 2
    assert res.stderr.startswith(
        "Error: the hooks module 'mydesk_hooks_not_installed' cannot be imported"
    )
    good = run("adapters", "check", str(EXAMPLES.parent / "adapters" / "zendesk.yaml"))
    assert good.exit_code == 0 and "valid (zendesk)" in good.stdout


# -- item 13: a cron line that works with the quickstart's .venv ---------------------------
def test_the_readme_cron_line_names_deskmove_by_its_full_path():
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    lines = [line for line in readme.splitlines() if line.startswith("*/5 * * * *")]
    assert lines
    for line in lines:
        program = line.split("&&")[-1].split()[0]
        assert program.startswith("/") and program.endswith("/.venv/bin/deskmove"), line


def test_the_audits_cron_line_runs_under_crons_bare_path(cli, project_dir):
    data = json.loads(cli("--json", "audit").stdout)
    line = data["plan"]["active"]["cron"] if "active" in data["plan"] else None
    if line is None:
        line = next(v for v in _walk(data) if isinstance(v, str) and v.startswith("*/5 * * * *"))
    command = line.split(" ", 5)[5]
    proc = subprocess.run(
        ["/bin/sh", "-c", command],
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 127, proc.stderr  # "command not found" under cron
    assert "no [sync] plan" in proc.stderr  # deskmove itself ran, in the project


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


# -- item 10: progress with a total and the time left -----------------------------------------
def _on_a_terminal(project: Path, *args: str) -> str:
    """Run deskmove with stderr on a pseudo-terminal, as a person watching would see it."""
    import pty

    env = {k: v for k, v in os.environ.items() if k != "DESKMOVE_DATABASE_URL"}
    env["COLUMNS"] = "160"
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "deskmove", "--project", str(project), *args],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
            timeout=180,
        )
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode in (0, 3), proc.stdout
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize(
    "spec",
    ["csv:{helpdesk}", "csv:{zendesk}?mapping=zendesk-csv", "mbox:{mbox}"],
    ids=["csv-folder", "csv-mapped", "mbox"],
)
def test_imports_show_a_total_and_the_time_left(project_dir, spec):
    import re

    spec = spec.format(
        helpdesk=HELPDESK,
        zendesk=EXAMPLES / "exports" / "zendesk-tickets.csv",
        mbox=EXAMPLES / "mailbox.mbox",
    )
    screen = _on_a_terminal(project_dir, "import", spec)
    bar = [line for line in re.split(r"[\r\n]", screen) if line.startswith("import ")]
    assert bar, screen
    last = bar[-1]
    assert "100%" in last and re.search(r"[\d.]+[kM]?/[\d.]+[kM]?B? \[", last), last
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", last), last  # elapsed < time left


def test_the_csv_export_shows_a_bar(project_dir, tmp_path):
    import re

    _on_a_terminal(project_dir, "import", f"csv:{HELPDESK}")
    screen = _on_a_terminal(project_dir, "export", f"csv:{tmp_path / 'out'}")
    bar = [line for line in re.split(r"[\r\n]", screen) if line.startswith("export csv")]
    assert bar and "100%" in bar[-1] and re.search(r"\d+/\d+ \[", bar[-1]), screen


# -- item 13: the cron line works as it stands ------------------------------------------------
def test_the_audits_cron_line_reads_the_secrets_file_when_a_connection_needs_secrets(
    cli, project_dir
):
    plain = json.loads(cli("--json", "audit").stdout)["plan"]["activity"]["cron"]
    assert "deskmove.env" not in plain  # nothing in this project needs a secret
    with (project_dir / "deskmove.toml").open("a", encoding="utf-8") as f:
        f.write(
            '\n[connections.new-desk]\nspec = "zendesk://newshop"\n'
            'token = { env = "ZENDESK_API_TOKEN" }\n'
        )
    cron = json.loads(cli("--json", "audit").stdout)["plan"]["activity"]["cron"]
    assert f"cd {project_dir} && . ./deskmove.env && " in cron, cron


def test_a_store_written_by_a_newer_deskmove_is_refused_without_a_traceback(cli, project_dir):
    assert cli("status").exit_code == 0
    db = sqlite3.connect(project_dir / "deskmove.db")
    db.execute("UPDATE alembic_version SET version_num = '0099'")
    db.commit()
    db.close()
    for args in (("import", f"csv:{HELPDESK}"), ("sync",)):
        res = cli(*args)
        assert res.exit_code == 1, res.output
        assert res.stderr.startswith("Error: the store at "), res.stderr
        assert "was written by a newer deskmove (its schema is at migration 0099" in res.stderr
        assert "upgrade deskmove" in res.stderr and "bug" not in res.stderr
    db = sqlite3.connect(project_dir / "deskmove.db")
    assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]
