"""A REST push shows a bar with its total and the time left on a terminal, and nothing elsewhere."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.rest.conftest import do_export, do_import, seed
from tests.rest.fakezendesk import FakeZendesk
from tests.rest.httpserve import serve


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _bar_lines(screen: str, name: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]", screen) if line.startswith(name)]


def test_a_push_on_a_terminal_shows_tickets_done_of_the_total_and_the_time_left(
    project, store, api, monkeypatch
):
    api.serve(seed(FakeZendesk(), tickets=3, comments=1, attachments=False))
    api.serve(FakeZendesk(host="new.zendesk.com"))
    do_import(project, store)
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    report = do_export(project, store, "zendesk://new", progress=True)
    assert report.created["ticket"] == 3
    bar = _bar_lines(screen.getvalue(), "export zendesk")
    assert bar, screen.getvalue()
    assert any("0/3" in line and "organizations" in line for line in bar), bar
    last = bar[-1]
    assert "100%" in last and "3/3" in last, last
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", last), last  # elapsed < time left


def test_a_sample_counts_its_own_tickets_and_a_delta_only_what_changed(
    project, store, api, monkeypatch
):
    from deskmove.sample import push_sample

    api.serve(seed(FakeZendesk(), tickets=4, comments=1, attachments=False))
    api.serve(FakeZendesk(host="new.zendesk.com"))
    do_import(project, store)
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    push_sample(project, store, "zendesk://new", 2, progress=True)
    assert "2/2" in _bar_lines(screen.getvalue(), "export zendesk")[-1]
    screen.seek(0)
    screen.truncate()
    do_export(project, store, "zendesk://new", progress=True, dry_run=True)
    assert (
        "4/4" in _bar_lines(screen.getvalue(), "export zendesk")[-1]
    )  # the first full push: all of them


def test_no_bar_off_a_terminal(project, store, api, capsys):
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    api.serve(FakeZendesk(host="new.zendesk.com"))
    do_import(project, store)
    capsys.readouterr()
    do_export(project, store, "zendesk://new", progress=True)
    assert "export zendesk" not in capsys.readouterr().err


def _on_a_terminal(project: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run deskmove with stderr on a pseudo-terminal, as a person watching would see it."""
    import fcntl
    import pty
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
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("json_out", [False, True], ids=["terminal", "json"])
def test_the_cli_push_shows_a_bar_on_a_terminal_and_none_with_json(project_dir, json_out):
    env = {k: v for k, v in os.environ.items() if k != "DESKMOVE_DATABASE_URL"}
    env.update(
        {
            "ZENDESK_EMAIL": "admin@acme.example",
            "ZENDESK_API_TOKEN": "s3cr3t-t0ken-value",
            "COLUMNS": "160",
        }
    )
    env.pop("ZENDESK_OAUTH_TOKEN", None)

    def fake(seeded: bool):  # noqa: ANN202
        def make(host: str):  # noqa: ANN202
            z = FakeZendesk(host=host, scheme="http")
            return (seed(z, tickets=3, comments=1, attachments=False) if seeded else z).handle

        return make

    with serve(fake(True)) as src, serve(fake(False)) as dst:
        code, _ = _on_a_terminal(project_dir, env, "import", f"zendesk://acme?base_url={src}")
        assert code == 0
        extra = ["--json"] if json_out else []
        code, screen = _on_a_terminal(
            project_dir, env, *extra, "export", f"zendesk://new?base_url={dst}"
        )
    assert code == 0, screen
    bar = _bar_lines(screen, "export zendesk")
    if json_out:
        assert not bar and "it/s" not in screen and "ticket/s" not in screen, screen
    else:
        assert bar and "100%" in bar[-1] and "3/3" in bar[-1], screen
