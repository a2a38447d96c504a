"""A Zendesk-shaped API over real HTTP on 127.0.0.1, in its own process.

Tests that SIGKILL a ``deskmove`` subprocess need a target that outlives it
(respx lives inside the killed process). This serves the REST tests'
:class:`tests.rest.fakezendesk.FakeZendesk` with ``http.server``, plus three
test-only endpoints: ``GET /__dump__`` (the helpdesk's content without its ids,
for comparing two runs), ``POST /__save__/SLOT`` and ``POST /__restore__/SLOT``.

With ``--instant-jobs`` a bulk create answers with its finished job status
(a shape Zendesk documents for ``GET job_statuses/{id}``) so the client does
not wait out its polling delay; everything else is the fake's answer as is.

    python -m tests.zendesk_server PORT [--instant-jobs]   # prints "ready" when listening
"""

from __future__ import annotations

import copy
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.rest.fakezendesk import FakeZendesk

STATE = ("users", "organizations", "groups", "tickets", "comments", "files", "uploads", "jobs")


def dump(fake: FakeZendesk) -> dict[str, Any]:
    """Tickets, comments, users and organizations, keyed by content rather than by id."""
    email = {uid: u.get("email") for uid, u in fake.users.items()}
    tickets = []
    for tid, t in fake.tickets.items():
        comments = [
            [
                email.get(c["author_id"]),
                c["created_at"],
                c["public"],
                c["body"],
                sorted(a["file_name"] for a in c["attachments"]),
            ]
            for c in fake.comments.get(tid, [])
        ]
        tickets.append(
            {
                "external_id": t.get("external_id"),
                "subject": t.get("subject"),
                "status": t.get("status"),
                "requester": email.get(t.get("requester_id")),
                "comments": comments,
            }
        )
    tickets.sort(key=lambda t: json.dumps(t, sort_keys=True, ensure_ascii=False))
    return {
        "tickets": tickets,
        "users": sorted(
            json.dumps([u.get("email"), u.get("name"), u.get("external_id")])
            for u in fake.users.values()
        ),
        "organizations": sorted(
            json.dumps([o.get("name"), o.get("external_id")]) for o in fake.organizations.values()
        ),
    }


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, instant_jobs: bool) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.fake = FakeZendesk(host=f"127.0.0.1:{port}")
        self.instant_jobs = instant_jobs
        self.saved: dict[str, Any] = {}


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        fake = self.server.fake
        if self.path == "/__dump__":
            data = json.dumps(dump(fake), ensure_ascii=False).encode()
            return self._answer(200, {"content-type": "application/json"}, data)
        if self.path.startswith("/__save__/"):
            slot = self.path.removeprefix("/__save__/")
            self.server.saved[slot] = copy.deepcopy({k: getattr(fake, k) for k in STATE})
            return self._answer(204, {}, b"")
        if self.path.startswith("/__restore__/"):
            slot = self.path.removeprefix("/__restore__/")
            for k, v in copy.deepcopy(self.server.saved[slot]).items():
                setattr(fake, k, v)
            return self._answer(204, {}, b"")
        url = f"http://{fake.host}{self.path}"
        status, headers, raw = fake.handle(self.command, url, body, dict(self.headers.items()))
        if self.server.instant_jobs and status == 200 and b'"job_status"' in raw:
            job = json.loads(raw)["job_status"]
            raw = json.dumps({"job_status": fake.jobs[job["id"]]}).encode()
        self._answer(status, headers, raw)

    do_GET = do_POST = do_PUT = do_DELETE = _any


class Running:
    """A server process for a test: ``spec`` for deskmove, ``call`` for the test-only endpoints."""

    def __init__(self) -> None:
        import subprocess
        from pathlib import Path

        from tests.servers.postgres import free_port

        port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.zendesk_server", str(port), "--instant-jobs"],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.url = f"http://127.0.0.1:{port}"
        self.spec = f"zendesk://target?base_url={self.url}"

    def call(self, path: str) -> Any:
        import urllib.request

        method = "GET" if path == "/__dump__" else "POST"
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def main(argv: list[str]) -> None:
    server = Server(int(argv[0]), "--instant-jobs" in argv)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
