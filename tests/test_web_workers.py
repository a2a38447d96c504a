"""`deskmove serve --workers 2`: each worker listens on its own socket, so connections
kept alive by many clients are spread over both instead of all landing on one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from deskmove.config import Project, init_project
from deskmove.store import Store
from deskmove.store import workspace as ws
from deskmove.web import workers
from deskmove.web.auth import hash_password
from tests.smtpserver import free_port
from tests.webhelp import PASSWORD

pytestmark = pytest.mark.skipif(not workers.supported(), reason="SO_REUSEPORT is Linux's")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    kids = [int(k) for k in out.split()]
    return [k for k in kids if _listens(k)]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def _tcp(port: int, state: str) -> dict[str, str]:
    """inode -> state of the IPv4 TCP sockets on this local port in that state."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, st, inode = parts[1], parts[3], parts[9]
        if int(local.split(":")[1], 16) == port and st == state:
            found[inode] = st
    return found


def _listening_workers(pid: int, port: int) -> int:
    """How many of the server's worker processes hold a socket listening on ``port``."""
    listening = set(_tcp(port, "0A"))
    count = 0
    for k in _children(pid):
        try:
            count += bool(_socket_inodes(k) & listening)
        except OSError:  # the worker exited meanwhile
            pass
    return count


def _listens(pid: int) -> bool:
    try:
        return bool(_socket_inodes(pid))
    except OSError:
        return False


def test_two_workers_share_the_clients(tmp_path):
    root = tmp_path / "project"
    init_project(root)
    project = Project.load(root)
    store = Store.open(project.store_url, project.blob_root)
    ws.add_user(store, email="eva@shop.example", password_hash=hash_password(PASSWORD))
    store.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DESKMOVE_DATABASE_URL"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deskmove",
            "--project",
            str(root),
            "--quiet",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    clients: list[httpx.Client] = []
    try:
        deadline = time.monotonic() + 60
        # both workers' sockets listening (not a fixed pause: on a busy machine the second
        # worker binds seconds after the first answers, and every client then lands on one)
        while _listening_workers(proc.pid, port) < 2 or not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"deskmove serve did not start: {out[-2000:]}")
            time.sleep(0.3)
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) for _ in range(24)]
        gate = threading.Barrier(len(clients))
        codes: list[int] = []

        def first_request(c: httpx.Client) -> None:
            gate.wait()  # all at once, as a room of browsers after a restart
            codes.append(c.get("/login").status_code)

        threads = [threading.Thread(target=first_request, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert codes == [200] * len(clients)
        established = _tcp(port, "01")
        per_worker = [len(_socket_inodes(k) & set(established)) for k in _children(proc.pid)]
        assert len(per_worker) == 2 and sum(per_worker) == 24, per_worker
        assert min(per_worker) >= 3, per_worker
        # a second serve on the same port is refused, not silently sharing it
        again = subprocess.run(
            [
                sys.executable,
                "-m",
                "deskmove",
                "--project",
                str(root),
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 2 and "already listens" in again.stderr, again.stderr
    finally:
        for c in clients:
            c.close()
        kids = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("deskmove serve did not stop on SIGTERM")
    assert proc.returncode == 0
    for k in kids:
        assert not Path(f"/proc/{k}").exists() or "zombie" in Path(f"/proc/{k}/status").read_text()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
