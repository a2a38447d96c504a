"""Shared fixtures: a fresh project and store per test, the CLI, real servers."""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskmove.cli import app
from deskmove.config import Project, init_project
from deskmove.store import Store

REQUIRE_SERVERS = os.environ.get("DESKMOVE_REQUIRE_SERVERS") == "1"


def unavailable(reason: str) -> None:
    """Skip on a user's machine; fail in CI, where every server must run."""
    if REQUIRE_SERVERS:
        pytest.fail(f"required test server unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DESKMOVE_DATABASE_URL", raising=False)
    root = tmp_path / "project"
    init_project(root)
    return root


@pytest.fixture
def project(project_dir: Path) -> Project:
    return Project.load(project_dir)


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite store at the newest migration, made once: a test's new store is a copy
    of it (running every migration again costs a test more than the rest of its setup).
    tests/test_schema.py checks that the migrations themselves build the schema."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    Store.open(f"sqlite:///{path}", path.parent / "blobs").close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole store in the one file
    db.close()
    return path


def new_sqlite_store(url: str, template: Path) -> None:
    """Put a copy of the template where ``url`` (a SQLite file not made yet) points."""
    target = Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:///") and not target.exists():
        shutil.copyfile(template, target)


@pytest.fixture
def store(project: Project, store_template: Path):
    new_sqlite_store(project.store_url, store_template)
    s = Store.open(project.store_url, project.blob_root)
    yield s
    s.close()


class Cli:
    """Runs deskmove through CliRunner with --project set; returns the result."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self.runner = CliRunner()

    def __call__(self, *args: str, project: Path | None = None, env: dict[str, str] | None = None):
        argv = ["--project", str(project or self.project_dir), *args]
        return self.runner.invoke(app, argv, env=env, catch_exceptions=False)


@pytest.fixture
def cli(project_dir: Path) -> Cli:
    return Cli(project_dir)


@pytest.fixture
def corpora() -> Path:
    root = os.environ.get("DESKMOVE_CORPORA")
    if not root:
        pytest.skip("DESKMOVE_CORPORA is not set (see ../shared/corpora/README.md)")
    path = Path(root)
    if not path.is_dir():
        pytest.fail(f"DESKMOVE_CORPORA={root} is not a folder")
    return path


# -- PostgreSQL ---------------------------------------------------------------------
_db_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server():
    from tests.servers.postgres import PostgresServer

    try:
        server = PostgresServer()
        server.start()
    except Exception as exc:  # noqa: BLE001
        unavailable(f"cannot start PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the test server."""
    return postgres_server.create_database(f"t{os.getpid()}_{next(_db_names)}")


@pytest.fixture
def postgres_store_url(postgres_server) -> str:
    """A fresh database already at the newest migration (a copy of a template database)."""
    return postgres_server.create_database(
        f"t{os.getpid()}_{next(_db_names)}", template=postgres_server.store_template()
    )


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, tmp_path: Path, store_template: Path):
    """The same test against SQLite and a real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        new_sqlite_store(url, store_template)
    else:
        url = request.getfixturevalue("postgres_store_url")
    s = Store.open(url, tmp_path / "blobs")
    yield s
    s.close()


# -- the workspace's passwords ----------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes():
    """argon2id at its smallest cost for the tests: a workspace test hashes and checks a
    password or three, which at argon2-cffi's default cost (64 MiB, 3 passes) is most of its
    time. The hashes stay argon2id; a server started in its own process keeps the default."""
    try:
        from argon2 import PasswordHasher

        from deskmove.web import auth
    except ImportError:  # the web extra is not installed: nothing hashes passwords
        yield
        return
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    patch = pytest.MonkeyPatch()
    patch.setattr(auth, "_hasher", lambda: cheap)
    yield
    patch.undo()


# -- Dovecot --------------------------------------------------------------------------
def _start_dovecot(**options):
    from tests.servers.dovecot import DovecotServer

    if not (shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists()):
        unavailable("dovecot is not installed (apt-get install dovecot-imapd)")
    server = None
    try:
        server = DovecotServer(**options)
        server.start()
    except Exception as exc:  # noqa: BLE001
        if server:
            server.cleanup()
        unavailable(f"cannot start Dovecot: {exc}")
    return server


@pytest.fixture(scope="module")
def dovecot_server():
    """One Dovecot per test module; tests share it through :func:`dovecot`."""
    server = _start_dovecot()
    yield server
    server.cleanup()


@pytest.fixture
def dovecot(dovecot_server):
    """The module's Dovecot, logged into an account of this test's own: empty, UIDs from 1.

    Tests that kill, pause or reconfigure the server take :func:`own_dovecot` instead.
    """
    if not dovecot_server.running:  # an earlier test took it down after all
        dovecot_server.start()
    dovecot_server.new_account()
    return dovecot_server


@pytest.fixture
def own_dovecot():
    """A Dovecot for this test alone, for tests that kill, pause or restart it."""
    server = _start_dovecot()
    yield server
    server.cleanup()


# -- two workers (scripts/test runs `pytest -n 2 --dist loadgroup`) ------------------------
def _group(nodeid: str) -> str:
    """The unit one worker runs whole, in file order: a test module, or all the Request
    Tracker tests together (RT is the slowest server to start, once per worker)."""
    path = nodeid.split("::", 1)[0]
    return "rt" if path.startswith("tests/rt/") else path


# The groups that take longest (minutes on 2 busy cores), handed out before the others so
# the two workers finish together instead of one running RT alone at the end.
LONG_GROUPS = (
    "rt",
    "tests/test_crash.py",
    "tests/test_imap.py",
    "tests/test_cli_admin.py",
    "tests/test_mail_parallel.py",
    "tests/test_web_browser.py",
)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # pytest -p no:xdist still runs
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201
    """``--dist loadgroup``: each group of :func:`_group` goes to one worker, so its module
    fixtures (a Dovecot, a browser, a seeded store, RT) start once, not once per worker.

    pytest-xdist's own loadgroup reads groups from ``@name`` suffixes it adds to node ids,
    which pytest 9.2 no longer lets it change: every test was scheduled on its own. The
    scheduler below groups by the node ids themselves. Largest groups go out first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

        def _assign_work_unit(self, node) -> None:  # noqa: ANN001
            for group in reversed(LONG_GROUPS):  # the longest first: none is left for the end
                if group in self.workqueue:
                    self.workqueue.move_to_end(group, last=False)
            super()._assign_work_unit(node)

    return ModuleGroups(config, log)
