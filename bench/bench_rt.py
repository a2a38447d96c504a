"""Benchmark: push tickets into a local Request Tracker 5 and read them back, beside bare REST2.

    .venv/bin/python bench/bench_rt.py                        # 1,000 tickets, 5,000 messages
    .venv/bin/python bench/bench_rt.py --tickets 200 --messages 5

A throwaway RT (tests/servers/rt.py: Debian's request-tracker5 over SQLite) runs on
127.0.0.1. A store is filled with ``--tickets`` tickets of ``--messages`` messages
each (Czech text, every fifth message internal, one attachment per ticket), then:

  push   ``deskmove export rt://…/Push``   (users matched or created by e-mail, a
         ticket with its first message, a Correspond or Comment for each other one)
  read   ``deskmove import rt://…/Push``   (TicketSQL pages, each ticket's history
         and attachments, the attachment bytes)

The floor is the same objects through bare httpx calls with the same RT session: one
POST /ticket per ticket (with its first message and file), one POST correspond/comment
per further message; reading: one search page per 100 tickets, each ticket's history and
attachments listings, one GET per attachment. RT does most of the work in both, so the
ratio says what deskmove adds. Printed: tickets/s, requests, x floor, client CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.servers.rt import RTServer  # noqa: E402

from deskmove.config import Project, init_project  # noqa: E402
from deskmove.records import AttachmentRec, Batch, MessageRec, PersonRef, TicketRec  # noqa: E402
from deskmove.store import Store  # noqa: E402

T0 = datetime(2024, 1, 8, 8, 0, tzinfo=UTC)
FILE = bytes(range(256)) * 40  # 10 KiB


def fill(store: Store, tickets: int, messages: int) -> None:
    sha = store.blobs.put(FILE)
    for start in range(0, tickets, 100):
        batch = Batch()
        for n in range(start, min(tickets, start + 100)):
            who = PersonRef(email=f"zakaznik{n % 300}@example.cz", name=f"Zákazník {n % 300}")
            agent = PersonRef(email="agent@shop.example", name="Jana Nováková", role="agent")
            msgs = []
            for k in range(messages):
                msgs.append(
                    MessageRec(
                        native_id=f"m{n}-{k}",
                        created_at=T0 + timedelta(hours=n, minutes=k),
                        author=who if k % 2 == 0 else agent,
                        public=k % 5 != 4,
                        direction="inbound" if k % 2 == 0 else "outbound",
                        body_text=f"Zpráva {k} k objednávce {n}: příliš žluťoučký kůň úpěl ďábelské ódy.",
                        attachments=[
                            AttachmentRec(sha, len(FILE), "faktura č.1.pdf", "application/pdf")
                        ]
                        if k == 0
                        else [],
                    )
                )
            batch.tickets.append(
                TicketRec(
                    native_id=f"t{n}",
                    subject=f"Objednávka č. {n}",
                    status="open",
                    requester=who,
                    created_at=T0 + timedelta(hours=n),
                    updated_at=T0 + timedelta(hours=n),
                    messages=msgs,
                )
            )
            batch.read += 1 + messages
        store.ingestor("bench", None).ingest(batch)


def session(rt: RTServer) -> httpx.Client:
    c = httpx.Client(base_url=rt.url, timeout=120, headers={"Referer": rt.url + "/"})
    c.post("/NoAuth/Login.html", data={"user": rt.user, "pass": rt.password})
    return c


def floor_push(rt: RTServer, queue: str, tickets: int, messages: int) -> tuple[float, int, float]:
    c, requests = session(rt), 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for n in range(tickets):
        body = {
            "Queue": queue,
            "Subject": f"Objednávka č. {n}",
            "Requestor": f"zakaznik{n % 300}@example.cz",
            "Content": f"Originally from … Zpráva 0 k objednávce {n}",
            "ContentType": "text/plain",
            "SquelchMailTo": f"zakaznik{n % 300}@example.cz",
        }
        r = c.post(
            "/REST/2.0/ticket",
            data={"JSON": json.dumps(body)},
            files=[("Attachments", ("faktura č.1.pdf", FILE, "application/pdf"))],
        )
        tid, requests = r.json()["id"], requests + 1
        for k in range(1, messages):
            kind = "comment" if k % 5 == 4 else "correspond"
            c.post(
                f"/REST/2.0/ticket/{tid}/{kind}",
                json={"Content": f"Originally from … Zpráva {k}", "ContentType": "text/plain"},
            )
            requests += 1
    return time.perf_counter() - t0, requests, time.process_time() - cpu0


def floor_read(rt: RTServer, queue: str) -> tuple[float, int, float]:
    c, requests = session(rt), 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    page, ids = 1, []
    while True:
        r = c.get(
            "/REST/2.0/tickets",
            params={
                "query": f"Queue = '{queue}'",
                "per_page": 100,
                "page": page,
                "fields": "Subject,Status,LastUpdated,Requestor",
            },
        )
        requests += 1
        items = r.json()["items"]
        ids += [i["id"] for i in items]
        if len(items) < 100:
            break
        page += 1
    for tid in ids:
        c.get(
            f"/REST/2.0/ticket/{tid}/history",
            params={"per_page": 100, "fields": "Type,Created,Creator"},
        )
        atts = c.get(
            f"/REST/2.0/ticket/{tid}/attachments",
            params={"per_page": 100, "fields": "TransactionId,ContentType,Filename,Content"},
        ).json()
        requests += 2
        for a in atts["items"]:
            if a["Filename"]:
                c.get(f"/REST/2.0/attachment/{a['id']}")
                requests += 1
    return time.perf_counter() - t0, requests, time.process_time() - cpu0


def _counting(made: list[Any]) -> None:
    """Every RestClient made from now on goes into ``made``, to count deskmove's requests."""
    from deskmove.rest import http

    original = http.RestClient.__init__

    def init(self: Any, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        made.append(self)

    http.RestClient.__init__ = init  # type: ignore[method-assign]


CLIENTS: list[Any] = []


def deskmove_run(project: Project, store: Store, spec: str, what: str) -> tuple[float, int, float]:
    from deskmove.config import parse_spec
    from deskmove.registry import target_for
    from deskmove.sync import import_source

    before = len(CLIENTS)
    t0, cpu0 = time.perf_counter(), time.process_time()
    if what == "push":
        tgt = target_for(parse_spec(spec), project)
        report = tgt.push(store, store.begin_run("export", spec))
        assert not sum(report.failed.values()), report.notes
    else:
        report = import_source(project, store, spec)
        assert report.balanced and not report.quarantined
    took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return took, sum(c.stats["requests"] for c in CLIENTS[before:]), cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=5, help="messages per ticket")
    args = ap.parse_args()
    _counting(CLIENTS)
    rt = RTServer()
    try:
        rt.init_database()
        rt.start()
        for q in ("Push", "Floor"):
            rt.create_queue(q)
        os.environ.update({"RT_USER": rt.user, "RT_PASSWORD": rt.password})
        with tempfile.TemporaryDirectory(prefix="deskmove-bench-rt-") as tmp:
            root = Path(tmp)
            init_project(root / "a")
            project = Project.load(root / "a")
            store = Store.open(project.store_url, project.blob_root)
            fill(store, args.tickets, args.messages)
            spec = f"rt://127.0.0.1:{rt.port}/Push?tls=none&timezone=Europe/Prague"
            rows = [
                ("push  deskmove", *deskmove_run(project, store, spec, "push")),
                ("push  bare REST2 (floor)", *floor_push(rt, "Floor", args.tickets, args.messages)),
            ]
            init_project(root / "b")
            back = Project.load(root / "b")
            store_b = Store.open(back.store_url, back.blob_root)
            rows += [
                ("read  deskmove", *deskmove_run(back, store_b, spec, "read")),
                ("read  bare REST2 (floor)", *floor_read(rt, "Push")),
            ]
            store.close()
            store_b.close()
    finally:
        rt.cleanup()
    n = args.tickets
    print(f"{n:,} tickets, {n * args.messages:,} messages, one 10 KiB file per ticket, local RT 5")
    print(f"{'step':<28}{'wall s':>9}{'tickets/s':>11}{'requests':>10}{'x floor':>9}{'cpu s':>8}")
    for i, (name, secs, reqs, cpu) in enumerate(rows):
        floor = rows[i | 1][1]
        print(f"{name:<28}{secs:>9.1f}{n / secs:>11.2f}{reqs:>10,}{secs / floor:>9.2f}{cpu:>8.1f}")


if __name__ == "__main__":
    main()
