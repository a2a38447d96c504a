"""Length-prefixed frames over a pipe: how deskmove talks to its worker processes.

A frame is an 8-byte big-endian length and that many bytes. Used by the mail-parsing
workers (:mod:`deskmove.mail.parallel`) and the audit's scan workers
(:mod:`deskmove.audit.parallel`); standard library only, so a worker loads nothing else.
"""

from __future__ import annotations

import struct
from typing import IO

HEAD = struct.Struct("!Q")


def send(fh: IO[bytes], data: bytes, *, flush: bool = True) -> None:
    fh.write(HEAD.pack(len(data)))
    fh.write(data)  # not joined to the header first: that would copy the data once more
    if flush:  # not when more follows the frame (see deskmove.mail.parseworker.send_task)
        fh.flush()


def receive(fh: IO[bytes]) -> bytes:
    """One frame; EOFError when the other side ended before or inside it."""
    head = fh.read(HEAD.size)
    if len(head) < HEAD.size:
        raise EOFError("the worker process ended")
    size = HEAD.unpack(head)[0]
    data = fh.read(size)
    if len(data) < size:
        raise EOFError("the worker process ended")
    return data
