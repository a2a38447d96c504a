"""Crash safety (DESIGN.md rule 3), proven with SIGKILL.

A real ``deskmove`` process is killed at every commit point of an import (the
CSV source, in small batches) and of a push (the Zendesk target over real HTTP
to a server in its own process, which outlives the kill) — including between a
target call and its id-map write. Each time the same command is then run again,
and the store and the helpdesk must equal one clean run: no duplicates, nothing
missing. The checkpoints are counted from a clean run (``DESKMOVE_CRASH_LOG``)
and killed at one by one (``DESKMOVE_CRASH_AT=NAME:N``).

An import is killed just before each batch commit and once after the last one:
after batch N and before batch N+1 the store is the same (the source between
them only reads its input and writes blobs no row names yet), and the point
before N+1 is the harder of the two, with batch N+1's blobs already on disk. A
push is killed at every point: between two id-map writes there is a call to
the helpdesk.

Each run is a real process, forked from a parent with deskmove already
imported (tests/launch.py), so the sweeps do not pay Python's start-up a
hundred times.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from deskmove.config import init_project
from deskmove.model import Attachment, IdMap, Message, Organization, Person, PersonEmail, Ticket
from deskmove.store import Store
from tests.launch import Launcher
from tests.zendesk_server import Running

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "helpdesk"
# The real CLI; the CSV source's batches are made small so an import has many commit points.
SMALL_BATCHES = "import deskmove.sources.csv as c; c.BATCH_TICKETS = c.BATCH_PEOPLE = 12"
COVERED: dict[str, int] = {}
_launcher: Launcher | None = None


@pytest.fixture(scope="module", autouse=True)
def launcher() -> Any:
    global _launcher
    _launcher = Launcher(preload=SMALL_BATCHES)
    yield _launcher
    _launcher.close()
    _launcher = None


def deskmove(
    project: Path,
    *args: str,
    crash: str | None = None,
    log: Path | None = None,
    expect: tuple[int, ...] = (0,),
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ZENDESK_EMAIL": "admin@acme.example",
        "ZENDESK_API_TOKEN": "t0ken-for-tests",
    }
    env.pop("DESKMOVE_DATABASE_URL", None)
    if crash:
        env["DESKMOVE_CRASH_AT"] = crash
    if log:
        env["DESKMOVE_CRASH_LOG"] = str(log)
    assert _launcher is not None
    proc = _launcher.run(["--project", str(project), *args], env=env, timeout=120)
    allowed = (-signal.SIGKILL,) if crash else expect
    assert proc.returncode in allowed, (crash, proc.returncode, proc.stdout, proc.stderr)
    return proc


# -- data ---------------------------------------------------------------------------------
def subset(dst: Path, tickets: set[int], hold_back: set[int] = frozenset()) -> Path:  # type: ignore[assignment]
    """The example helpdesk cut down to some tickets (minus the messages in ``hold_back``)."""
    dst.mkdir(parents=True, exist_ok=True)
    t_rows = [r for r in _read("tickets.csv") if int(r["id"]) in tickets]
    m_rows = [
        r
        for r in _read("messages.csv")
        if int(r["ticket_id"]) in tickets and int(r["id"]) not in hold_back
    ]
    for t in t_rows:
        t["message_count"] = str(sum(m["ticket_id"] == t["id"] for m in m_rows))
    mids = {m["id"] for m in m_rows}
    a_rows = [r for r in _read("attachments.csv") if r["message_id"] in mids]
    emails = {t[k] for t in t_rows for k in ("requester_email", "assignee_email")} | {
        m["author_email"] for m in m_rows
    }
    p_rows = [r for r in _read("people.csv") if r["email"] in emails]
    for name, rows in (
        ("tickets.csv", t_rows),
        ("messages.csv", m_rows),
        ("attachments.csv", a_rows),
        ("people.csv", p_rows),
    ):
        _write(dst / name, rows, name)
    for a in a_rows:
        (dst / a["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(EXAMPLES / a["path"], dst / a["path"])
    return dst


def _read(name: str) -> list[dict[str, str]]:
    with open(EXAMPLES / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]], name: str) -> None:
    with open(EXAMPLES / name, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows)


def snapshot(project: Path) -> dict[str, Any]:
    """The store's content without surrogate keys."""
    store = Store.open(f"sqlite:///{project / 'deskmove.db'}", project / "blobs", create=False)
    t, m, a, p, e = (x.__table__ for x in (Ticket, Message, Attachment, Person, PersonEmail))
    with store.begin() as conn:

        def rows(q: Any) -> list[str]:
            return sorted(
                json.dumps(list(r), default=str, ensure_ascii=False) for r in conn.execute(q)
            )

        out = {
            "tickets": rows(
                sa.select(t.c.subject, t.c.status, t.c.created_at, t.c.tags, e.c.email).outerjoin(
                    e, sa.and_(e.c.person_id == t.c.requester_id, e.c.primary.is_(True))
                )
            ),
            "messages": rows(
                sa.select(t.c.subject, m.c.body_text, m.c.created_at, m.c.public, e.c.email)
                .join(t, t.c.id == m.c.ticket_id)
                .outerjoin(e, sa.and_(e.c.person_id == m.c.author_id, e.c.primary.is_(True)))
            ),
            "attachments": rows(
                sa.select(a.c.sha256, a.c.filename, m.c.body_text).join(m, m.c.id == a.c.message_id)
            ),
            "people": rows(sa.select(p.c.name, p.c.role, p.c.phone)),
            "emails": rows(sa.select(e.c.email)),
            "organizations": rows(sa.select(Organization.__table__.c.name)),
            "id_map": rows(
                sa.select(
                    IdMap.__table__.c.connection,
                    IdMap.__table__.c.kind,
                    IdMap.__table__.c.state,
                    sa.func.count(),
                ).group_by(
                    IdMap.__table__.c.connection, IdMap.__table__.c.kind, IdMap.__table__.c.state
                )
            ),
        }
    store.close()
    return out


def new_project(path: Path) -> Path:
    init_project(path)
    return path


def checkpoints(log: Path, name: str) -> list[str]:
    """The details of every checkpoint ``name`` a clean run reached, in order (1-based k)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.partition(" ")[2] for line in lines if line.startswith(f"{name}:")]


def before_each_commit(details: list[str]) -> list[int]:
    """The import's kill points: just before every batch commit, and after the last one."""
    points = [k for k, d in enumerate(details, 1) if d.startswith("before ")]
    return points + [len(details)] if details else points


# -- import -------------------------------------------------------------------------------
@pytest.mark.timeout(900)
def test_import_killed_at_every_commit_point_then_rerun_equals_one_clean_run(
    tmp_path: Path,
) -> None:
    data = subset(tmp_path / "csv", set(range(1, 61)))
    src = f"csv:{data}"
    clean = new_project(tmp_path / "clean")
    log = tmp_path / "clean.log"
    first = deskmove(clean, "import", src, log=log, expect=(0, 3))
    expected = snapshot(clean)
    details = checkpoints(log, "ingest")
    points = before_each_commit(details)
    assert len(points) >= 12, "the import should have many commit points"
    assert len(points) == len(details) // 2 + 1
    assert len(expected["tickets"]) == 60 and len(expected["attachments"]) > 0
    for k in points:
        proj = new_project(tmp_path / f"kill-{k}")
        deskmove(proj, "import", src, crash=f"ingest:{k}")
        again = deskmove(proj, "import", src, expect=(first.returncode,))
        assert snapshot(proj) == expected, f"killed at ingest:{k}\n{again.stdout}"
        shutil.rmtree(proj)
    COVERED["ingest"] = len(points)
    print(f"\nimport: killed at {len(points)} commit points, each re-run equal to a clean run")


# -- push ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def zendesk() -> Any:
    server = Running()
    server.call("/__save__/empty")
    yield server
    server.stop()


def _sweep(tmp_path: Path, zendesk: Any, template: Path, label: str, slot: str) -> int:
    """Kill a push from ``template`` at each of its id-map checkpoints; compare with a clean one."""
    log = tmp_path / f"{label}.log"
    clean = tmp_path / f"{label}-clean"
    shutil.copytree(template, clean)
    zendesk.call(f"/__restore__/{slot}")
    deskmove(clean, "export", zendesk.spec, log=log)
    want_desk, want_store = zendesk.call("/__dump__"), snapshot(clean)
    assert "pending" not in json.dumps(want_store["id_map"])
    points = len(checkpoints(log, "push"))
    for k in range(1, points + 1):
        proj = tmp_path / f"{label}-{k}"
        shutil.copytree(template, proj)
        zendesk.call(f"/__restore__/{slot}")
        deskmove(proj, "export", zendesk.spec, crash=f"push:{k}")
        deskmove(proj, "export", zendesk.spec)
        assert zendesk.call("/__dump__") == want_desk, f"helpdesk differs after a kill at push:{k}"
        assert snapshot(proj) == want_store, f"store differs after a kill at push:{k}"
        shutil.rmtree(proj)
    return points


@pytest.mark.timeout(900)
def test_push_killed_at_every_id_map_write_then_rerun_equals_one_clean_run(
    tmp_path: Path, zendesk: Any
) -> None:
    template = new_project(tmp_path / "template")
    deskmove(template, "import", f"csv:{subset(tmp_path / 'csv', {1})}", expect=(0, 3))
    first = _sweep(tmp_path, zendesk, template, "first", "empty")
    desk = zendesk.call("/__dump__")
    assert len(desk["tickets"]) == 1 and all(t["comments"] for t in desk["tickets"])
    COVERED["push"] = first
    print(f"\npush: killed at {first} distinct id-map checkpoints")


@pytest.mark.timeout(900)
def test_delta_push_killed_at_every_point_appends_each_new_message_once(
    tmp_path: Path, zendesk: Any
) -> None:
    held = {int(r["id"]) for r in _read("messages.csv") if r["ticket_id"] == "2"}
    late = max(held)  # the last reply of ticket 2 arrives after the first migration
    template = new_project(tmp_path / "template")
    deskmove(template, "import", f"csv:{subset(tmp_path / 'csv', {2}, {late})}", expect=(0, 3))
    zendesk.call("/__restore__/empty")
    deskmove(template, "export", zendesk.spec)
    zendesk.call("/__save__/migrated")  # the helpdesk after the first migration
    grown = subset(tmp_path / "csv", {1, 2})  # the same folder (one connection), grown
    deskmove(template, "import", f"csv:{grown}", expect=(0, 3))
    points = _sweep(tmp_path, zendesk, template, "delta", "migrated")
    desk = zendesk.call("/__dump__")
    assert len(desk["tickets"]) == 2  # ticket 1 is new, ticket 2 got its late reply appended
    assert sorted(len(t["comments"]) for t in desk["tickets"]) == [1, len(held)]
    COVERED["delta"] = points
    print(f"\ndelta push: killed at {points} distinct id-map checkpoints")
