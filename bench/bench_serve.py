"""Benchmark: the workspace (`deskmove serve`) over a store of 100,000 tickets.

    .venv/bin/python bench/bench_serve.py                      # SQLite latency + PostgreSQL load
    .venv/bin/python bench/bench_serve.py --tickets 20000      # a smaller store
    .venv/bin/python bench/bench_serve.py --skip-postgres      # SQLite only
    .venv/bin/python bench/bench_serve.py --keep /tmp/b        # keep the stores; --root /tmp/b to re-measure

Builds a store in a temporary folder (never the repo) with Core bulk inserts:
tickets with five messages each (Czech, Polish, Russian, German text), people,
groups and tags, then the search index through deskmove.store.search.

1. SQLite, one process: server time per request (the app called in-process,
   the whole body read) for the list page, a filtered list (status + assignee +
   channel), a search (a word typed without diacritics) and a ticket view; p50
   and p95 over ``--requests`` requests each, beside the floor: the bare SQL
   statements that page needs, run with ``sqlite3``.
2. PostgreSQL (a throwaway server, as the tests start it): ``deskmove serve
   --workers 2`` in its own processes, 50 concurrent httpx clients, each logged
   in, asking for the same four pages for ``--seconds``; requests per second,
   p50/p95 round-trip time and the number of errors (anything but 200).

The run is bounded: the store build, ``--requests`` per page and ``--seconds``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import kept_store  # noqa: E402

PASSWORD = "bench password 123"
WORDS = [
    ("Reklamace", "žluťoučký kůň úpěl ďábelské ódy, objednávka {n} nedorazila"),
    ("Faktura", "Zażółć gęślą jaźń, faktura {n} jest błędna"),
    ("Доставка", "Съешь же ещё этих мягких французских булок, заказ {n}"),
    ("Lieferung", "Größe der Straße zu schmal, Bestellung {n} fehlt"),
    ("Question", "Where is my order {n}? The parcel tracking says nothing."),
]
STATUSES = ["new", "open", "open", "pending", "hold", "solved", "closed", "closed"]
CHANNELS = ["email", "email", "email", "web", "phone", "chat"]


def generate(url: str, blobs: Path, n_tickets: int, per_ticket: int = 5, seed: int = 7) -> int:
    """Fill a fresh store; returns the number of messages."""
    from deskmove.model import Group, Message, Person, PersonEmail, Ticket
    from deskmove.store import Store, search

    rng = random.Random(seed)
    store = Store.open(url, blobs)
    people = max(100, n_tickets // 3)
    agents = 20
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with store.begin() as conn:
        conn.execute(
            Group.__table__.insert(), [{"id": i + 1, "name": f"Tým {i + 1}"} for i in range(5)]
        )
        conn.execute(
            Person.__table__.insert(),
            [
                {
                    "id": i + 1,
                    "name": f"Agent {i}" if i < agents else f"Zákazník Dvořák {i}",
                    "role": "agent" if i < agents else "customer",
                }
                for i in range(people)
            ],
        )
        conn.execute(
            PersonEmail.__table__.insert(),
            [
                {
                    "person_id": i + 1,
                    "primary": True,
                    "email": f"agent{i}@shop.example" if i < agents else f"c{i}@firma{i % 500}.cz",
                }
                for i in range(people)
            ],
        )
    n_msgs = 0
    mid = 0
    for lo in range(0, n_tickets, 5000):
        tickets, messages = [], []
        for tid in range(lo + 1, min(n_tickets, lo + 5000) + 1):
            when = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 700))
            subject, text = WORDS[tid % len(WORDS)]
            status = rng.choice(STATUSES)
            tickets.append(
                {
                    "id": tid,
                    "subject": f"{subject} {tid}",
                    "status": status,
                    "channel": rng.choice(CHANNELS),
                    "priority": rng.choice([None, "low", "normal", "high"]),
                    "requester_id": rng.randrange(agents + 1, people + 1),
                    "assignee_id": rng.choice([None, None, *range(1, agents + 1)]),
                    "group_id": rng.randrange(1, 6),
                    "tags": rng.sample(["vip", "b2b", "reklamace", "eshop"], 1),
                    "custom_fields": {},
                    "created_at": when,
                    "updated_at": when + timedelta(hours=per_ticket * 5),
                    "solved_at": when + timedelta(days=1)
                    if status in ("solved", "closed")
                    else None,
                }
            )
            for k in range(per_ticket):
                mid += 1
                inbound = k % 2 == 0
                messages.append(
                    {
                        "id": mid,
                        "ticket_id": tid,
                        "author_id": tickets[-1]["requester_id"]
                        if inbound
                        else rng.randrange(1, agents + 1),
                        "direction": "inbound" if inbound else "outbound",
                        "public": True,
                        "created_at": when + timedelta(hours=5 * k),
                        "created_tz": 60,
                        "body_text": text.format(n=tid)
                        if inbound
                        else f"Dobrý den, řešíme to. Odpověď {k} k {tid}.\n\n> {text.format(n=tid)}",
                        "to": [],
                        "cc": [],
                        "references": [],
                        "headers": {},
                        "is_auto": False,
                        "message_id": f"<{tid}.{k}@bench>",
                    }
                )
        n_msgs += len(messages)
        with store.begin() as conn:
            conn.execute(Ticket.__table__.insert(), tickets)
            conn.execute(Message.__table__.insert(), messages)
            search.index_tickets(conn, [t["id"] for t in tickets])
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('people', 'id'), (SELECT max(id) FROM people))"
            )
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('person_emails', 'id'), (SELECT max(id) FROM person_emails))"
            )
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    from deskmove.store import workspace as ws
    from deskmove.web.auth import hash_password

    ws.add_user(
        store, email="agent0@shop.example", password_hash=hash_password(PASSWORD), role="admin"
    )
    store.close()
    return n_msgs


# -- 1. SQLite latency -------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def pages(n_tickets: int, rng: random.Random) -> dict[str, list[str]]:
    # What agents type: an order number, a customer's address, a name with a number.
    people = max(100, n_tickets // 3)
    looked_up = [str(rng.randrange(1, n_tickets)) for _ in range(20)]
    looked_up += [f"c{rng.randrange(20, people)}@firma" for _ in range(20)]
    looked_up += [f"dvorak {rng.randrange(20, people)}" for _ in range(20)]
    rng.shuffle(looked_up)
    # Words each in a fifth of all tickets (the worst case of a real search).
    broad = ["zlutoucky", "zazolc", "булок", "strasse", "parcel"]
    return {
        "list": ["/tickets?status=all"] * 1,
        "filtered list": [
            f"/tickets?status={s}&assignee={a}&channel={c}"
            for s in ("open", "pending", "unsolved")
            for a in ("unassigned", "3", "7")
            for c in ("email", "web")
        ],
        "search": [f"/tickets?status=all&q={w}" for w in looked_up],
        "broad search": [f"/tickets?status=all&q={w}" for w in broad],
        "ticket view": [f"/tickets/{rng.randrange(1, n_tickets + 1)}" for _ in range(50)],
    }


def floor_sql(con: sqlite3.Connection, name: str, url: str, n_tickets: int) -> None:
    """The bare statements the page needs: one page of rows (+ per-row names and counts),
    the status counts, or the ticket with its messages and attachments."""
    from deskmove.store import search

    row_cols = (
        "t.id, t.subject, t.status, t.priority, t.channel, t.tags, t.created_at, t.updated_at, "
        "r.name, (SELECT email FROM person_emails e WHERE e.person_id = t.requester_id LIMIT 1), "
        "a.name, g.name, (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id)"
    )
    joins = "tickets t LEFT JOIN people r ON r.id = t.requester_id LEFT JOIN people a ON a.id = t.assignee_id LEFT JOIN groups g ON g.id = t.group_id"
    q = dict(x.split("=", 1) for x in url.split("?", 1)[1].split("&")) if "?" in url else {}
    if name == "ticket view":
        tid = int(url.rsplit("/", 1)[1])
        con.execute(f"SELECT t.*, {row_cols} FROM {joins} WHERE t.id = ?", (tid,)).fetchall()
        ids = [
            r[0]
            for r in con.execute(
                "SELECT id, body_text, author_id FROM messages WHERE ticket_id = ? ORDER BY created_at, id LIMIT 50",
                (tid,),
            )
        ]
        con.execute(
            f"SELECT * FROM attachments WHERE message_id IN ({','.join('?' * len(ids))})", ids
        ).fetchall()
        return
    where, args = [], []
    if q.get("status") in ("open", "pending"):
        where.append("t.status = ?")
        args.append(q["status"])
    elif q.get("status") == "unsolved":
        where.append("t.status IN ('new','open','pending','hold')")
    if q.get("assignee") == "unassigned":
        where.append("t.assignee_id IS NULL")
    elif q.get("assignee"):
        where.append("t.assignee_id = ?")
        args.append(int(q["assignee"]))
    if q.get("channel"):
        where.append("t.channel = ?")
        args.append(q["channel"])
    if q.get("q"):
        words = search.terms(unquote_plus(q["q"]))  # each in some part of the ticket's document
        one = f"SELECT rowid / {search.PARTS} FROM search_fts WHERE search_fts MATCH ?"
        where.append(f"t.id IN ({' INTERSECT '.join([one] * len(words))})")
        args += [f'"{w}"*' for w in words]
    sql_where = f"WHERE {' AND '.join(where)}" if where else ""
    con.execute(
        f"SELECT {row_cols} FROM {joins} {sql_where} ORDER BY t.updated_at DESC, t.id DESC LIMIT 51",
        args,
    ).fetchall()
    status_free = [w for w in where if not w.startswith("t.status")]
    sargs = args[1:] if where and where[0] == "t.status = ?" else args
    con.execute(
        f"SELECT status, count(*) FROM tickets t {'WHERE ' + ' AND '.join(status_free) if status_free else ''} GROUP BY status",
        sargs,
    ).fetchall()


def measure_sqlite(
    root: Path, n_tickets: int, requests: int
) -> list[tuple[str, float, float, float, float]]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from deskmove.config import Project
    from deskmove.web.app import create_app

    rng = random.Random(3)
    project = Project.load(root)
    # As a context manager the client keeps one event loop for every request, as a
    # running server does (otherwise each request starts a thread and a loop of its own).
    with TestClient(create_app(project)) as client:
        return _measure(client, root, n_tickets, requests, rng)


def _measure(
    client: Any, root: Path, n_tickets: int, requests: int, rng: random.Random
) -> list[tuple[str, float, float, float, float]]:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"email": "agent0@shop.example", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    con = sqlite3.connect(root / "deskmove.db")
    out = []
    for name, urls in pages(n_tickets, rng).items():
        for url in urls[:3]:  # warm up caches the way a running server has them
            client.get(url)
            floor_sql(con, name, url, n_tickets)
        server, floor = [], []
        for i in range(requests):
            url = urls[i % len(urls)]
            t0 = time.perf_counter()
            resp = client.get(url)
            _ = resp.content
            server.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200, (url, resp.status_code)
            t0 = time.perf_counter()
            floor_sql(con, name, url, n_tickets)
            floor.append((time.perf_counter() - t0) * 1000)
        out.append(
            (
                name,
                statistics.median(server),
                pct(server, 95),
                statistics.median(floor),
                pct(floor, 95),
            )
        )
    return out


# -- 2. PostgreSQL under load ----------------------------------------------------------
def _cpu_seconds(roots: list[int]) -> float:
    """User + system CPU seconds of these processes and all their descendants (Linux)."""

    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid, seconds in cpu.items():
        p = pid
        while p > 1:
            if p in roots:
                total += seconds
                break
            p = parent.get(p, 0)
    return total


def load_postgres(
    root: Path, url: str, n_tickets: int, clients: int, seconds: float, pg_pid: int = 0
) -> dict:

    import httpx
    from tests.servers.postgres import free_port

    port = free_port()
    env = dict(os.environ, DESKMOVE_DATABASE_URL=url)
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"deskmove serve did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
                )
            time.sleep(0.3)
        rng = random.Random(5)
        # The mix the figures before the search changes were taken with: the list, 12
        # filtered lists, the five broad words, "dvorak" (in every ticket), an order
        # number, and 12 tickets.
        p = pages(n_tickets, rng)
        mix = p["list"] + p["filtered list"][:12] + p["broad search"]
        mix += [
            "/tickets?status=all&q=dvorak",
            f"/tickets?status=all&q={rng.randrange(1, n_tickets)}",
        ]
        mix += p["ticket view"][:12]
        results: list[tuple[float, int]] = []
        lock = threading.Lock()
        ready = threading.Barrier(clients + 1, timeout=120)
        stop = time.monotonic() + 3600
        # Sessions are made in the store: 50 argon2 logins at once would measure the hash.
        from deskmove.store import Store
        from deskmove.store import workspace as ws

        store = Store.open(url, root / "blobs", create=False)
        uid = ws.list_users(store)[0].id
        tokens = [ws.create_session(store, uid)[0] for _ in range(clients)]
        store.close()

        def worker(i: int) -> None:
            cookies = {"deskmove_session": tokens[i]}
            with httpx.Client(base_url=base, timeout=30, cookies=cookies) as c:
                ready.wait()
                r = random.Random(i)
                mine = []
                while time.monotonic() < stop:
                    t0 = time.perf_counter()
                    try:
                        status = c.get(r.choice(mix)).status_code
                    except httpx.HTTPError:
                        status = 0
                    mine.append(((time.perf_counter() - t0) * 1000, status))
                with lock:
                    results.extend(mine)

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        ready.wait()
        stop = time.monotonic() + seconds
        t0 = time.monotonic()
        cpu0 = _cpu_seconds([proc.pid]), _cpu_seconds([pg_pid])
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        cpu = _cpu_seconds([proc.pid]) - cpu0[0], _cpu_seconds([pg_pid]) - cpu0[1]
        times = [ms for ms, _s in results]
        errors = sum(1 for _ms, s in results if s != 200)
        return {
            "requests": len(results),
            "seconds": wall,
            "rps": len(results) / wall,
            "errors": errors,
            "p50": statistics.median(times),
            "p95": pct(times, 95),
            "cpu_serve": cpu[0] * 1000 / max(1, len(results)),
            "cpu_pg": cpu[1] * 1000 / max(1, len(results)),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument(
        "--pg-tickets",
        type=int,
        default=None,
        help="store size for the PostgreSQL run (default: --tickets)",
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="requests per page for the latency figures"
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true", help="only the PostgreSQL load")
    parser.add_argument("--keep", help="build the stores in this folder and keep them")
    parser.add_argument("--root", help="re-measure the SQLite store kept by an earlier --keep")
    args = parser.parse_args()
    from deskmove.config import init_project

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="deskmove-bench-serve-"))
    try:
        if not args.skip_sqlite:
            root = Path(args.root) / "sqlite" if args.root else tmp / "sqlite"
            if args.root:
                kept_store(root / "deskmove.db", "an earlier --keep DIR made: --root DIR")
            else:
                init_project(root)
                t0 = time.perf_counter()
                n_msgs = generate(f"sqlite:///{root / 'deskmove.db'}", root / "blobs", args.tickets)
                print(
                    f"SQLite store: {args.tickets:,} tickets, {n_msgs:,} messages, indexed in {time.perf_counter() - t0:.0f} s"
                )
            rows = measure_sqlite(root, args.tickets, args.requests)
            print(
                f"\nserver time per request, ms ({args.requests} requests each; floor = the bare SQL with sqlite3)"
            )
            print(f"{'page':<16}{'p50':>8}{'p95':>8}{'floor p50':>11}{'floor p95':>11}")
            for name, p50, p95, f50, f95 in rows:
                print(f"{name:<16}{p50:>8.1f}{p95:>8.1f}{f50:>11.1f}{f95:>11.1f}")
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"peak memory {peak:.0f} MB (this process); load average {os.getloadavg()[0]:.1f}"
            )
        if args.skip_postgres:
            return
        from tests.servers.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        try:
            n = args.pg_tickets or args.tickets
            url = server.create_database("bench_serve")
            pg_root = tmp / "postgres"
            init_project(pg_root)
            t0 = time.perf_counter()
            n_msgs = generate(url, pg_root / "blobs", n)
            print(
                f"\nPostgreSQL store: {n:,} tickets, {n_msgs:,} messages, indexed in {time.perf_counter() - t0:.0f} s"
            )
            pg_pid = int((server.data / "postmaster.pid").read_text().split()[0])
            res = load_postgres(pg_root, url, n, args.clients, args.seconds, pg_pid)
            print(
                f"{args.clients} clients, 2 uvicorn workers, {res['seconds']:.0f} s: {res['requests']:,} requests, "
                f"{res['rps']:.0f} req/s, p50 {res['p50']:.0f} ms, p95 {res['p95']:.0f} ms, {res['errors']} errors"
            )
            print(
                f"CPU per request: {res['cpu_serve']:.1f} ms in the workers, {res['cpu_pg']:.1f} ms in PostgreSQL; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
        finally:
            server.stop()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
