"""Benchmark: ``deskmove audit`` over a store of 100,000 tickets.

    .venv/bin/python bench/bench_audit.py                  # 100,000 tickets, ~300,000 messages
    .venv/bin/python bench/bench_audit.py --tickets 20000  # a smaller store, to compare memory
    .venv/bin/python bench/bench_audit.py --keep /tmp/b     # keep the store; then --root /tmp/b/project

Builds a SQLite store in a temporary folder (never the repo): mail tickets with the
headers a mailbox keeps (Delivered-To, X-Original-To, List-Id, Auto-Submitted, …),
signatures with phone numbers, REST tickets with via channels. Then runs, each in a
fresh process so peak memory is its own:

  floor     the bare minimum of the same work with ``sqlite3``: one pass over the
            messages' headers, recipients and bodies with ``json.loads``, plus the
            GROUP BY queries for per-ticket first/last message, per-year volume and
            the weekday-hour grid
  deskmove  ``run_audit`` (the scan, the checklist, every plan section) and rendering
            it as Markdown, HTML and JSON; its CPU counts the scan's worker processes
            (``DESKMOVE_WORKERS=1`` to scan in one process)

and prints tickets/s, the ratio to the floor and peak RSS (ru_maxrss) of each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
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

from _common import child_report, kept_store, run_child, table  # noqa: E402

BODIES = [
    "Dobrý den,\nobjednávka č. {n} stále nedorazila. Děkuji, Jana\nTel.: 602 {a:03d} {b:03d}",
    "Dzień dobry, zamówienie nr {n} nie dotarło.\n--\nMarek\ntel. +48 22 {a:03d} {b:02d} 11",
    "Здравствуйте! Заказ № {n} до сих пор не пришёл.\nТел.: +7 (495) {a:03d}-{b:02d}-67",
    "Hi, the invoice for order #{n} is wrong; the basket was £1,150.50.",
]
SIGNATURE = "\n\nS pozdravem\nPodpora | tel. +420 222 333 444 | podpora@shop.cz"
ALIASES = ["podpora@shop.cz", "info@shop.cz", "reklamace@shop.cz", "obchod@stary-obchod.cz"]


def generate(url: str, blobs: Path, n_tickets: int, seed: int = 11) -> int:
    """Fill a fresh store with Core bulk inserts; returns the number of messages."""
    from deskmove.model import Message, Person, PersonEmail, Ticket
    from deskmove.store import Store

    rng = random.Random(seed)
    store = Store.open(url, blobs)
    people = max(50, n_tickets // 4)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    n_msgs = 0
    with store.begin() as conn:
        conn.execute(
            Person.__table__.insert(),
            [
                {"id": i + 1, "name": f"Zákazník {i}", "role": "agent" if i < 10 else "customer"}
                for i in range(people)
            ],
        )
        conn.execute(
            PersonEmail.__table__.insert(),
            [
                {
                    "person_id": i + 1,
                    "primary": True,
                    "email": f"agent{i}@shop.cz"
                    if i < 10
                    else "noreply@shop.cz"
                    if i == 10
                    else f"c{i}@firma{i % 400}.cz",
                }
                for i in range(people)
            ],
        )
    for lo in range(0, n_tickets, 5000):
        tickets, messages = [], []
        for tid in range(lo + 1, min(n_tickets, lo + 5000) + 1):
            when = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 900))
            rest = rng.random() < 0.2
            channel = rng.choice(["chat", "web", "phone", "social", "api"]) if rest else "email"
            tickets.append(
                {
                    "id": tid,
                    "subject": f"Objednávka {tid}",
                    "status": rng.choice(["open", "pending", "solved", "closed"]),
                    "channel": channel,
                    "tags": [],
                    "custom_fields": {},
                    "requester_id": rng.randrange(12, people + 1),
                    "created_at": when,
                    "updated_at": when,
                }
            )
            for k in range(rng.choice((1, 2, 3, 3, 4, 5))):
                messages.append(_message(rng, tid, k, when + timedelta(hours=7 * k), rest, people))
        n_msgs += len(messages)
        with store.begin() as conn:
            conn.execute(Ticket.__table__.insert(), tickets)
            conn.execute(Message.__table__.insert(), messages)
    store.close()
    return n_msgs


def _message(rng: random.Random, tid: int, k: int, when: datetime, rest: bool, people: int) -> dict:
    inbound = k % 2 == 0
    author = rng.randrange(12, people + 1) if inbound else rng.randrange(1, 11)
    headers: dict = {}
    if rest:
        headers = {"via": {"channel": "chat", "source": {"from": {}, "to": {}, "rel": None}}}
    elif inbound:
        alias = rng.choice(ALIASES)
        headers = {"delivered-to": ["podpora@shop.cz"], "x-original-to": [alias]}
        roll = rng.random()
        if roll < 0.03:
            headers |= {"list-id": ["<novinky.dodavatel.cz>"], "precedence": ["bulk"]}
        elif roll < 0.06:
            headers |= {"auto-submitted": ["auto-generated"], "x-mailer": ["Shoptet"]}
        elif roll < 0.08:
            headers |= {
                "reply-to": [f"c{tid}@seznam.cz"],
                "x-php-originating-script": ["33:kontakt.php"],
            }
            author = 11  # noreply@shop.cz: the website's contact form
    if inbound:
        body = rng.choice(BODIES).format(n=tid, a=rng.randrange(1000), b=rng.randrange(100))
    else:
        body = f"Dobrý den, zásilku {tid} jsme dohledali a posíláme ji znovu." + SIGNATURE
    return {
        "ticket_id": tid,
        "author_id": author,
        "direction": "inbound" if inbound else "outbound",
        "created_at": when,
        "created_tz": rng.choice((60, 120, 180, None)),
        "subject": None,
        "body_text": body,
        "to": ["podpora@shop.cz"] if inbound else [],
        "cc": [],
        "references": [],
        "headers": headers,
        "public": True,
        "is_auto": False,
        "message_id": f"<{tid}.{k}@mail>",
        "in_reply_to": f"<{tid}.{k - 1}@mail>" if k else None,
    }


def step_floor(db: Path) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    con = sqlite3.connect(db)
    n = 0
    for _tid, _aid, _d, _c, to, cc, headers, body in con.execute(
        'SELECT ticket_id, author_id, direction, created_at, "to", cc, headers, body_text FROM messages'
    ):
        json.loads(headers), json.loads(to), json.loads(cc)
        n += len(body or "")
    con.execute(
        "SELECT ticket_id, min(created_at), max(created_at) FROM messages GROUP BY ticket_id"
    ).fetchall()
    con.execute("SELECT strftime('%Y', created_at), count(*) FROM messages GROUP BY 1").fetchall()
    con.execute(
        "SELECT strftime('%w', created_at, printf('%+d minutes', coalesce(created_tz, 60))) d, "
        "strftime('%H', created_at, printf('%+d minutes', coalesce(created_tz, 60))) h, count(*) "
        "FROM messages WHERE direction = 'inbound' GROUP BY d, h"
    ).fetchall()
    tickets = con.execute("SELECT count(*) FROM tickets").fetchone()[0]
    child_report(time.perf_counter() - t0, tickets, cpu=time.process_time() - c0)


def step_deskmove(root: Path, profile: bool) -> None:
    from deskmove.audit import render, run_audit
    from deskmove.config import Project
    from deskmove.store import Store

    project = Project.load(root)
    t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    store = Store.open(project.store_url, project.blob_root)
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    report = run_audit(project, store)
    sizes = {fmt: len(render(report, fmt)) for fmt in ("md", "html", "json")}
    if profile:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    store.close()
    own = time.process_time() - c0
    workers = _children_cpu() - k0
    child_report(
        time.perf_counter() - t0,
        report.plan["volume"]["totals"]["tickets"],
        cpu=own + workers,
        cpu_own=own,
        cpu_workers=workers,
        checklist_items=len(report.items),
        **{f"{k}_bytes": v for k, v in sizes.items()},
    )


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the audit's scan workers)."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--step", choices=["generate", "floor", "deskmove"])
    parser.add_argument("--root", help="measure an existing store (made with --keep)")
    parser.add_argument("--keep", help="build the store in this folder and keep it")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.step == "floor":
        return step_floor(Path(args.root) / "deskmove.db")
    if args.step == "deskmove":
        return step_deskmove(Path(args.root), args.profile)
    if args.step == "generate":
        root, t0 = Path(args.root), time.perf_counter()
        n_msgs = generate(f"sqlite:///{root / 'deskmove.db'}", root / "blobs", args.tickets)
        return child_report(time.perf_counter() - t0, args.tickets, messages=n_msgs)
    from deskmove.config import init_project

    if args.root:  # a store made by an earlier run with --keep: measure it again
        root = kept_store(
            Path(args.root) / "deskmove.db", "--keep made: --root KEEP/project"
        ).parent
        return measure(root, args.profile)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="deskmove-bench-audit-"))
    try:
        root = tmp / "project"
        init_project(root)
        # Built in a child too, so the measured children do not inherit this process's peak RSS.
        made = run_child(
            Path(__file__),
            ["--root", str(root), "--tickets", str(args.tickets), "--step", "generate"],
            "generate",
        )
        print(
            f"generated {made.items:,} tickets, {made.extra['messages']:,} messages in {made.seconds:.1f}s"
        )
        measure(root, args.profile)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(root: Path, profile: bool) -> None:
    base = ["--root", str(root)]
    fl = run_child(Path(__file__), [*base, "--step", "floor"], "floor (sqlite3 + json)")
    dm = run_child(
        Path(__file__),
        [*base, "--step", "deskmove"] + (["--profile"] if profile else []),
        "deskmove audit (md+html+json)",
    )
    print(table([fl, dm], fl, "ticket"))
    print(
        f"deskmove CPU in all processes {dm.extra['cpu']:.2f} s (audit process "
        f"{dm.extra['cpu_own']:.2f}, scan workers {dm.extra['cpu_workers']:.2f}); "
        f"wall {dm.seconds / fl.seconds:.2f}x the floor's, CPU {dm.extra['cpu'] / fl.extra['cpu']:.2f}x; "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(
        f"checklist items: {dm.extra['checklist_items']}; output bytes: md {dm.extra['md_bytes']:,}, "
        f"html {dm.extra['html_bytes']:,}, json {dm.extra['json_bytes']:,}"
    )
    print("peak RSS: ru_maxrss of each step's own process")


if __name__ == "__main__":
    main()
