"""A full disk and a read-only project folder: clear errors on every path, `status` still reads.

The disk is a small tmpfs the test mounts and unmounts (root only: elsewhere the
tests skip, and in CI they fail, like every other real-part test).
"""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
from pathlib import Path

import pytest

from deskmove.config import init_project
from tests.conftest import unavailable
from tests.mailhelp import mail


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB file system of our own, unmounted (and its contents gone) after the test."""
    point = tmp_path / "disk"
    point.mkdir()
    if os.geteuid() != 0:
        unavailable("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(point)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode:
        unavailable(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)


def _remount(point: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(point)], check=True, timeout=30)


def _mbox(path: Path, n: int) -> Path:
    box = mailbox.mbox(str(path))
    for i in range(n):
        body = f"Dobrý den {i}, " * 40 + "\n" + os.urandom(400).hex() + "\n"
        box.add(mail(mid=f"<m{i}@example.cz>", subject=f"Dotaz {i}", body=body))
    box.close()
    return path


def _no_bug(result) -> None:  # noqa: ANN001
    assert "this is a bug" not in result.output and "Traceback" not in result.output
    assert "unexpected" not in result.output


@pytest.mark.timeout(300)
def test_a_full_disk_is_clear_on_every_run_and_status_still_works(cli, tmp_path, small_disk):
    root = small_disk / "project"
    init_project(root)
    big = _mbox(tmp_path / "big.mbox", 1500)  # about 2.7 MB: more than the disk holds
    first = cli("import", f"mbox:{big}", project=root)
    assert first.exit_code == 1, first.output
    assert "Error: the disk is full" in first.stderr
    _no_bug(first)
    second = cli("import", f"mbox:{big}", project=root)  # the disk is still full
    assert second.exit_code == 1
    assert "Error: the disk is full" in second.stderr
    _no_bug(second)
    status = cli("--json", "status", project=root)
    assert status.exit_code == 0, status.output
    runs = json.loads(status.stdout)["runs"]
    assert runs and all(r["status"] != "running" for r in runs), runs
    human = cli("status", project=root)
    assert human.exit_code == 0 and "running" not in human.stdout


@pytest.mark.timeout(300)
def test_a_read_only_project_folder_gets_sqlite_advice_and_status_reads(cli, tmp_path, small_disk):
    root = small_disk / "project"
    init_project(root)
    r = cli("import", f"mbox:{_mbox(tmp_path / 'small.mbox', 3)}", project=root)
    assert r.exit_code == 0, r.output
    _remount(small_disk, "ro")
    try:
        result = cli("import", f"mbox:{_mbox(tmp_path / 'more.mbox', 2)}", project=root)
        assert result.exit_code == 1
        assert "read-only" in result.stderr
        assert "database server" not in result.stderr
        _no_bug(result)
        status = cli("--json", "status", project=root)
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)["totals"]["messages"] == 3
    finally:
        _remount(small_disk, "rw")


def test_status_on_postgresql_reads_the_lock_to_settle_running_runs(
    tmp_path, postgres_url, monkeypatch, cli
):
    from deskmove.lock import project_lock, running_now

    assert running_now(tmp_path, postgres_url) is False
    with project_lock(tmp_path, postgres_url, "import x"):
        assert running_now(tmp_path, postgres_url) is True
    assert running_now(tmp_path, postgres_url) is False
