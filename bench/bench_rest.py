"""Benchmark: a Zendesk migration against a local, rate-limited simulated API.

    .venv/bin/python bench/bench_rest.py                  # 10,000 tickets, 50,000 comments, 700/min
    .venv/bin/python bench/bench_rest.py --quick          # 1,000 / 5,000, a minute lasts 6 s
    .venv/bin/python bench/bench_rest.py --tickets 2000 --comments 10000 --scale 4

Two Zendesk-shaped accounts (tests/rest/fakezendesk.py) are served over HTTP on
127.0.0.1 by a separate process, each enforcing a fixed window of ``--limit``
requests per minute (answering 429 with Retry-After past it, and sending
``ratelimit-remaining``/``ratelimit-reset`` on every answer). ``--scale N``
makes a minute last 60/N seconds on both sides, for quick runs.

Then deskmove, in this process:
  export  ``deskmove import zendesk://…``  (incremental exports of organizations,
          groups, users, tickets and ticket events with comments; attachment downloads)
  import  ``deskmove export zendesk://…``  (organizations, users, Ticket Import in
          batches of 100, job polls, attachment uploads)

The floor is the fewest requests the API needs for this data (export: one page
per 1,000 records of each incremental stream, one per attachment; import: one
create and one job poll per 100 objects, one upload per attachment). Its time is
when the last of them may go out in fixed one-minute windows of ``--limit``
requests, and of 10 for the incremental exports ("You can make up to 10 requests
per minute to these endpoints"). Printed: requests per ticket, wall time beside
the floor, 429s, and the client's peak RSS (the server's memory is its own process).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.rest.fakezendesk import FakeZendesk, Limit, ts  # noqa: E402

T0 = 1_500_000_000


# -- the simulated API (the --serve child) ------------------------------------------------
class ScaledLimit(Limit):
    """A fixed window on a clock running ``scale`` times faster; waits are told in real seconds."""

    scale: float = 1.0

    def check(self) -> tuple[bool, dict[str, str]]:
        ok, headers = super().check()
        left = self.start + self.window - self.clock()
        for key in ("retry-after", "ratelimit-reset"):
            if key in headers:
                headers[key] = f"{max(left, 0.001) / self.scale:.3f}"
        return ok, headers


def build_source(fake: FakeZendesk, tickets: int, comments: int, attachments: int) -> None:
    fake.organizations.update(
        {
            5000 + i: {
                "id": 5000 + i,
                "name": f"Firma {i} s.r.o.",
                "domain_names": [f"firma{i}.example"],
                "external_id": None,
                "created_at": ts(T0),
                "updated_at": ts(T0 + i),
            }
            for i in range(50)
        }
    )
    fake.groups.update(
        {
            600 + i: {
                "id": 600 + i,
                "name": f"Tým {i}",
                "deleted": False,
                "created_at": ts(T0),
                "updated_at": ts(T0),
            }
            for i in range(5)
        }
    )
    agents = [700 + i for i in range(20)]
    for a in agents:
        fake.users[a] = {
            "id": a,
            "name": f"Agent Novák {a}",
            "email": f"agent{a}@acme.example",
            "role": "agent",
            "organization_id": None,
            "phone": None,
            "created_at": ts(T0),
            "updated_at": ts(T0 + a),
        }
    customers = max(1, tickets // 5)
    for c in range(customers):
        uid = 100_000 + c
        fake.users[uid] = {
            "id": uid,
            "name": f"Zákazník Dvořák {c}",
            "email": f"c{c}@example.cz",
            "role": "end-user",
            "organization_id": 5000 + c % 50,
            "phone": None,
            "created_at": ts(T0),
            "updated_at": ts(T0 + c),
        }
    per = comments / tickets
    made = 0
    every = max(1, tickets // attachments) if attachments else 0
    for i in range(tickets):
        tid = 1_000_000 + i
        start = T0 + i * 600
        req = 100_000 + i % customers
        fake.tickets[tid] = {
            "id": tid,
            "external_id": None,
            "via": {"channel": "email", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": ts(start),
            "updated_at": ts(start + 500),
            "type": "question",
            "subject": f"Dotaz {i}: žluťoučký kůň",
            "raw_subject": f"Dotaz {i}",
            "description": "…",
            "priority": "normal",
            "status": "closed" if i % 3 else "solved",
            "recipient": "support@acme.example",
            "requester_id": req,
            "submitter_id": req,
            "assignee_id": agents[i % 20],
            "organization_id": 5000 + i % 50,
            "group_id": 600 + i % 5,
            "collaborator_ids": [],
            "tags": ["bench"],
            "custom_fields": [],
            "is_public": True,
            "generated_timestamp": start + 500,
        }
        n = int((i + 1) * per) - made
        for j in range(n):
            files = []
            if every and j == 0 and i % every == 0 and len(fake.files) < attachments:
                token = f"a{tid}"
                fake.files[token] = f"příloha {tid} ".encode() * 20
                files = [
                    {
                        "id": tid,
                        "file_name": "faktura.pdf",
                        "content_type": "application/pdf",
                        "size": len(fake.files[token]),
                        "inline": False,
                        "content_url": fake.url(f"/attachments/token/{token}/", name="faktura.pdf"),
                    }
                ]
            author = req if j % 2 == 0 else agents[i % 20]
            fake.add_comment(
                tid,
                author,
                f"Zpráva {j} k dotazu {i}: Dobrý den, děkujeme.",
                start + j * 60,
                public=j % 4 != 3,
                attachments=files,
            )
        made += n


def serve(args: argparse.Namespace) -> None:
    t0 = time.monotonic()

    def clock() -> float:
        return (time.monotonic() - t0) * args.scale

    fakes = {}
    servers = []
    for name in ("source", "target"):
        ScaledLimit.scale = args.scale
        limit = ScaledLimit(per_window=args.limit, window=60.0, clock=clock)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(name, fakes))
        fake = FakeZendesk(host=f"127.0.0.1:{server.server_port}", scheme="http", limit=limit)
        if name == "source":
            build_source(fake, args.tickets, args.comments, args.attachments)
        fakes[name] = fake
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    limit_start = clock()
    for fake in fakes.values():
        fake.limit.start = limit_start
    print("ready", *(s.server_port for s in servers), flush=True)
    sys.stdin.read()  # until the parent closes our stdin


def _handler(name: str, fakes: dict[str, FakeZendesk]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _answer(self) -> None:
            fake = fakes[name]
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path == "/__stats__":
                data = {**fake.counts, "cpu": time.process_time()}
                status, headers, raw = (
                    200,
                    {"content-type": "application/json"},
                    json.dumps(data).encode(),
                )
            else:
                url = f"http://{self.headers['host']}{self.path}"
                status, headers, raw = fake.handle(
                    self.command, url, body, {k.lower(): v for k, v in self.headers.items()}
                )
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

    return Handler


# -- the measured side ------------------------------------------------------------------------------
def floors(args: argparse.Namespace) -> dict[str, int]:
    users = 20 + max(1, args.tickets // 5) + 1  # agents, customers, the admin
    export = (
        math.ceil(args.tickets / 1000)
        + math.ceil(args.comments / 1000)
        + math.ceil(users / 1000)
        + 1
        + 1
        + args.attachments
    )
    imports = (
        2 * (math.ceil(50 / 100) + math.ceil(users / 100) + math.ceil(args.tickets / 100))
        + args.attachments
    )
    # the export's incremental pages: tickets, ticket events, users, organizations
    paced = (
        math.ceil(args.tickets / 1000)
        + math.ceil(args.comments / 1000)
        + math.ceil(users / 1000)
        + 1
    )
    return {"export": export, "import": imports, "export_paced": paced, "import_paced": 0}


def floor_seconds(requests: int, paced: int, limit: int, minute: float) -> float:
    """When the last request may go out: fixed windows of ``limit`` a minute, and of 10 a
    minute for ``paced`` incremental-export requests (a run that fits in one window is
    measured against its share of the minute, not against zero)."""
    windows = max((requests - 1) // limit, (paced - 1) // 10 if paced else 0)
    return windows * minute if windows else requests / limit * minute


def stats(port: int) -> dict[str, int]:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/__stats__").json()


def run(args: argparse.Namespace) -> None:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", *sys.argv[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline().split()
        assert line and line[0] == "ready", f"the simulated API did not start: {line}"
        src_port, dst_port = int(line[1]), int(line[2])
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.runcall(measure, args, src_port, dst_port)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        else:
            measure(args, src_port, dst_port)
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def measure(args: argparse.Namespace, src_port: int, dst_port: int) -> None:
    from deskmove.config import Project, init_project
    from deskmove.rest.adapter import RestAdapter
    from deskmove.sync import export_target, import_source, open_store

    slept = [0.0]

    def sleep(seconds: float) -> None:  # counted, then slept for real
        slept[0] += seconds
        time.sleep(seconds)

    RestAdapter.sleep = staticmethod(sleep)
    os.environ.update({"ZENDESK_EMAIL": "bench@acme.example", "ZENDESK_API_TOKEN": "bench-token"})
    os.environ.pop("DESKMOVE_DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="deskmove-bench-rest-") as tmp:
        init_project(Path(tmp) / "p")
        project = Project.load(Path(tmp) / "p")
        store = open_store(project)
        t, c, server_cpu = time.perf_counter(), time.process_time(), stats(src_port)["cpu"]
        report = import_source(
            project, store, f"zendesk://src?base_url=http://127.0.0.1:{src_port}"
        )
        export_s, export_cpu = time.perf_counter() - t, time.process_time() - c
        export_srv = stats(src_port)["cpu"] - server_cpu
        assert report.balanced and report.quarantined == 0, report.summary()
        export_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t, c, server_cpu = time.perf_counter(), time.process_time(), stats(src_port)["cpu"]
        _name, pushed = export_target(
            project, store, f"zendesk://dst?base_url=http://127.0.0.1:{dst_port}"
        )
        import_s, import_cpu = time.perf_counter() - t, time.process_time() - c
        import_srv = stats(src_port)["cpu"] - server_cpu
        store.close()
    s_src, s_dst = stats(src_port), stats(dst_port)
    fl = floors(args)
    minute = 60.0 / args.scale
    rows = [
        (
            "export (Zendesk -> store)",
            s_src,
            export_s,
            fl["export"],
            fl["export_paced"],
            export_cpu,
            export_srv,
        ),
        (
            "import (store -> Zendesk)",
            s_dst,
            import_s,
            fl["import"],
            fl["import_paced"],
            import_cpu,
            import_srv,
        ),
    ]
    print(
        f"data: {args.tickets:,} tickets, {args.comments:,} comments, {args.attachments:,} "
        f"attachments; limit {args.limit}/min, a minute lasts {minute:g} s"
    )
    head = (
        "step",
        "requests",
        "floor",
        "req/ticket",
        "wall s",
        "floor s",
        "x floor",
        "429s",
        "cpu s",
        "server cpu s",
    )
    widths = (27, 9, 7, 11, 9, 9, 9, 6, 8, 14)
    print(
        "".join(
            f"{h:<{w}}" if i == 0 else f"{h:>{w}}"
            for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    )
    for name, st, wall, floor_req, paced, cpu, srv in rows:
        floor_s = floor_seconds(floor_req, paced, args.limit, minute)
        n = st.get("requests", 0)
        cells = (
            name,
            n,
            floor_req,
            f"{n / args.tickets:.3f}",
            f"{wall:.1f}",
            f"{floor_s:.1f}",
            f"{wall / floor_s:.2f}",
            st.get("429", 0),
            f"{cpu:.1f}",
            f"{srv:.1f}",
        )
        print(
            "".join(
                f"{c:<{w}}" if i == 0 else f"{c!s:>{w}}"
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    print(f"slept (rate-limit pacing, job polls; summed over threads): {slept[0]:.1f} s")
    print(f"created in the target: {dict(pushed.created)}; failed: {sum(pushed.failed.values())}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of deskmove: {export_rss:.0f} MB after the export, {peak:.0f} MB at the end")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tickets", type=int, default=10_000)
    ap.add_argument("--comments", type=int, default=50_000)
    ap.add_argument("--attachments", type=int, default=None, help="default: one per 10 tickets")
    ap.add_argument("--limit", type=int, default=700, help="requests per minute per account")
    ap.add_argument("--scale", type=float, default=1.0, help="how many times faster a minute runs")
    ap.add_argument(
        "--quick", action="store_true", help="1,000 tickets, 5,000 comments, --scale 10"
    )
    ap.add_argument("--profile", action="store_true", help="cProfile of deskmove's side")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.tickets, args.comments, args.scale = 1000, 5000, 10.0
    if args.attachments is None:
        args.attachments = args.tickets // 10
    serve(args) if args.serve else run(args)


if __name__ == "__main__":
    main()
