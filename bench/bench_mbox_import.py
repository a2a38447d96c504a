"""Benchmark: mbox import end to end (parse, thread, blobs, store writes) beside a stdlib floor.

The floor is the standard library doing the least comparable work: ``mailbox.mbox``
iteration plus ``BytesParser(policy=default)`` reading each body and attachment.
deskmove runs ``import_source`` into a fresh SQLite project. Each side runs in its
own process so peak memory (max RSS) is its own; deskmove also runs on half the
mailbox to show memory stays flat as the file grows. Both sides run ``--runs`` times,
alternately, and the medians are printed: wall seconds, and CPU seconds of the
importing process and of its parsing worker processes (how busy each side kept a
core), beside the machine's load average.

    python bench/bench_mbox_import.py                  # 50,000 messages
    python bench/bench_mbox_import.py --messages 2000  # a quick run
    python bench/bench_mbox_import.py --maildir        # also the same mails as a Maildir

With ``--maildir`` the same mails are also written one file each into a Maildir's
``cur/`` and imported from there (``maildir:PATH``), beside the same floor reading
the Maildir (``mailbox.Maildir`` instead of ``mailbox.mbox``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's deskmove, whatever is installed
sys.path.insert(0, str(ROOT / "bench"))

from _common import compiled  # noqa: E402

TEXTS = [
    (
        "cs",
        "windows-1250",
        "Objednávka č. {n} nedorazila",
        "Dobrý den,\nobjednávka č. {n} stále nedorazila, prosím o kontrolu. Děkuji.\n",
    ),
    (
        "cs",
        "iso-8859-2",
        "Reklamace zboží {n}",
        "Dobrý den,\nzboží z objednávky {n} je poškozené. Přikládám fotografii.\n",
    ),
    (
        "pl",
        "iso-8859-2",
        "Zamówienie {n}",
        "Dzień dobry,\nzamówienie {n} nie dotarło. Proszę o sprawdzenie przesyłki.\n",
    ),
    (
        "ru",
        "koi8-r",
        "Заказ номер {n}",
        "Здравствуйте!\nЗаказ №{n} до сих пор не пришёл, подскажите, пожалуйста.\n",
    ),
    ("ru", "windows-1251", "Возврат {n}", "Здравствуйте!\nПрошу оформить возврат по заказу {n}.\n"),
    (
        "en",
        "utf-8",
        "Order #{n} is late",
        "Hi,\norder #{n} has not arrived yet, could you check?\n",
    ),
]
FILLER = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"


def _mail(
    rng: random.Random, i: int, when: datetime, parent: str | None, refs: list[str]
) -> tuple[bytes, str]:
    lang, charset, subject, body = TEXTS[i % len(TEXTS)]
    n = 10000 + i // 3
    mid = f"<b{i}.{rng.getrandbits(32):08x}@bench.example>"
    agent = parent is not None and i % 2 == 0
    sender = "support@shop.example" if agent else f"customer{i % 997}@mail{i % 13}.example"
    subj = Header(("Re: " if parent else "") + subject.format(n=n), charset).encode()
    text = body.format(n=n) + FILLER * rng.choice([1, 3, 8, 30, 80])
    head = [
        f"From: {sender}",
        "To: support@shop.example",
        f"Subject: {subj}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: {mid}",
        "MIME-Version: 1.0",
    ]
    if parent:
        head += [f"In-Reply-To: {parent}", f"References: {' '.join(refs)}"]
    part = (
        f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n\r\n".encode()
        + base64.encodebytes(text.encode(charset, "replace"))
    )
    kind = i % 20
    if kind == 3:  # a photo or a PDF: 20-150 KB
        blob = rng.randbytes(rng.choice([20_000, 60_000, 150_000]))
        b = f"=_b{i}"
        head.append(f'Content-Type: multipart/mixed; boundary="{b}"')
        body_bytes = (
            f"--{b}\r\n".encode()
            + part
            + f'\r\n--{b}\r\nContent-Type: application/pdf; name="doc{i}.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n".encode()
            + base64.encodebytes(blob)
            + f"--{b}--\r\n".encode()
        )
    elif kind == 7:  # HTML with a plain alternative
        b = f"=_a{i}"
        head.append(f'Content-Type: multipart/alternative; boundary="{b}"')
        html = "<html><body><p>" + text.replace("\n", "<br>") + "</p></body></html>"
        body_bytes = (
            f"--{b}\r\n".encode()
            + part
            + f"\r\n--{b}\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n".encode()
            + html.encode()
            + f"\r\n--{b}--\r\n".encode()
        )
    else:
        head_part, _, payload = part.partition(b"\r\n\r\n")
        head += head_part.decode().split("\r\n")
        body_bytes = payload
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body_bytes, mid


def generate(path: Path, count: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    when = datetime(2023, 1, 1, tzinfo=UTC)
    threads: list[list[str]] = []
    with path.open("wb") as fh:
        for i in range(count):
            when += timedelta(minutes=rng.randint(1, 30))
            refs = rng.choice(threads[-50:]) if threads and rng.random() < 0.6 else None
            raw, mid = _mail(rng, i, when, refs[-1] if refs else None, refs or [])
            if refs is not None:
                refs.append(mid)
            else:
                threads.append([mid])
            fh.write(f"From bench@example.com {when.strftime('%a %b %e %H:%M:%S %Y')}\n".encode())
            fh.write(raw.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ") + b"\n\n")


def to_maildir(mbox: Path, folder: Path) -> None:
    """The mbox's mails, one file each in a Maildir's cur/ (seen), in the mbox's order."""
    import mailbox

    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    box = mailbox.mbox(mbox, create=False)
    for i, key in enumerate(box.iterkeys()):
        (folder / "cur" / f"{1_700_000_000 + i}.M{i}P1.bench:2,S").write_bytes(box.get_bytes(key))


def run_floor(path: str) -> dict:
    import mailbox
    from email import policy
    from email.parser import BytesParser

    parser = BytesParser(policy=policy.default)
    if Path(path).is_dir():
        box = mailbox.Maildir(path, factory=None, create=False)
    else:
        box = mailbox.mbox(path, create=False)
    start, cpu, n = time.perf_counter(), time.process_time(), 0
    for key in box.iterkeys():
        msg = parser.parsebytes(box.get_bytes(key))
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is not None:
            body.get_content()
        for att in msg.iter_attachments():
            att.get_payload(decode=True)
        n += 1
    return {"messages": n, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}


def run_deskmove(path: str, project: str) -> dict:
    from deskmove.config import Project, init_project
    from deskmove.sync import import_source, open_store

    root = Path(project)
    init_project(root)
    (root / "deskmove.toml").write_text('[mail]\nsupport_addresses = ["support@shop.example"]\n')
    proj = Project.load(root)
    store = open_store(proj)
    start, cpu, workers = time.perf_counter(), time.process_time(), _children_cpu()
    kind = "maildir" if Path(path).is_dir() else "mbox"
    report = import_source(proj, store, f"{kind}:{path}")
    seconds = time.perf_counter() - start
    cpu, workers = time.process_time() - cpu, _children_cpu() - workers
    store.close()
    return {
        "messages": report.read,
        "seconds": seconds,
        "new": report.new,
        "cpu": cpu,
        "workers_cpu": workers,
    }


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the parsing workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child(kind: str, path: str, project: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--path", path, "--project", project],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "new"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3, help="runs of each side; medians are printed")
    ap.add_argument("--maildir", action="store_true", help="also the same mails as a Maildir")
    ap.add_argument("--child", choices=["floor", "deskmove"])
    ap.add_argument("--path")
    ap.add_argument("--project")
    args = ap.parse_args()
    if args.child:
        result = (
            run_floor(args.path) if args.child == "floor" else run_deskmove(args.path, args.project)
        )
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    compiled(ROOT / "src")
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="deskmove-bench-") as tmp:
        big, half = Path(tmp) / "big.mbox", Path(tmp) / "half.mbox"
        t = time.perf_counter()
        generate(big, args.messages)
        generate(half, args.messages // 2)
        size = big.stat().st_size / 1e6
        print(
            f"generated {args.messages} messages ({size:.0f} MB) in {time.perf_counter() - t:.0f}s"
        )
        floors, ours_runs = [], []
        for i in range(args.runs):
            floors.append(_child("floor", str(big), ""))
            ours_runs.append(_child("deskmove", str(big), str(Path(tmp) / f"p{i}")))
            load.append(os.getloadavg()[0])
        ours_half = _child("deskmove", str(half), str(Path(tmp) / "half"))
        md_floors, md_runs = [], []
        if args.maildir:
            folder = Path(tmp) / "Maildir"
            to_maildir(big, folder)
            for i in range(args.runs):
                md_floors.append(_child("floor", str(folder), ""))
                md_runs.append(_child("deskmove", str(folder), str(Path(tmp) / f"m{i}")))
                load.append(os.getloadavg()[0])
    floor, ours = _median(floors), _median(ours_runs)
    rate = lambda r: r["messages"] / r["seconds"]  # noqa: E731
    print(
        f"medians of {args.runs} runs each; load average (1 min) {min(load):.1f}-{max(load):.1f} "
        f"on {os.cpu_count()} cores"
    )
    print("floor (mailbox.mbox + BytesParser(policy=default), bodies and attachments read):")
    print(
        f"  {floor['messages']:.0f} messages, {floor['seconds']:.2f} s, {rate(floor):,.0f} msg/s, "
        f"{floor['cpu']:.2f} CPU s, peak RSS {floor['peak_rss_mb']:.0f} MB"
    )
    print("deskmove import_source (parse, thread, blobs, search index, SQLite writes):")
    print(
        f"  {ours['messages']:.0f} messages, {ours['seconds']:.2f} s, {rate(ours):,.0f} msg/s, "
        f"peak RSS {ours['peak_rss_mb']:.0f} MB"
    )
    print(
        f"  CPU: importing process {ours['cpu']:.2f} s ({ours['cpu'] / ours['seconds']:.0%} of a "
        f"core), parsing workers {ours['workers_cpu']:.2f} s "
        f"({ours['workers_cpu'] / ours['seconds']:.0%} of a core)"
    )
    print(
        f"  half the mailbox: {ours_half['messages']} messages, {rate(ours_half):,.0f} msg/s, "
        f"peak RSS {ours_half['peak_rss_mb']:.0f} MB"
    )
    pairs = ", ".join(
        f"{f['seconds'] / o['seconds']:.2f}x" for f, o in zip(floors, ours_runs, strict=True)
    )
    print(
        f"speed vs floor: {rate(ours) / rate(floor):.2f}x (each run beside its floor: {pairs}); "
        f"memory growth for 2x the input: {ours['peak_rss_mb'] / ours_half['peak_rss_mb']:.2f}x"
    )
    if md_runs:
        md_floor, md = _median(md_floors), _median(md_runs)
        print("the same mails as a Maildir (one file each in cur/):")
        print(
            f"  floor (mailbox.Maildir + BytesParser): {md_floor['seconds']:.2f} s, "
            f"{rate(md_floor):,.0f} msg/s, {md_floor['cpu']:.2f} CPU s"
        )
        print(
            f"  deskmove: {md['messages']:.0f} messages, {md['seconds']:.2f} s, {rate(md):,.0f} "
            f"msg/s, importing process {md['cpu']:.2f} CPU s, parsing workers "
            f"{md['workers_cpu']:.2f} s, peak RSS {md['peak_rss_mb']:.0f} MB"
        )
        print(f"  speed vs floor: {rate(md) / rate(md_floor):.2f}x")


if __name__ == "__main__":
    main()
