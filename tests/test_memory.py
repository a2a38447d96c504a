"""Memory stays flat as an import's input grows: the importing process's peak RSS for a
mailbox and for one four times as long differ by no more than a margin.

Each import runs in a fresh interpreter that reports its own peak resident set
(``getrusage(RUSAGE_SELF).ru_maxrss``: the importing process alone, not its parsing
workers), so both figures include the same interpreter, libraries and caches, and the
difference is what grew with the input. The mail is what made memory grow before:
long conversations whose search documents span several parts, a store that outgrows
SQLite's page cache, and mails large and small mixed (big buffers freed among small
ones).
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

import deskmove
from deskmove.config import init_project

SUPPORT = '[mail]\nsupport_addresses = ["support@shop.example"]\n'
WORDS = (
    "dobrý den objednávka ještě nedorazila prosím kontrolu zásilky vrácení peněz "
    "reklamuji poškozené zboží přikládám fotografie účtenku zamówienie przesyłki "
    "здравствуйте заказ посылку пожалуйста"
).split()
SMALL = 250  # mails in the small mailbox; the large one has four times as many
MARGIN_MB = 16  # the code before grew by 32 MB here, this grows by 8 to 11
CONVERSATIONS = 2  # that grow all along: long tickets, long search documents
LARGE_RUN = 80  # mails in a row with 1 MiB each: seven batches (an mbox batch holds 16 MiB)
BATCH = 25  # mails per batch: a few hundred mails are then as many batches as 20,000 are

CHILD = """
import json, resource, sys
from deskmove.config import Project
from deskmove.sources import mbox
from deskmove.sync import import_source, open_store
mbox.BATCH_MAILS = int(sys.argv[3])
project = Project.load(sys.argv[1])
store = open_store(project)
try:
    report = import_source(project, store, "mbox:" + sys.argv[2])
finally:
    store.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"read": report.read, "peak_mb": peak}))
"""


def mailbox(path: Path, count: int, large: range = range(0)) -> Path:
    """``count`` mails in ``CONVERSATIONS`` conversations that grow all along (each mail a
    reply to the one before it in its conversation), bodies of about 2 KiB of words, one
    in ten with a PDF of 30-250 KiB, one in a hundred with one of 1 MiB; the mails numbered
    in ``large`` all with one of 1 MiB."""
    rng = random.Random(16)
    start = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    last: dict[int, int] = {}
    with path.open("wb") as out:
        for i in range(count):
            conv = i % CONVERSATIONS
            customer = f"zakaznik{conv}@example.cz"
            agent = rng.random() < 0.4
            frm, to = (
                ("support@shop.example", customer) if agent else (customer, "support@shop.example")
            )
            head = [
                f"From: {frm}",
                f"To: {to}",
                f"Subject: {'Re: ' if conv in last else ''}Reklamace {conv}",
                f"Message-ID: <mem{i}@example.cz>",
                f"Date: {format_datetime(start + timedelta(minutes=i))}",
                "MIME-Version: 1.0",
            ]
            if conv in last:
                head.append(f"In-Reply-To: <mem{last[conv]}@example.cz>")
            last[conv] = i
            text = " ".join(rng.choice(WORDS) for _ in range(300)) + f" slovo{i}"
            body = text.encode() + b"\n"
            roll = rng.random()
            if i in large:
                roll = 1.0
            if roll < 0.9:
                head += [
                    "Content-Type: text/plain; charset=utf-8",
                    "Content-Transfer-Encoding: 8bit",
                ]
                raw = "\n".join(head).encode() + b"\n\n" + body
            else:
                size = 1 << 20 if roll > 0.99 else rng.randrange(30_000, 250_000)
                pdf = base64.encodebytes(rng.randbytes(size))
                head.append(f'Content-Type: multipart/mixed; boundary="b{i}"')
                raw = (
                    "\n".join(head).encode()
                    + f"\n\n--b{i}\nContent-Type: text/plain; charset=utf-8\n\n".encode()
                    + body
                    + f"--b{i}\nContent-Type: application/pdf; name=f{i}.pdf\n"
                    "Content-Transfer-Encoding: base64\n\n".encode()
                    + pdf
                    + f"--b{i}--\n".encode()
                )
            out.write(b"From z@example.cz Mon Mar  3 09:00:00 2025\n" + raw + b"\n")
    return path


def peak_mb(tmp_path: Path, name: str, box: Path) -> float:
    root = tmp_path / name
    init_project(root)
    (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    package = str(Path(deskmove.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package, "DESKMOVE_WORKERS": "2"}  # one path for both
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(box), str(BATCH)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["read"] == int(box.name.split(".")[0])
    return result["peak_mb"]


@pytest.mark.timeout(600)
def test_an_mbox_import_four_times_as_long_peaks_at_the_same_memory(tmp_path: Path) -> None:
    small = mailbox(tmp_path / f"{SMALL}.mbox", SMALL)
    large = mailbox(tmp_path / f"{SMALL * 4}.mbox", SMALL * 4)
    low, high = peak_mb(tmp_path, "small", small), peak_mb(tmp_path, "large", large)
    assert high - low < MARGIN_MB, f"{SMALL} mails: {low:.0f} MB, {SMALL * 4}: {high:.0f} MB"


@pytest.mark.timeout(600)
def test_a_longer_mailbox_with_a_run_of_large_mails_peaks_at_the_same_memory(
    tmp_path: Path,
) -> None:
    """A longer input is likelier to hold a long run of large mails (a month of scanned
    invoices), batch after batch of them. Reading ahead by a number of batches alone held
    three such batches at once, each twice (the mails and their tasks pickled for the
    workers), so the peak grew with the run's length: the small mailbox's run of large mails
    fills two batches, the large one's seven, and the code before peaked at 159 and 192 MB
    (this: 124 and 132)."""
    small = mailbox(tmp_path / f"{SMALL}.mbox", SMALL, large=range(SMALL // 2, SMALL // 2 + 24))
    run = range(SMALL * 2, SMALL * 2 + LARGE_RUN)
    large = mailbox(tmp_path / f"{SMALL * 4}.mbox", SMALL * 4, large=run)
    low, high = peak_mb(tmp_path, "small", small), peak_mb(tmp_path, "large", large)
    assert high - low < MARGIN_MB, f"{SMALL} mails: {low:.0f} MB, {SMALL * 4}: {high:.0f} MB"
