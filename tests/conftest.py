"""Shared fixtures: a fresh project and store per test, the CLI, real servers."""

from __future__ import annotations

import itertools
import os
import shutil
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


@pytest.fixture
def store(project: Project):
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


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, tmp_path: Path):
    """The same test against SQLite and a real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    s = Store.open(url, tmp_path / "blobs")
    yield s
    s.close()


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
