"""Start-up cost: what a command imports and builds before it does its work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deskmove.config import Project
from deskmove.store import Store


def loaded_after(code: str) -> str:
    """Run ``code`` in a fresh interpreter; which heavy libraries it imported."""
    probe = (
        f"{code}\n"
        "import sys\n"
        "print('LOADED', sorted(m for m in ('sqlalchemy', 'sqlmodel', 'alembic', 'httpx') "
        "if m in sys.modules))\n"
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
