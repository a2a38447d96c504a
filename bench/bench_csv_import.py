"""Benchmark: import of a canonical CSV folder (tickets.csv, messages.csv, people.csv).

    .venv/bin/python bench/bench_csv_import.py                       # 100,000 tickets, 500,000 messages
    .venv/bin/python bench/bench_csv_import.py --tickets 2000 --messages 10000
    .venv/bin/python bench/bench_csv_import.py --profile             # cProfile of the import

Generates the data into a temporary folder (never the repo), then runs, each in a
fresh process so peak memory is its own:

  floor     ``csv.reader`` over the three files + ``sqlite3.executemany`` of the same
            rows into plain tables (one transaction per 5,000 rows, WAL, like deskmove)
  floor in deskmove's tables
            the same, into a fresh deskmove store's own tables with their indexes:
            people and their addresses, tickets, messages, one provenance row per
            record and each message's text in the FTS5 search table (the writes an
            import cannot avoid), values as the CSV has them
  deskmove  ``deskmove import csv:DIR`` into a fresh SQLite store: encoding and delimiter
            detection, order check, parsing and validation, provenance, change hashes,
            people resolution, messages, ids

and prints messages/s, the ratio to the floor and peak RSS (ru_maxrss) of each.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from _common import child_report, run_child, table  # noqa: E402

from deskmove import csvlayout as L  # noqa: E402

TEXTS = [
    "Dobrý den,\nobjednávka č. {n} stále nedorazila. Můžete to prosím ověřit? Děkuji, Jana",
    "Dzień dobry, zamówienie nr {n} nie dotarło; proszę o sprawdzenie przesyłki i zwrot pieniędzy.",
    "Здравствуйте! Заказ № {n} до сих пор не пришёл. Проверьте, пожалуйста, посылку.",
    'Hi, the invoice for order #{n} says "£1,250.50" but the basket was £1,150.50 — please fix it.',
    "Děkujeme za zprávu, zásilku {n} jsme dohledali a posíláme ji znovu. S pozdravem, podpora",
]


def generate(folder: Path, n_tickets: int, n_messages: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    customers = [f"customer{i}@example{i % 50}.cz" for i in range(max(10, n_tickets // 5))]
    agents = [f"agent{i}@shop.example" for i in range(20)]
    with (folder / "people.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(L.PEOPLE)
        for i, e in enumerate(customers):
            w.writerow([e, f"Zákazník {i}", "customer", f"Firma {i % 300}", "", ""])
        for i, e in enumerate(agents):
            w.writerow([e, f"Agent {i}", "agent", "", "", ""])
    per = n_messages // n_tickets
    extra = n_messages - per * n_tickets
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    mid = 0
    with (
        (folder / "tickets.csv").open("w", encoding="utf-8", newline="") as ft,
        (folder / "messages.csv").open("w", encoding="utf-8", newline="") as fm,
    ):
        wt, wm = csv.writer(ft, lineterminator="\r\n"), csv.writer(fm, lineterminator="\r\n")
        wt.writerow(L.TICKETS)
        wm.writerow(L.MESSAGES)
        for n in range(1, n_tickets + 1):
            req, agent = rng.choice(customers), rng.choice(agents)
            created = t0 + timedelta(seconds=rng.randrange(3 * 10**7))
            k = per + (1 if n <= extra else 0)
            wt.writerow(
                [
                    n,
                    "",
                    "",
                    f"Objednávka {n}: dotaz",
                    rng.choice(("open", "solved", "pending")),
                    "normal",
                    "",
                    "email",
                    req,
                    agent,
                    "Podpora",
                    "",
                    "cz vip",
                    created.isoformat(),
                    (created + timedelta(hours=k)).isoformat(),
                    "",
                    k,
                    json.dumps({"order": n}),
                    "",
                    "",
                ]
            )
            for j in range(k):
                mid += 1
                inbound = j % 2 == 0
                wm.writerow(
                    [
                        mid,
                        n,
                        "",
                        f"<m{mid}@example>",
                        req if inbound else agent,
                        "",
                        "inbound" if inbound else "outbound",
                        "true",
                        (created + timedelta(hours=j)).isoformat(),
                        "",
                        rng.choice(TEXTS).format(n=n) * rng.choice((1, 2, 3)),
                        "",
                        0,
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                    ]
                )


def floor(folder: Path, db: Path) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    n_messages = 0
    for name, cols in (("people", L.PEOPLE), ("tickets", L.TICKETS), ("messages", L.MESSAGES)):
        con.execute(f"CREATE TABLE {name} ({', '.join(f'c{i} TEXT' for i in range(len(cols)))})")
        insert = f"INSERT INTO {name} VALUES ({', '.join('?' * len(cols))})"
        with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader)
            while True:
                chunk = [row for _i, row in zip(range(5000), reader, strict=False)]
                if not chunk:
                    break
                con.execute("BEGIN")
                con.executemany(insert, chunk)
                con.execute("COMMIT")
                if name == "messages":
                    n_messages += len(chunk)
    con.close()
    child_report(time.perf_counter() - started, n_messages, cpu=time.process_time() - cpu)


def floor_schema(folder: Path, project_dir: Path) -> None:
    """The same rows into deskmove's own tables, with their indexes: people and their
    addresses, tickets, messages, a provenance row for each, and each message's text
    in the FTS5 search table. Values go in as the CSV has them (no parsing or checks)."""
    from deskmove.config import Project, init_project
    from deskmove.store import Store

    init_project(project_dir)
    project = Project.load(project_dir)
    Store.open(project.store_url, project.blob_root).close()
    db = project.store_url.removeprefix("sqlite:///")
    started, cpu = time.perf_counter(), time.process_time()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA cache_size=-65536")
    prov = (
        "INSERT INTO provenance (connection, kind, native_id, entity_id, content_hash, run_id,"
        " updated_at) VALUES ('csv', ?, ?, ?, NULL, 1, '2024-01-01 00:00:00.000000')"
    )
    people_sql = "INSERT INTO people (id, name, role, phone) VALUES (?, ?, ?, ?)"
    email_sql = 'INSERT INTO person_emails (person_id, email, "primary") VALUES (?, ?, 1)'
    ticket_sql = (
        "INSERT INTO tickets (id, subject, status, priority, type, channel, requester_id,"
        " assignee_id, tags, custom_fields, created_at, updated_at, is_auto, is_spam)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, 0, 0)"
    )
    msg_sql = (
        'INSERT INTO messages (id, ticket_id, author_id, public, direction, created_at, "to",'
        ' cc, "references", headers, is_auto, subject, body_text, message_id)'
        " VALUES (?, ?, ?, 1, ?, ?, '[]', '[]', '[]', '{}', 0, ?, ?, ?)"
    )
    fts_sql = "INSERT INTO search_fts (rowid, doc) VALUES (?, ?)"
    people: dict[str, int] = {}

    def chunks(name: str):
        with (folder / name).open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader)
            while chunk := [row for _i, row in zip(range(5000), reader, strict=False)]:
                yield chunk

    for chunk in chunks("people.csv"):
        rows = [(len(people) + i + 1, r) for i, r in enumerate(chunk)]
        people.update((r[0], pid) for pid, r in rows)
        con.execute("BEGIN")
        con.executemany(people_sql, [(pid, r[1], r[2], r[4] or None) for pid, r in rows])
        con.executemany(email_sql, [(pid, r[0]) for pid, r in rows])
        con.executemany(prov, [("person", r[0], pid) for pid, r in rows])
        con.execute("COMMIT")
    tickets: dict[str, int] = {}
    for chunk in chunks("tickets.csv"):
        rows = [(len(tickets) + i + 1, r) for i, r in enumerate(chunk)]
        tickets.update((r[0], tid) for tid, r in rows)
        con.execute("BEGIN")
        con.executemany(
            ticket_sql,
            [
                (
                    tid,
                    r[3],
                    r[4],
                    r[5] or None,
                    r[6] or None,
                    r[7],
                    people.get(r[8]),
                    people.get(r[9]),
                    r[17] or "{}",
                    r[13],
                    r[14],
                )
                for tid, r in rows
            ],
        )
        con.executemany(prov, [("ticket", r[0], tid) for tid, r in rows])
        con.execute("COMMIT")
    n_messages = 0
    for chunk in chunks("messages.csv"):
        rows = [(n_messages + i + 1, r) for i, r in enumerate(chunk)]
        n_messages += len(rows)
        con.execute("BEGIN")
        con.executemany(
            msg_sql,
            [
                (mid, tickets[r[1]], people.get(r[4]), r[6], r[8], r[9] or None, r[10], r[3])
                for mid, r in rows
            ],
        )
        con.executemany(prov, [("message", r[0], mid) for mid, r in rows])
        con.executemany(fts_sql, [(mid, r[10]) for mid, r in rows])
        con.execute("COMMIT")
    con.close()
    child_report(time.perf_counter() - started, n_messages, cpu=time.process_time() - cpu)


def deskmove(folder: Path, project_dir: Path, profile: bool) -> None:
    from deskmove.config import Project, init_project
    from deskmove.store import Store
    from deskmove.sync import import_source

    init_project(project_dir)
    project = Project.load(project_dir)
    store = Store.open(project.store_url, project.blob_root)
    started, cpu = time.perf_counter(), time.process_time()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        report = prof.runcall(import_source, project, store, f"csv:{folder}")
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    else:
        report = import_source(project, store, f"csv:{folder}")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    assert report.quarantined == 0 and report.balanced, report.summary()
    child_report(seconds, report.counts.new["message"], read=report.read, cpu=cpu)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=500_000)
    ap.add_argument("--profile", action="store_true", help="cProfile the deskmove import (stderr)")
    ap.add_argument("--step", choices=["floor", "floor-schema", "deskmove"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step == "floor":
        return floor(args.dir / "data", args.dir / "floor.db")
    if args.step == "floor-schema":
        return floor_schema(args.dir / "data", args.dir / "floor-project")
    if args.step == "deskmove":
        return deskmove(args.dir / "data", args.dir / "project", args.profile)

    work = Path(tempfile.mkdtemp(prefix="deskmove-bench-csv-"))
    try:
        started = time.perf_counter()
        generate(work / "data", args.tickets, args.messages)
        size = sum(p.stat().st_size for p in (work / "data").iterdir()) / 2**20
        print(
            f"generated {args.tickets:,} tickets, {args.messages:,} messages "
            f"({size:.0f} MB of CSV) in {time.perf_counter() - started:.1f}s"
        )
        base = [
            "--dir",
            str(work),
            "--tickets",
            str(args.tickets),
            "--messages",
            str(args.messages),
        ]
        fl = run_child(Path(__file__), [*base, "--step", "floor"], "floor (csv + executemany)")
        fs = run_child(
            Path(__file__), [*base, "--step", "floor-schema"], "floor in deskmove's tables"
        )
        dm_args = [*base, "--step", "deskmove"] + (["--profile"] if args.profile else [])
        if args.profile:
            import subprocess

            subprocess.run([sys.executable, __file__, *dm_args], check=True)
            return
        dm = run_child(Path(__file__), dm_args, "deskmove import csv:")
        print(table([fl, fs, dm], fl, "msg"))
        print("peak RSS: ru_maxrss of each step's own process")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
