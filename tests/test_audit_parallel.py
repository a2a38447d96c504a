"""The audit's scan in several processes finds what one process finds, byte for byte; its
workers start only on big stores (or when asked), die with the audit, are bounded in
time, and a failed one is a clear error."""

from __future__ import annotations

import pickle
import random
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from deskmove.audit import parallel, render, run_audit, scan
from deskmove.audit.known import load_known_senders
from deskmove.audit.scan import Context
from deskmove.records import Batch, MessageRec, PersonRef
from deskmove.store import audit as store_audit
from deskmove.store.audit import ScanSource
from tests.test_audit_data import AGENT, SIGNATURE, at, fill, inbound, mail_ticket

NOW = at(12, 12)
AGENTS = [AGENT] + [
    PersonRef(email=f"agent{i}@kolo-shop.cz", name=f"Agent {i}", role="agent") for i in range(6)
]
ALIASES = ["podpora@kolo-shop.cz", "info@kolo-shop.cz", "reklamace@kolo-shop.cz"]
MONITOR = PersonRef(email="alerts@monitor.example.net", name="Monitor")


def phone_heavy_batch(seed: int = 3, tickets: int = 60) -> Batch:
    """Customers quoting numbers (many once, some often, some the team's), agents quoting
    customers' numbers in sentences and the team's in signatures, in random order: which
    customers' numbers are followed depends on the order they come in."""
    rng = random.Random(seed)
    customers = [PersonRef(email=f"c{i}@firma{i % 7}.cz", name=f"Zákazník {i}") for i in range(25)]
    team = ["+420 222 333 444", "+420 777 100 200", "800 123 456"]
    common = [f"602 {i:03d} {i * 7 % 1000:03d}" for i in range(6)]
    out = []
    for t in range(tickets):
        when = at(1, 8, year=2023) + timedelta(hours=13 * t)
        msgs = []
        for k in range(rng.randrange(1, 5)):
            stamp = when + timedelta(hours=k)
            if k % 2 == 0:
                number = rng.choice(
                    [f"+48 22 {rng.randrange(100, 999)} {rng.randrange(10, 99)} 11"]
                    + common
                    + team[:1]
                )
                msgs.append(
                    inbound(
                        f"p{t}.{k}",
                        stamp,
                        rng.choice(customers),
                        f"Dobrý den, objednávka {t}.\nTel.: {number}",
                        to=[rng.choice(ALIASES)],
                        headers={"delivered-to": ["podpora@kolo-shop.cz"]},
                        subject=rng.choice([None, f"Objednávka {t}"]),
                    )
                )
            else:
                said = rng.choice(common + [""])
                body = f"Zavoláme vám na {said}." if said else "Posíláme znovu."
                if rng.random() < 0.7:
                    body += SIGNATURE.replace("+420 222 333 444", rng.choice(team))
                msgs.append(
                    MessageRec(
                        native_id=f"p{t}.{k}",
                        created_at=stamp,
                        created_tz=60,
                        author=rng.choice(AGENTS),
                        direction="outbound",
                        body_text=body,
                        to=["x@example.cz"],
                        headers={"from": ["podpora@kolo-shop.cz"]},
                    )
                )
        if t % 5 == 0:  # a monitor whose later mail says more about it (one more fact)
            headers = {
                "delivered-to": ["podpora@kolo-shop.cz"],
                "auto-submitted": ["auto-generated"],
            }
            if t > tickets // 2:
                headers["x-mailer"] = ["MonitorBot 2.1"]
            msgs.append(
                inbound(f"p{t}.m", when, MONITOR, "Site down", to=ALIASES[:1], headers=headers)
            )
        out.append(mail_ticket(f"p{t}", f"Objednávka {t}", msgs, customers[t % 25]))
    return Batch(tickets=out, read=len(out))


def reports(project, store) -> tuple[str, str, str]:
    report = run_audit(project, store, now=NOW)
    return tuple(render(report, fmt) for fmt in ("md", "html", "json"))


def test_several_processes_find_what_one_finds(project, any_store, monkeypatch):
    fill(any_store)
    any_store.ingestor("mbox:/data/more.mbox", None).ingest(phone_heavy_batch())
    monkeypatch.setattr(scan, "MAX_PHONES", 10)  # the bound on customers' numbers bites
    monkeypatch.setenv("DESKMOVE_WORKERS", "1")
    one = reports(project, any_store)
    started = []
    real = parallel._Worker

    def counted(*args, **kwargs):
        started.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "_Worker", counted)
    for workers in ("2", "3"):
        monkeypatch.setenv("DESKMOVE_WORKERS", workers)
        assert reports(project, any_store) == one, f"{workers} processes"
    assert len(started) == 1 + 2  # the scan did run in other processes
    assert '"customer_numbers_unchecked": 0' not in one[2]  # the bound was reached


@pytest.mark.parametrize("first_share", [0.05, 0.5, 0.95])
def test_where_the_messages_are_cut_changes_nothing(project, store, monkeypatch, first_share):
    """In process (the workers' own code, run here so their limits can be lowered): every
    cut, forgetting every decision and every example sent, gives the same report."""
    fill(store)
    store.ingestor("mbox:/data/more.mbox", None).ingest(phone_heavy_batch(seed=8, tickets=90))
    monkeypatch.setattr(scan, "MAX_PHONES", 8)
    monkeypatch.setenv("DESKMOVE_WORKERS", "1")
    one = reports(project, store)
    monkeypatch.setattr(parallel, "_Worker", InProcessWorker)
    monkeypatch.setattr(parallel, "FIRST_SHARE", first_share)
    monkeypatch.setenv("DESKMOVE_WORKERS", "4")
    assert reports(project, store) == one
    monkeypatch.setattr(scan._Memo, "LIMIT", 1)
    monkeypatch.setattr(store_audit._Decoded, "LIMIT", 1)
    monkeypatch.setattr(parallel, "EXAMPLES_SENT", 1)
    monkeypatch.setattr(parallel, "CHUNK", 3)
    assert reports(project, store) == one


class InProcessWorker:
    """A worker's task run in this process (its own read connection all the same)."""

    def __init__(self, task, spool, deadline):
        self.spool = spool
        assert parallel._scan_task(pickle.loads(pickle.dumps(task))) == "ok"

    def wait(self):
        pass

    def records(self):
        return parallel.read_spool(self.spool)

    def close(self):
        pass


def test_small_stores_start_no_worker_and_big_ones_do(project, store, monkeypatch):
    fill(store)
    monkeypatch.delenv("DESKMOVE_WORKERS", raising=False)
    started = []
    real = parallel._Worker

    def counted(*args, **kwargs):
        started.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "_Worker", counted)
    one = reports(project, store)
    assert started == []
    monkeypatch.setattr(parallel, "MIN_PARALLEL_MESSAGES", 2)
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert reports(project, store) == one
    assert started == [1]


def test_a_bad_workers_setting_is_a_usage_error(project, store, monkeypatch):
    from deskmove.errors import ConfigError

    fill(store)
    monkeypatch.setenv("DESKMOVE_WORKERS", "two")
    with pytest.raises(ConfigError, match="DESKMOVE_WORKERS=two is not a number"):
        run_audit(project, store)


def test_a_failing_worker_is_an_error_line_not_a_traceback(project, store, monkeypatch):
    from typer.testing import CliRunner

    from deskmove.cli import app

    fill(store)
    monkeypatch.setenv("DESKMOVE_WORKERS", "2")
    gone = ScanSource("sqlite", str(project.root / "no-such-folder" / "store.db"), None)
    monkeypatch.setattr(store_audit.AuditQueries, "share", lambda self: gone)
    result = CliRunner().invoke(app, ["--project", str(project.root), "audit"])
    assert result.exit_code == 1
    assert "Error: the audit's scan worker failed: " in result.output
    assert "unable to open database file" in result.output
    assert " — " in result.output and "Traceback" not in result.output


def test_a_worker_that_dies_is_reported_with_its_last_words(project, store, monkeypatch, tmp_path):
    from deskmove.errors import DeskmoveError

    fill(store)
    script = tmp_path / "dies.py"
    script.write_text(
        "import sys\nsys.stderr.write('MemoryError: out of memory\\n')\nsys.exit(9)\n"
    )
    monkeypatch.setattr(parallel, "worker_command", lambda: [sys.executable, str(script)])
    monkeypatch.setenv("DESKMOVE_WORKERS", "2")
    with pytest.raises(DeskmoveError) as err:
        run_audit(project, store)
    text = str(err.value)
    assert "ended without an answer (exit status 9: MemoryError: out of memory)" in text
    assert "DESKMOVE_WORKERS=1" in text


def test_a_worker_past_its_deadline_is_stopped(project, store, monkeypatch, tmp_path):
    from deskmove.errors import DeskmoveError

    fill(store)
    pidfile = tmp_path / "pid"
    script = tmp_path / "hangs.py"
    script.write_text(
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n"
    )
    monkeypatch.setattr(parallel, "worker_command", lambda: [sys.executable, str(script)])
    monkeypatch.setattr(parallel, "deadline_seconds", lambda messages: 2.0)
    monkeypatch.setenv("DESKMOVE_WORKERS", "2")
    t0 = time.monotonic()
    with pytest.raises(DeskmoveError, match="did not finish in time and was stopped"):
        run_audit(project, store)
    assert time.monotonic() - t0 < 30
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def test_a_worker_exits_when_the_audit_goes_away(tmp_path):
    """The real worker, stuck on a store another process holds locked, exits as soon as
    its stdin closes (as when the audit is killed), long before SQLite's 30 s wait."""
    db = tmp_path / "locked.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    ctx = Context(set(), set(), load_known_senders(None), None)
    task = {
        "source": ScanSource("sqlite", str(db), None),
        "ctx": ctx,
        "after": None,
        "upto": 10,
        "sql": "SELECT * FROM t",
        "batch": 100,
        "spool": str(tmp_path / "spool"),
    }
    proc = subprocess.Popen(
        parallel.worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        parallel._send(proc.stdin, pickle.dumps(task))
        deadline = time.monotonic() + 20
        while not (tmp_path / "spool").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # it has opened its spool: it is waiting for the lock now
        time.sleep(0.5)
        assert proc.poll() is None
        t0 = time.monotonic()
        proc.stdin.close()
        assert proc.wait(timeout=10) == 3
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        holder.rollback()
        holder.close()


def test_the_cut_holds_every_message_once(store):
    fill(store)
    with store.audit() as db:
        ids = [r.ticket_id for r in db.messages_to_scan(7)]
        for shares in ([0.5, 0.5], [0.1, 0.1, 0.8], [0.4, 0.2, 0.2, 0.2], [0.9, 0.05, 0.05]):
            parts = db.scan_parts(shares)
            assert parts[0][0] is None
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:], strict=False))
            cut = [r.ticket_id for a, u in parts for r in db.messages_to_scan(3, after=a, upto=u)]
            assert cut == ids
