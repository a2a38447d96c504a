"""Start-up cost: what a command imports and builds before it does its work."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deskmove.config import Project
from deskmove.store import Store, delta, quick

HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "httpx")


def loaded_after(code: str, heavy: tuple[str, ...] = HEAVY) -> str:
    """Run ``code`` in a fresh interpreter; which heavy libraries it imported."""
    probe = (
        f"{code}\nimport sys\nprint('LOADED', sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout


def test_opening_a_store_at_the_newest_revision_imports_no_alembic(project: Project) -> None:
    Store.open(project.store_url, project.blob_root).close()  # made, at the newest revision
    code = (
        "from deskmove.store import Store\n"
        f"Store.open({project.store_url!r}, {str(project.blob_root)!r}).close()\n"
    )
    assert "LOADED ['sqlalchemy', 'sqlmodel']" in loaded_after(code)


CONNECTIONS = """
[connections.inbox]
spec = "mbox:{root}/inbox.mbox"

[connections.old-desk]
spec = "zendesk://old"

[connections.out]
spec = "csv:{root}/out"

[sync]
sources = ["inbox", "old-desk"]
targets = ["out"]
"""


def test_status_on_a_sqlite_store_imports_no_sqlalchemy(cli, project_dir: Path) -> None:
    """Checking the project file's connections (mbox, a REST spec, a CSV target) included."""
    with open(project_dir / "deskmove.toml", "a", encoding="utf-8") as fh:
        fh.write(CONNECTIONS.format(root=project_dir))
    assert cli("status").exit_code == 0  # the store exists and is at the newest revision
    code = (
        "import sys\n"
        "from deskmove.cli import main\n"
        f"sys.argv = ['deskmove', '--project', {str(project_dir)!r}, 'status']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    out = loaded_after(code)
    assert "Store: sqlite:///" in out
    assert "LOADED []" in out
    # a connection that is only a spec has no key to check: its adapter is not loaded
    adapters = ("deskmove.mail.batcher", "deskmove.sources.csvjoin", "deskmove.rest.spec")
    assert "LOADED []" in loaded_after(code, adapters)


MBOX = """From petr@example.cz Mon Mar  4 10:00:00 2024
From: Petr Novák <petr@example.cz>
To: support@shop.example
Subject: Reklamace
Date: Mon, 04 Mar 2024 10:00:00 +0100
Message-ID: <r1@example.cz>

Dobrý den, zboží nedorazilo.

"""


def test_a_no_op_sync_imports_no_alembic_no_progress_bar_and_no_workspace(
    cli, project_dir: Path
) -> None:
    """Cron's run when nothing changed: mbox source, CSV target, nothing shown."""
    (project_dir / "inbox.mbox").write_text(MBOX, encoding="utf-8")
    with open(project_dir / "deskmove.toml", "a", encoding="utf-8") as fh:
        fh.write(
            f'[connections.inbox]\nspec = "mbox:{project_dir}/inbox.mbox"\n'
            f'[connections.out]\nspec = "csv:{project_dir}/out"\n'
            '[sync]\nsources = ["inbox"]\ntargets = ["out"]\n'
        )
    assert cli("sync").exit_code == 0  # the mail is imported and pushed
    code = (
        "import sys\n"
        "from deskmove.cli import main\n"
        f"sys.argv = ['deskmove', '--project', {str(project_dir)!r}, 'sync']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    out = loaded_after(code, ("alembic", "tqdm", "fastapi", "jinja2", "uvicorn", "httpx"))
    assert "inbox +0 new, 0 changed; out: up to date" in out
    assert "LOADED []" in out
    # nor the store's machinery: SQLAlchemy, the models, the store, the full sync
    store = ("sqlalchemy", "sqlmodel", "deskmove.store.core", "deskmove.sync")
    assert "LOADED []" in loaded_after(code, store)
    # an mbox that did not grow is not parsed: no mail parser, HTML sanitiser, charset
    # guesser, and no support-address hint (which read every stored mail's recipients)
    parser = ("deskmove.mail.batcher", "deskmove.mail.parse", "nh3", "charset_normalizer")
    assert "LOADED []" in loaded_after(code, (*parser, "deskmove.reclassify"))
    # no REST spec or mapping to read: no YAML parser
    assert "LOADED []" in loaded_after(code, (*NOT_ON_A_NO_OP, "yaml"))


def test_a_no_op_sync_of_a_maildir_loads_no_mail_parser(cli, project_dir: Path) -> None:
    cur = project_dir / "Maildir" / "cur"
    cur.mkdir(parents=True)
    (project_dir / "Maildir" / "new").mkdir()
    (cur / "1700000000.1.host:2,S").write_text(MBOX.split("\n", 1)[1], encoding="utf-8")
    with open(project_dir / "deskmove.toml", "a", encoding="utf-8") as fh:
        fh.write(
            f'[connections.box]\nspec = "maildir:{project_dir}/Maildir"\n'
            f'[connections.out]\nspec = "csv:{project_dir}/out"\n'
            '[sync]\nsources = ["box"]\ntargets = ["out"]\n'
        )
    assert cli("sync").exit_code == 0  # the mail is imported and pushed
    code = (
        "import sys\n"
        "from deskmove.cli import main\n"
        f"sys.argv = ['deskmove', '--project', {str(project_dir)!r}, 'sync']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    parser = ("deskmove.mail.batcher", "deskmove.mail.parse", "nh3", "deskmove.reclassify")
    out = loaded_after(code, (*parser, *NOT_ON_A_NO_OP))
    assert "box +0 new, 0 changed; out: up to date" in out
    assert "LOADED []" in out


# What a no-op sync of any source kind on a SQLite store does not need: the workspace's
# models (loaded by the change counter and the agents' edits, which only an import that
# changes a ticket uses) and SQLAlchemy's PostgreSQL dialect (for the JSONB type)
NOT_ON_A_NO_OP = ("deskmove.store.webmodel", "sqlalchemy.dialects.postgresql")


def test_a_no_op_rest_sync_loads_no_workspace_models(
    cli, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Zendesk source and target with nothing new: the source's incremental reads come
    back empty and only move its cursors."""
    from tests.zendesk_server import Running

    monkeypatch.setenv("ZENDESK_EMAIL", "admin@shop.example")
    monkeypatch.setenv("ZENDESK_API_TOKEN", "test-token")
    server = Running()
    try:
        with open(project_dir / "deskmove.toml", "a", encoding="utf-8") as fh:
            fh.write(
                f'[connections.old-desk]\nspec = "zendesk://old?base_url={server.url}"\n'
                f'[connections.new-desk]\nspec = "zendesk://new?base_url={server.url}"\n'
                '[sync]\nsources = ["old-desk"]\ntargets = ["new-desk"]\n'
            )
        assert cli("sync").exit_code == 0
        code = (
            "import sys\n"
            "from deskmove.cli import main\n"
            f"sys.argv = ['deskmove', '--project', {str(project_dir)!r}, 'sync']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
        )
        out = loaded_after(code, NOT_ON_A_NO_OP)
        assert "old-desk +0 new, 0 changed; new-desk: up to date" in out
        assert "LOADED []" in out
    finally:
        server.stop()


def test_help_imports_no_store_and_no_http() -> None:
    code = (
        "import sys\n"
        "from deskmove.cli import main\n"
        "sys.argv = ['deskmove', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    assert "LOADED []" in loaded_after(code)


def test_http_clients_share_one_tls_context() -> None:
    """Reading the certificate authorities is most of what a new client costs."""
    from deskmove.rest.transport import deadline_transport

    one, two = deadline_transport(), deadline_transport()
    assert one._pool._ssl_context is two._pool._ssl_context  # noqa: SLF001


def _plans(db: sqlite3.Connection, statements: list[tuple[str, Any]]) -> list[str]:
    """SQLite's query plan lines for each statement that reads the id map."""
    lines = []
    for sql, params in statements:
        if "id_map" in sql:
            plan = db.execute(f"EXPLAIN QUERY PLAN {sql}", params or ()).fetchall()
            lines += [f"{row[-1]} <- {sql}" for row in plan if "id_map" in row[-1]]
    return lines


@pytest.fixture
def pushed(store: Store) -> Store:
    """A store whose target has 3,000 finished id-map entries and a push watermark."""
    import sqlalchemy as sa

    run = store.begin_run("export", "new-desk")
    with store.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO id_map (connection, kind, entity_id, native_id, state, run_id) "
                "VALUES ('new-desk', 'message', :e, :e, 'done', :r)"
            ),
            [{"e": i, "r": run} for i in range(1, 3001)],
        )
        conn.execute(sa.text("ANALYZE"))
    store.finish_run(run, "done", {})
    delta.set_push_watermark(store, "new-desk", run)
    return store


def test_a_no_op_push_check_seeks_unfinished_entries_instead_of_reading_every_one(
    pushed: Store,
) -> None:
    """``NOT IN ('done', 'matched')`` (and ``EXISTS (SELECT * …)``) read every finished entry
    of the target on each cron run; the store's and the sqlite3 check must seek the
    (connection, state) index."""
    import sqlalchemy as sa

    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_a: Any) -> None:
        seen.append((sql, params))

    sa.event.listen(pushed.engine, "before_cursor_execute", record)
    assert not pushed.has_push_work("new-desk")
    db = sqlite3.connect(pushed.url.removeprefix("sqlite:///"))
    db.set_trace_callback(lambda sql: seen.append((sql, None)))
    assert not quick._has_push_work(db, "new-desk")  # noqa: SLF001
    db.set_trace_callback(None)
    plans = _plans(db, seen)
    assert plans
    for line in plans:
        assert "SCAN id_map" not in line, line
        assert "(connection=?)" not in line, line  # every state of the target read


@pytest.mark.parametrize("state", ["creating", "failed", "pending", "zz-new-state"])
def test_every_state_but_done_and_matched_is_still_push_work(pushed: Store, state: str) -> None:
    db = sqlite3.connect(pushed.url.removeprefix("sqlite:///"))
    for finished in ("done", "matched"):
        pushed.map_put("new-desk", "ticket", 7, "7", pushed_hash=None, state=finished)
        assert not pushed.has_push_work("new-desk")
        assert not quick._has_push_work(db, "new-desk")  # noqa: SLF001
    pushed.map_put("new-desk", "ticket", 7, "7", pushed_hash=None, state=state)
    assert pushed.has_push_work("new-desk")
    assert quick._has_push_work(db, "new-desk")  # noqa: SLF001
    assert delta.changed_ticket_ids(pushed, "new-desk") == [7]


def test_the_command_does_not_load_httpx_own_command_line_client() -> None:
    """httpx imports click, rich and pygments for its CLI when they are installed."""
    code = (
        "import sys\n"
        "from deskmove.cli import main\n"
        "sys.argv = ['deskmove', '--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import httpx\n"
        "httpx.Client().close()\n"
    )
    assert "LOADED []" in loaded_after(code, ("rich", "pygments", "click"))


def test_installed_adapters_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read of the entry points opens every installed distribution's metadata; a sync
    resolved its source and target several times."""
    from importlib.metadata import EntryPoint, EntryPoints

    from deskmove import registry

    calls: list[tuple[Any, ...]] = []
    mine = EntryPoint("mydesk", "mydesk.adapter:Source", "deskmove.sources")

    def read(*args: Any, **kw: Any) -> EntryPoints:
        calls.append((*args, *kw.items()))
        return EntryPoints([mine])

    monkeypatch.setattr(registry, "entry_points", read)
    registry._installed_groups.cache_clear()  # noqa: SLF001
    try:
        for _ in range(3):
            assert registry._table("source")["mydesk"] == "mydesk.adapter:Source"  # noqa: SLF001
            assert "csv" in registry._table("target")  # noqa: SLF001
            assert "mydesk" not in registry._table("target")  # noqa: SLF001
    finally:
        registry._installed_groups.cache_clear()  # noqa: SLF001
    assert calls == [()]  # one pass for sources and targets


@pytest.mark.parametrize("state", ["creating", "failed", "pending", "zz-new-state"])
def test_the_push_check_reads_states_the_same_on_sqlite_and_postgresql(
    any_store: Store, state: str
) -> None:
    """The range form of "not done, not matched" compares strings: in PostgreSQL's
    collation too, every other state is still work to push."""
    run = any_store.begin_run("export", "new-desk")
    any_store.finish_run(run, "done", {})
    delta.set_push_watermark(any_store, "new-desk", run)
    assert not any_store.has_push_work("new-desk")
    for finished in ("done", "matched"):
        any_store.map_put("new-desk", "ticket", 7, "7", pushed_hash=None, state=finished)
        assert not any_store.has_push_work("new-desk")
    any_store.map_put("new-desk", "ticket", 7, "7", pushed_hash=None, state=state)
    assert any_store.has_push_work("new-desk")
    assert delta.changed_ticket_ids(any_store, "new-desk") == [7]


def test_a_command_does_not_run_the_cycle_collector_while_its_modules_load(
    cli, project_dir: Path
) -> None:
    """Loading typer, pydantic, SQLAlchemy and the models makes objects that all live on;
    collecting every 700 of them was a tenth of a no-op sync's CPU, freeing nothing."""
    assert cli("status").exit_code == 0
    code = (
        "import gc, sys\n"
        "from deskmove.cli import main\n"
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and runs.append(info))\n"
        f"sys.argv = ['deskmove', '--project', {str(project_dir)!r}, 'sync']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('COLLECTIONS', len(runs))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    runs = int(out.split("COLLECTIONS ")[1])
    assert runs <= 3, out  # every 700 allocations: about 100 while `sync` loads
