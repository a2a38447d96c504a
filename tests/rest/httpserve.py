"""Serve an in-memory Zendesk or Freshdesk fake over real HTTP on 127.0.0.1 (a thread).

For the end-to-end migrations: deskmove talks to the fakes through its own
HTTP client, sockets and all, exactly as it talks to a real account.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

Handle = Callable[[str, str, bytes, dict[str, str]], tuple[int, dict[str, str], bytes]]


def from_httpx(side_effect: Callable[[httpx.Request], httpx.Response]) -> Handle:
    """A respx-style side effect (FakeFreshdesk's) as a transport-neutral handler."""

    def handle(
        method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        resp = side_effect(httpx.Request(method, url, content=body, headers=headers))
        return resp.status_code, dict(resp.headers), resp.read()

    return handle


@contextmanager
def serve(make: Callable[[str], Handle]) -> Iterator[str]:
    """Start a server; ``make(host)`` builds the handler once the port is known."""
    handler: list[Handle] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            size = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(size) if size else b""
            url = f"http://{self.headers['host']}{self.path}"
            status, headers, out = handler[0](self.command, url, body, dict(self.headers))
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "content-encoding",
                    "connection",
                ):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host = f"127.0.0.1:{server.server_address[1]}"
    handler.append(make(host))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
