"""Mail parsed in worker processes (deskmove.mail.parallel): the same store, in the same order,
with the same crash safety, as parsing in one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from deskmove.config import init_project
from deskmove.mail import parallel
from tests.launch import Launcher
from tests.mailhelp import at, mail

SUPPORT = '[mail]\nsupport_addresses = ["support@shop.example"]\n'


def mailbox(path: Path, count: int) -> Path:
    """Threads of 1-4 mails in Czech, Polish and Russian; one broken mail in every 50."""
    out = []
    for i in range(count):
        thread, n = divmod(i, 4)
        if i % 50 == 49:
            raw = b"this is not a mail at all\n"
        else:
            raw = mail(
                frm="support@shop.example"
                if n % 2
                else f"Zákazník {thread} <z{thread}@example.cz>",
                to=f"z{thread}@example.cz" if n % 2 else "support@shop.example",
                subject=("Re: " if n else "") + f"Objednávka č. {thread}",
                mid=f"<m{i}@example.cz>",
                irt=f"<m{i - 1}@example.cz>" if n else None,
                date=at(i),
                body=[
                    "Dobrý den, žluťoučký kůň.\n",
                    "Dzień dobry, zamówienie.\n",
                    "Здравствуйте, заказ.\n",
                ][i % 3]
                * (1 + i % 7),
            )
        out.append(f"From z@example.cz Mon Mar  3 09:{i % 60:02d}:00 2025\n".encode() + raw + b"\n")
    path.write_bytes(b"".join(out))
    return path


def big_mail(size: int) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "z1@example.cz", "support@shop.example", "Faktura"
    msg["Message-ID"] = "<big@example.cz>"
    msg.set_content("V příloze.\n")
    msg.add_attachment(os.urandom(size), maintype="application", subtype="pdf", filename="f.pdf")
    return msg.as_bytes()


def import_with(
    workers: int, tmp_path: Path, box: Path, name: str, monkeypatch, kind: str = "mbox"
) -> dict[str, Any]:
    from deskmove.config import Project
    from deskmove.sync import import_source, open_store

    monkeypatch.setenv(parallel.WORKERS_ENV, str(workers))
    root = tmp_path / name
    init_project(root)
    (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    project = Project.load(root)
    store = open_store(project)
    try:
        report = import_source(project, store, f"{kind}:{box}")
    finally:
        store.close()
    return {"report": report.as_dict(), "store": contents(root)}


def contents(root: Path) -> dict[str, list]:
    engine = sa.create_engine(f"sqlite:///{root / 'deskmove.db'}")
    with engine.connect() as c:
        out = {
            "tickets": list(
                c.execute(sa.text("SELECT id, subject, status FROM tickets ORDER BY id"))
            ),
            "messages": list(
                c.execute(
                    sa.text(
                        "SELECT id, ticket_id, message_id, direction, body_text, raw_sha256 FROM messages ORDER BY id"
                    )
                )
            ),
            "quarantine": list(
                c.execute(sa.text("SELECT native_ref, reason FROM quarantine ORDER BY id"))
            ),
            "state": list(c.execute(sa.text("SELECT connection, stream, cursor FROM sync_state"))),
            "search": list(c.execute(sa.text("SELECT rowid, doc FROM search_fts ORDER BY rowid"))),
            "blobs": list(c.execute(sa.text("SELECT sha256, data FROM blobs ORDER BY sha256"))),
        }
    engine.dispose()
    return out


def test_workers_give_the_store_one_process_gives(tmp_path: Path, monkeypatch) -> None:
    box = mailbox(tmp_path / "support.mbox", 600)  # several batches, many tasks per batch
    one = import_with(1, tmp_path, box, "one", monkeypatch)
    two = import_with(2, tmp_path, box, "two", monkeypatch)
    assert one["report"]["read"] == 600 and one["report"]["quarantined"] == 12
    assert two["report"] == {**one["report"], "run_id": two["report"]["run_id"]}
    assert two["store"] == one["store"]  # same ids: same order, same threads
    raws = {m[5] for m in one["store"]["messages"]}  # small: rows of the store, no files
    assert raws and raws <= {sha for sha, _data in two["store"]["blobs"]}
    assert not any((tmp_path / "two" / "blobs").rglob("*"))


def maildir(box: Path, folder: Path) -> Path:
    """The mbox's mails as a Maildir, one file each in cur/, their times in the mbox's order."""
    import mailbox as stdlib_mailbox

    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    source = stdlib_mailbox.mbox(box, create=False)
    for i, key in enumerate(source.keys()):
        path = folder / "cur" / f"{1_741_000_000 + i}.M{i}P1.host:2,S"
        path.write_bytes(source.get_bytes(key))
        os.utime(path, (1_741_000_000 + i, 1_741_000_000 + i))
    return folder


def test_a_maildir_is_parsed_in_workers_into_the_store_one_process_gives(
    tmp_path: Path, monkeypatch
) -> None:
    pools = []

    class Counted(parallel.WorkerPool):
        def __init__(self, *args: Any) -> None:
            pools.append(args)
            super().__init__(*args)

    monkeypatch.setattr(parallel, "WorkerPool", Counted)
    folder = maildir(mailbox(tmp_path / "support.mbox", 600), tmp_path / "Maildir")
    one = import_with(1, tmp_path, folder, "one", monkeypatch, "maildir")
    assert pools == []
    two = import_with(2, tmp_path, folder, "two", monkeypatch, "maildir")
    assert len(pools) == 1 and pools[0][0] == 2  # two worker processes parsed the mail
    assert one["report"]["read"] == 600 and one["report"]["quarantined"] == 12
    assert two["report"] == {**one["report"], "run_id": two["report"]["run_id"]}
    assert two["store"] == one["store"]  # same ids, threads, state (file time and names)
    (state,) = two["store"]["state"]
    assert json.loads(state[2])["mtime"] == 1_741_000_599


def test_search_documents_appended_batch_by_batch_equal_ones_rebuilt_from_the_store(
    tmp_path: Path, monkeypatch
) -> None:
    from deskmove.sources import mbox
    from deskmove.store import search

    monkeypatch.setattr(mbox, "BATCH_MAILS", 7)  # threads continue across many batches
    box = mailbox(tmp_path / "support.mbox", 300)
    appended = import_with(2, tmp_path, box, "two", monkeypatch)["store"]["search"]
    assert len(appended) > 60 and all("\n" in doc for _rowid, doc in appended)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'two' / 'deskmove.db'}")
    with engine.begin() as conn:
        ids = list(conn.execute(sa.text("SELECT id FROM tickets")).scalars())
        search.index_tickets(conn, ids)
        rebuilt = list(conn.execute(sa.text("SELECT rowid, doc FROM search_fts ORDER BY rowid")))
    engine.dispose()
    assert appended == rebuilt


def test_a_worker_process_starts_without_the_database_libraries(tmp_path: Path) -> None:
    """Each import starts its workers anew: they load the mail parser and the blob folder only,
    not the store, nor the importing side of the pipeline (pool, batcher, threading)."""
    importing_side = (
        "deskmove.mail.parallel",
        "deskmove.mail.batcher",
        "deskmove.mail.threading",
        "deskmove.mail.resolve",
        "concurrent.futures",
        "subprocess",
    )
    code = (
        "import sys; from deskmove.mail import parseworker; parseworker.main(sys.argv[1]); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'sqlmodel', "
        "'pydantic', 'alembic'}), [m for m in sys.modules if m.startswith('deskmove.store')], "
        f"[m for m in {importing_side!r} if m in sys.modules], "
        "file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stderr.strip() == "[] [] []"


def test_small_input_is_parsed_without_workers(monkeypatch) -> None:
    monkeypatch.delenv(parallel.WORKERS_ENV, raising=False)
    assert parallel.worker_count(1000) == 1
    assert parallel.worker_count(None) >= 1
    monkeypatch.setenv(parallel.WORKERS_ENV, "3")
    assert parallel.worker_count(1000) == 3
    monkeypatch.setenv(parallel.WORKERS_ENV, "many")
    with pytest.raises(Exception, match="DESKMOVE_WORKERS=many is not a number"):
        parallel.worker_count(None)


def test_a_store_failure_in_a_worker_stops_the_import_with_its_message(
    tmp_path: Path, monkeypatch
) -> None:
    box = mailbox(tmp_path / "support.mbox", 60)
    with box.open("ab") as f:  # an attachment too large for the store's table: a file
        f.write(b"From z@example.cz Mon Mar  3 09:00:00 2025\n" + big_mail(400_000) + b"\n")
    root = tmp_path / "p"
    init_project(root)
    (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    blobs = root / "blobs"
    blobs.mkdir(exist_ok=True)
    os.chmod(blobs, 0o500)  # the workers cannot write a blob
    if os.access(blobs, os.W_OK):  # root ignores the mode bits: make the folder a file instead
        os.chmod(blobs, 0o700)
        blobs.rmdir()
        blobs.write_text("not a folder")
    monkeypatch.setenv(parallel.WORKERS_ENV, "2")
    from typer.testing import CliRunner

    from deskmove.cli import app

    result = CliRunner().invoke(app, ["--project", str(root), "import", f"mbox:{box}"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write to the blob folder")
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_killed_while_workers_parse_then_rerun_equals_one_clean_run(
    tmp_path: Path, kind: str
) -> None:
    box = mailbox(tmp_path / "support.mbox", 400)
    spec = f"mbox:{box}" if kind == "mbox" else f"maildir:{maildir(box, tmp_path / 'Maildir')}"
    env = {**os.environ, parallel.WORKERS_ENV: "2"}
    env.pop("DESKMOVE_DATABASE_URL", None)
    runs = Launcher(preload=f"import deskmove.sources.{kind} as m; m.BATCH_MAILS = 50")
    try:

        def project(name: str) -> Path:
            root = tmp_path / name
            init_project(root)
            (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
            return root

        clean = project("clean")
        log = tmp_path / "clean.log"
        done = runs.run(
            ["--project", str(clean), "--json", "import", spec],
            env={**env, "DESKMOVE_CRASH_LOG": str(log)},
        )
        assert done.returncode == 3, done.stderr
        want = contents(clean)
        points = [k for k, line in enumerate(log.read_text().splitlines(), 1) if " before " in line]
        assert len(points) >= 8
        for k in (points[1], points[-2]):  # batch 1 committed / all but the last
            root = project(f"kill-{k}")
            killed = runs.run(
                ["--project", str(root), "import", spec],
                env={**env, "DESKMOVE_CRASH_AT": f"ingest:{k}"},
            )
            assert killed.returncode == -signal.SIGKILL
            assert _workers_exit(root / "blobs")
            again = runs.run(["--project", str(root), "--json", "import", spec], env=env)
            assert again.returncode in (0, 3), again.stderr
            assert json.loads(again.stdout)["read"] < 400  # it resumed from the saved offset
            got = contents(root)
            assert [m[1:] for m in got["messages"]] == [m[1:] for m in want["messages"]]
            assert got["quarantine"] == want["quarantine"] and got["state"] == want["state"]
            assert got["search"] == want["search"]
    finally:
        runs.close()


def _workers_exit(blob_root: Path, timeout: float = 30) -> bool:
    """No worker of a killed import outlives it (they end when their stdin closes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-f", f"deskmove.mail.parseworker {blob_root}$"],
            capture_output=True,
            text=True,
        )
        if found.returncode == 1:
            return True
        time.sleep(0.1)
    return False


def _documents(conn: Any) -> list[tuple[Any, ...]]:
    if conn.dialect.name == "sqlite":
        return list(conn.execute(sa.text("SELECT rowid, doc FROM search_fts ORDER BY rowid")))
    return list(conn.execute(sa.text("SELECT ticket_id, part, doc FROM search_docs ORDER BY 1, 2")))


def test_search_documents_appended_equal_rebuilt_ones_on_both_stores(
    any_store, tmp_path: Path, monkeypatch
) -> None:
    from deskmove.config import Project
    from deskmove.sources import mbox
    from deskmove.store import search
    from deskmove.sync import import_source

    monkeypatch.setattr(mbox, "BATCH_MAILS", 7)
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    box = mailbox(tmp_path / "support.mbox", 120)
    root = tmp_path / "p"
    init_project(root)
    (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    import_source(Project.load(root), any_store, f"mbox:{box}")
    with any_store.begin() as conn:
        appended = _documents(conn)
        search.index_tickets(conn, conn.execute(sa.text("SELECT id FROM tickets")).scalars())
        assert len(appended) > 25 and _documents(conn) == appended


@pytest.mark.timeout(120)
def test_when_every_worker_dies_each_task_fails_instead_of_waiting_forever(
    tmp_path: Path,
) -> None:
    """A feed thread whose worker died fails the tasks it takes next: with every worker
    gone (the out-of-memory killer), no task is left unanswered in the queue for an
    import to wait on for ever."""
    from datetime import UTC, datetime

    from deskmove.mail.batcher import RawMail

    pool = parallel.WorkerPool(2, tmp_path / "blobs")
    try:
        for proc in pool._procs:
            proc.kill()
            proc.wait()
        mails = [RawMail(b"Subject: x\n\nbody\n", f"offset:{i}") for i in range(5 * 40)]
        futures = pool.submit_all(mails, datetime.now(UTC))
        assert len(futures) >= 5
        for future in futures:
            error = future.exception(timeout=30)  # TimeoutError when nobody answers it
            assert isinstance(error, EOFError | OSError)
            assert not isinstance(error, TimeoutError)
    finally:
        pool.close()


def test_a_task_goes_to_a_worker_with_its_raw_bytes_as_they_are(tmp_path: Path) -> None:
    """The mails' fields are pickled, their bytes follow as written: a worker gets back
    exactly the mails sent, and a task cut short is an end of input, not a wrong mail."""
    import io
    from datetime import UTC, datetime

    from deskmove.mail.parseworker import receive_task, send_task
    from deskmove.mail.raw import RawMail

    when = datetime(2025, 3, 3, 9, tzinfo=UTC)
    mails = [
        RawMail(b"From: a@x\r\n\r\nDobr\xc3\xbd den\r\n", "offset:0", when, "INBOX", ["VIP"]),
        RawMail(b"", "offset:41"),
        RawMail(bytes(range(256)) * 1000, "INBOX/7/3", None, "Sent"),
    ]
    pipe = io.BytesIO()
    send_task(pipe, mails, when)
    wire = pipe.getvalue()
    got, now = receive_task(io.BufferedReader(io.BytesIO(wire)))
    assert got == mails and now == when
    for cut in (3, 20, len(wire) - 1):
        with pytest.raises(EOFError):
            receive_task(io.BufferedReader(io.BytesIO(wire[:cut])))
