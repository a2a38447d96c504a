"""Run ``deskmove`` as real processes without paying Python's start-up for each one.

The crash and cutover tests start deskmove a hundred times or more; a fresh
interpreter spends most of a second importing deskmove, SQLAlchemy and httpx
before it does anything. :class:`Launcher` keeps one parent process that has
imported every deskmove module once, and forks a child from it for each run.

Each run is still a process of its own, exactly as the tests need it: its own
pid, environment, working folder and stdin/stdout/stderr; it exits with its own
code, and ``DESKMOVE_CRASH_AT`` kills it with SIGKILL like any other. What it
inherits is an interpreter in the state right after start-up plus the imports,
and nothing from earlier runs (every child is forked from the same parent,
which never runs a command itself).

    launcher = Launcher(preload="import deskmove.sources.csv as c; c.BATCH_TICKETS = 12")
    done = launcher.run(["--project", str(root), "import", "csv:data"], env=env)
    assert done.returncode == 0, done.stderr
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The parent: import everything, then fork one child per request line on stdin.
_PARENT = r"""
import atexit, json, os, pkgutil, sys, traceback

requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
os.dup2(null, 1)  # the parent prints nothing; its children get their own files

import deskmove
for mod in pkgutil.walk_packages(deskmove.__path__, "deskmove."):
    if mod.name.rsplit(".", 1)[-1] != "__main__":
        try:
            __import__(mod.name)
        except Exception:  # an optional extra that is not installed: the child imports it or fails
            pass
import alembic.command, alembic.config, alembic.runtime.migration, alembic.operations  # store upgrades
exec(compile(sys.argv[1], "<preload>", "exec"))
answers.write("ready\n")
answers.flush()

def child(req):
    out = os.open(req["stdout"], os.O_WRONLY | os.O_TRUNC)
    err = os.open(req["stderr"], os.O_WRONLY | os.O_TRUNC)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in (out, err, null, requests.fileno(), answers.fileno()):
        os.close(fd)
    os.environ.clear()
    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    sys.argv = ["deskmove", *req["argv"]]
    code = 0
    try:
        exec(compile(ENTRY, "<entry>", "exec"), {"__name__": "__main__"})
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)

ENTRY = sys.argv[2]
for line in requests:
    req = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(req)
    answers.write(json.dumps({"pid": pid}) + "\n")
    answers.flush()
    _, status = os.waitpid(pid, 0)
    answers.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
    answers.flush()
"""


class Launcher:
    """Runs deskmove commands as forked processes of one preloaded parent, one at a time.

    ``preload`` runs once in the parent after every deskmove module is imported
    (e.g. to make a source's batches small); ``entry`` runs in each child with
    ``sys.argv`` set to the command line.
    """

    def __init__(
        self, preload: str = "", entry: str = "from deskmove.cli import main; main()"
    ) -> None:
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="deskmove-launch-"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _PARENT, preload, entry],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
            bufsize=0,
        )
        self._pending = b""
        if self._answer(120) != "ready":
            self.close()
            raise RuntimeError("the deskmove launcher did not start")

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | str = REPO,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """One ``deskmove ARGV`` run to its end; like ``subprocess.run(..., capture_output=True)``
        (a run killed by a signal has ``returncode == -signal``)."""
        with self._lock:
            out, err = self._dir / "stdout", self._dir / "stderr"
            out.write_bytes(b"")
            err.write_bytes(b"")
            request = {
                "argv": list(argv),
                "env": dict(env),
                "cwd": str(cwd),
                "stdout": str(out),
                "stderr": str(err),
            }
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            pid = json.loads(self._answer(30))["pid"]
            try:
                line = self._answer(timeout)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self._answer(30)
                raise subprocess.TimeoutExpired(["deskmove", *argv], timeout) from None
            code = json.loads(line)["returncode"]
            return subprocess.CompletedProcess(
                ["deskmove", *argv], code, out.read_text("utf-8"), err.read_text("utf-8")
            )

    def _answer(self, timeout: float) -> str:
        """The parent's next line, waiting at most ``timeout`` seconds for it."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise subprocess.TimeoutExpired("deskmove launcher", timeout)
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the deskmove launcher exited ({self._proc.wait()})")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode("utf-8").strip()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=30)
        for f in self._dir.iterdir():
            f.unlink()
        self._dir.rmdir()
