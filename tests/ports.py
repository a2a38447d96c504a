"""Ports for the test servers: distinct, free, and outside the ephemeral range.

A port taken with ``bind(0)`` and closed again comes from the kernel's ephemeral range
(``net.ipv4.ip_local_port_range``, 32768-60999 by default): every outgoing connection of
the machine (a client's own end, a browser's, PostgreSQL's clients) takes its local port
from there too, and one of them can take the port before the test server binds it, or the
next ``bind(0)`` hands out the same port twice. Ports here come from below that range,
are never handed out twice by one process, and are checked free when handed out.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_given: set[int] = set()
_pick = random.SystemRandom()  # not seeded alike in every worker process


def _range() -> tuple[int, int]:
    """Below the ephemeral range: [10000, its first port)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return (10000, low) if low > 12000 else (low, 65535)  # a tuned machine: take bind(0)'s


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on, new to this process."""
    low, high = _range()
    for _ in range(200):
        port = _pick.randrange(low, high)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    with socket.socket() as s:  # a machine with that range full: the kernel's choice
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _given.add(port)
    return port
