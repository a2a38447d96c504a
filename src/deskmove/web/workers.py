"""Several uvicorn worker processes, each with its own listening socket (SO_REUSEPORT).

uvicorn's own ``--workers`` shares one listening socket between the workers,
and asyncio accepts every waiting connection at once: the worker that wakes
first takes them all, and with browsers keeping their connections alive one
worker serves nearly every request while the other idles (measured with 50
clients: one worker busy, the other at 6 % of its samples). With a socket per
worker bound with SO_REUSEPORT, the kernel spreads new connections over the
workers. Where SO_REUSEPORT is missing, uvicorn's workers are used.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import time
from typing import Any

from deskmove.errors import UsageError

APP = "deskmove.web.app:factory"


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def in_use(host: str, port: int) -> bool:
    """Whether something already answers on host:port (SO_REUSEPORT would share it)."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    import uvicorn

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops us with SIGTERM
    sock = _socket(host, port)
    config = uvicorn.Config(APP, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def run(workers: int, host: str, port: int, options: dict[str, Any]) -> None:
    """Start ``workers`` processes and keep them running until SIGINT or SIGTERM."""
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.process.BaseProcess:
        p = ctx.Process(target=_worker, args=(host, port, options), name="deskmove-serve")
        p.start()
        return p

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    started = [time.monotonic()] * workers
    try:
        while not stopping:
            time.sleep(0.5)
            for i, p in enumerate(procs):
                if p.is_alive() or stopping:
                    continue
                if time.monotonic() - started[i] < 10:
                    raise UsageError(
                        f"a workspace worker stopped as it started (exit code {p.exitcode})",
                        "run `deskmove serve --workers 1` to see why",
                    )
                procs[i], started[i] = start(), time.monotonic()  # replaced, as uvicorn does
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + 10
        for p in procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1)
        for s, handler in old.items():
            signal.signal(s, handler)
