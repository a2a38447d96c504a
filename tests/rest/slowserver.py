"""Small misbehaving HTTP servers on 127.0.0.1 for the deadline tests, stopped by the test."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def slow_server(mode: str, *, pause: float = 0.2, lifetime: float = 30.0) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that misbehaves as ``mode`` says.

    ``stall``: headers, then nothing. ``trickle``: headers, then one body byte per
    ``pause``. ``trickle-headers``: the status line and headers one byte per ``pause``.
    Every connection is dropped after ``lifetime`` seconds, and all of them when
    the block ends.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    body = b'{"organizations": [], "end_of_stream": true}' * 20
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()

    def handle(conn: socket.socket) -> None:
        ends = time.monotonic() + lifetime
        try:
            conn.settimeout(1.0)
            conn.recv(65536)
            if mode == "trickle-headers":
                out = head + body
                for i in range(len(out)):
                    if stop.is_set() or time.monotonic() > ends:
                        return
                    conn.sendall(out[i : i + 1])
                    time.sleep(pause)
                return
            conn.sendall(head)
            if mode == "stall":
                stop.wait(max(0.0, ends - time.monotonic()))
                return
            for i in range(len(body)):
                if stop.is_set() or time.monotonic() > ends:
                    return
                conn.sendall(body[i : i + 1])
                time.sleep(pause)
        except OSError:
            return
        finally:
            conn.close()

    threads: list[threading.Thread] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=handle, args=(conn,), daemon=True)
            t.start()
            threads.append(t)

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(2)
        listener.close()
        for t in threads:
            t.join(2)
