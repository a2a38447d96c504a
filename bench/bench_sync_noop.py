"""Benchmark: a no-op `deskmove sync` (cron, nothing changed) on a large store.

    .venv/bin/python bench/bench_sync_noop.py                  # 100,000 tickets, 300,000 messages
    .venv/bin/python bench/bench_sync_noop.py --tickets 10000
    .venv/bin/python bench/bench_sync_noop.py --keep /tmp/noop   # built once, then reused

Builds a SQLite store with raw Core inserts (tickets, messages, people, provenance
from the source ``old-desk``, id-map rows and the push watermark of the target
``new-desk``, as after a finished migration), points both connections at a
Zendesk-shaped API on 127.0.0.1 (``tests/zendesk_server.py``, its own process)
that has nothing new, and times, each in a fresh process:

  floor      sqlite3: open the store, one ``EXISTS (provenance.run_id > watermark)``
             query, plus one HTTP GET to the API with httpx (one round trip)
  in-process ``sync_all``: the lock, the Zendesk source's incremental requests (one
             per stream) from the saved cursors, the indexed "anything to push?" check
  CLI        ``deskmove --quiet sync`` as cron runs it (interpreter start and imports included)

and prints seconds, the ratio to the floor and peak RSS of each. For comparison it
also times the same "anything changed?" question answered by a full scan (the
index ignored), which is what hashing every ticket would at least cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

from _common import Result, child_report, compiled, table  # noqa: E402

TOML = """
[connections.old-desk]
spec = "zendesk://old?base_url={url}"

[connections.new-desk]
spec = "zendesk://new?base_url={url}"

[sync]
sources = ["old-desk"]
targets = ["new-desk"]
"""
P0 = 1_000_000  # people ids above those the first (empty) import made
ENV = {"ZENDESK_EMAIL": "admin@shop.example", "ZENDESK_API_TOKEN": "bench-token"}


def build(root: Path, url: str, tickets: int, per: int) -> None:
    """A project whose store holds a finished migration of ``tickets`` tickets."""
    import sqlalchemy as sa

    from deskmove.config import init_project
    from deskmove.model import IdMap, Message, Person, PersonEmail, Provenance, Ticket
    from deskmove.store import Store, delta
    from deskmove.sync import import_source

    init_project(root)
    with open(root / "deskmove.toml", "a", encoding="utf-8") as fh:
        fh.write(TOML.format(url=url))
    from deskmove.config import Project

    project = Project.load(root)
    store = Store.open(project.store_url, project.blob_root)
    import_source(project, store, "old-desk")  # the source's cursors, from the (empty) API
    run = store.begin_run("import", "old-desk")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    people = max(1, tickets // 5)
    with store.begin() as conn:
        conn.execute(
            Person.__table__.insert(),
            [
                {"id": P0 + i, "name": f"Zákazník {i}", "role": "customer"}
                for i in range(1, people + 1)
            ],
        )
        conn.execute(
            PersonEmail.__table__.insert(),
            [
                {"person_id": P0 + i, "email": f"c{i}@example.cz", "primary": True}
                for i in range(1, people + 1)
            ],
        )
        for lo in range(1, tickets + 1, 20_000):
            ids = range(lo, min(tickets, lo + 19_999) + 1)
            conn.execute(
                Ticket.__table__.insert(),
                [
                    {
                        "id": i,
                        "subject": f"Objednávka {i} — žluťoučký kůň",
                        "status": "solved",
                        "channel": "email",
                        "requester_id": P0 + 1 + i % people,
                        "tags": [],
                        "custom_fields": {},
                        "created_at": t0 + timedelta(minutes=i),
                        "updated_at": t0 + timedelta(minutes=i + 60),
                        "is_auto": False,
                        "is_spam": False,
                    }
                    for i in ids
                ],
            )
            msgs = [
                {
                    "id": (i - 1) * per + j + 1,
                    "ticket_id": i,
                    "author_id": P0 + 1 + i % people,
                    "public": True,
                    "direction": "inbound",
                    "created_at": t0 + timedelta(minutes=i, seconds=j),
                    "body_text": f"zpráva {j}",
                    "to": [],
                    "cc": [],
                    "references": [],
                    "headers": {},
                    "is_auto": False,
                }
                for i in ids
                for j in range(per)
            ]
            conn.execute(Message.__table__.insert(), msgs)
            prov = [
                {
                    "connection": "old-desk",
                    "kind": "ticket",
                    "native_id": str(i),
                    "entity_id": i,
                    "content_hash": "h",
                    "run_id": run,
                }
                for i in ids
            ]
            prov += [
                {
                    "connection": "old-desk",
                    "kind": "message",
                    "native_id": f"m{m['id']}",
                    "entity_id": m["id"],
                    "content_hash": "h",
                    "run_id": run,
                }
                for m in msgs
            ]
            conn.execute(Provenance.__table__.insert(), prov)
            done = [
                {
                    "connection": "new-desk",
                    "kind": "ticket",
                    "entity_id": i,
                    "native_id": str(10**6 + i),
                    "state": "done",
                    "run_id": run + 1,
                }
                for i in ids
            ]
            done += [
                {
                    "connection": "new-desk",
                    "kind": "message",
                    "entity_id": m["id"],
                    "native_id": f"c{m['id']}",
                    "state": "done",
                    "run_id": run + 1,
                }
                for m in msgs
            ]
            conn.execute(IdMap.__table__.insert(), done)
    store.finish_run(run, "done", {})
    push = store.begin_run("export", "new-desk")
    store.finish_run(push, "done", {})
    delta.set_push_watermark(store, "new-desk", push)  # as after a finished migration
    with store.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    store.close()


def reuse(root: Path, url: str) -> None:
    """A kept project, pointed at this run's API (its port changes from run to run)."""
    toml = root / "deskmove.toml"
    text = toml.read_text(encoding="utf-8")
    head = text.split("\n[connections.old-desk]")[0]
    toml.write_text(head + TOML.format(url=url), encoding="utf-8")


def child_floor(root: str, url: str) -> None:
    import httpx

    t = time.perf_counter()
    db = sqlite3.connect(Path(root) / "deskmove.db")
    mark = json.loads(
        db.execute("SELECT cursor FROM sync_state WHERE stream = '@push'").fetchone()[0]
    )["run_id"]
    db.execute("SELECT EXISTS (SELECT 1 FROM provenance WHERE run_id > ?)", (mark,)).fetchone()
    db.close()
    httpx.get(f"{url}/api/v2/incremental/tickets/cursor.json?start_time=0").raise_for_status()
    child_report(time.perf_counter() - t, 1, cpu=time.process_time())


def child_inprocess(root: str) -> None:
    from deskmove.config import Project
    from deskmove.sync import open_store, sync_all

    t = time.perf_counter()
    project = Project.load(root)
    store = open_store(project)
    report = sync_all(project, store)
    store.close()
    seconds = time.perf_counter() - t
    assert report.skipped == ["new-desk"] and not report.errors, report.summary()
    child_report(seconds, 1, cpu=time.process_time(), summary=report.summary())


def child_scan(root: str) -> None:
    db = sqlite3.connect(Path(root) / "deskmove.db")
    t = time.perf_counter()
    db.execute("SELECT count(*) FROM provenance NOT INDEXED WHERE run_id > 1000000").fetchone()
    child_report(time.perf_counter() - t, 1, cpu=time.process_time())


def child_build(root: str, url: str, tickets: str, per: str) -> None:
    t = time.perf_counter()
    build(Path(root), url, int(tickets), int(per))
    child_report(time.perf_counter() - t, int(tickets))


def child_cli(root: str) -> None:
    """``deskmove --quiet sync`` as cron runs it; this child's children are only that process."""
    import resource

    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "deskmove.cli", "--project", root, "--quiet", "sync"], check=True
    )
    seconds = time.perf_counter() - t
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "items": 1,
                "maxrss_kb": ru.ru_maxrss,
                "cpu": ru.ru_utime + ru.ru_stime,
            }
        )
    )


def run(args: list[str], name: str, repeat: int, env: dict[str, str]) -> Result:
    """Median of ``repeat`` fresh child processes (peak RSS: the largest)."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, *args], check=True, capture_output=True, text=True, env=env
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda r: r["seconds"])
    mid = runs[len(runs) // 2]
    return Result(
        name,
        mid["seconds"],
        1,
        max(r["maxrss_kb"] for r in runs) / 1024,
        {"cpu": mid.get("cpu", 0.0)},
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("child-"):
        steps = {
            "child-floor": child_floor,
            "child-inprocess": child_inprocess,
            "child-scan": child_scan,
            "child-build": child_build,
            "child-cli": child_cli,
        }
        steps[sys.argv[1]](*sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--messages-per-ticket", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="build the store in DIR and keep it; a later run with the same DIR reuses it",
    )
    a = ap.parse_args()
    compiled(REPO / "src")
    env = {**os.environ, **ENV, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    os.environ.update(ENV)
    tmp = a.keep.resolve() if a.keep else Path(tempfile.mkdtemp(prefix="deskmove-bench-sync-"))
    from tests.servers.postgres import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.zendesk_server", str(port), "--instant-jobs"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        url = f"http://127.0.0.1:{port}"
        t = time.perf_counter()
        root = str(tmp / "project")
        if a.keep and (tmp / "project" / "deskmove.db").is_file():
            reuse(tmp / "project", url)
            how = "reused"
        else:
            # Built in a child: a child's peak RSS starts from its parent's, so the parent
            # stays small.
            args = [root, url, str(a.tickets), str(a.messages_per_ticket)]
            run(["child-build", *args], "build", 1, env)
            how = f"built in {time.perf_counter() - t:.1f} s"
        size = (tmp / "project" / "deskmove.db").stat().st_size / 2**20
        tickets = sqlite3.connect(tmp / "project" / "deskmove.db").execute(
            "SELECT count(*) FROM tickets"
        )
        print(f"store: {tickets.fetchone()[0]:,} tickets, {size:.0f} MB SQLite, {how}")
        floor = run(["child-floor", root, url], "floor (sqlite3 + 1 GET)", a.repeat, env)
        inproc = run(["child-inprocess", root], "sync_all (in-process)", a.repeat, env)
        cli = run(["child-cli", root], "CLI deskmove --quiet sync", a.repeat, env)
        scan = run(["child-scan", root], "full scan instead of index", 3, env)
        print(table([floor, inproc, cli, scan], floor, "runs"))
        print("(median of fresh processes; a no-op run is one item; cpu s = user + system)")
        print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    finally:
        server.kill()
        server.wait()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
