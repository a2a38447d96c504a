"""The project lock: one run at a time, a killed holder never blocks the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deskmove.errors import EXIT_LOCKED, LockHeld
from deskmove.lock import LOCK_FILE, project_lock

HOLDER = """
import sys, time
from deskmove.lock import project_lock
with project_lock(sys.argv[1], sys.argv[2], "sync"):
    print("held", flush=True)
    time.sleep(60)
"""


def _hold(root: Path, url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), url], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "postgres"])
def lock_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'deskmove.db'}"
    return request.getfixturevalue("postgres_url")


def test_a_second_run_is_refused_with_the_holder_named(tmp_path: Path, lock_url: str) -> None:
    proc = _hold(tmp_path, lock_url)
    try:
        with pytest.raises(LockHeld) as info:
            with project_lock(tmp_path, lock_url, "sync"):
                pytest.fail("the lock was taken twice")
        assert info.value.exit_code == EXIT_LOCKED
        assert f"pid {proc.pid}" in str(info.value)
        assert "sync" in str(info.value)
    finally:
        _kill(proc)


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path, lock_url: str) -> None:
    proc = _hold(tmp_path, lock_url)
    _kill(proc)
    with project_lock(tmp_path, lock_url, "sync") as previous:
        if lock_url.startswith("sqlite"):  # the file still names the killed run
            assert previous is not None and previous.pid == proc.pid
    with project_lock(tmp_path, lock_url, "sync") as previous:
        assert previous is None  # released cleanly this time


def test_the_lock_is_reentrant_inside_one_process(tmp_path: Path, lock_url: str) -> None:
    with project_lock(tmp_path, lock_url, "sync"):
        with project_lock(tmp_path, lock_url, "import"):
            pass
        with project_lock(tmp_path, lock_url, "export"):
            pass
    proc = _hold(tmp_path, lock_url)  # and fully released afterwards
    _kill(proc)


def test_the_lock_file_records_the_holder_only_while_held(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deskmove.db'}"
    with project_lock(tmp_path, url, "sync"):
        text = (tmp_path / LOCK_FILE).read_text()
        assert f'"pid": {os.getpid()}' in text and '"command": "sync"' in text
    assert (tmp_path / LOCK_FILE).read_text() == ""
