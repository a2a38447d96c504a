"""The rooms stay apart (ARCHITECTURE.md): all SQL in store/, mail/ and sources/ reach
the store only through its interfaces. Read from the source text, nothing is run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "deskmove"
SQL_HOME = {"store", "model.py"}  # the database room, and the tables it owns
DATABASE_MODULES = {"sqlalchemy", "sqlmodel", "sqlite3", "alembic", "psycopg", "psycopg2"}
# what only a database connection is asked: running statements, a table's columns
DATABASE_CALLS = {"execute", "executemany", "executescript", "exec_driver_sql", "scalars"}
DATABASE_ATTRIBUTES = {"__table__", "engine"}
SQL_TEXT = re.compile(
    r"\b(SELECT\s[\s\S]*\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX|VIEW|TRIGGER)|DROP\s+(TABLE|INDEX)|ALTER\s+TABLE"
    r"|PRAGMA\s+\w+)\b"
)
THROUGH_INTERFACES = {"mail", "sources"}  # and the read side of the REST engine:
REST_READ_SIDE = {"rest/source.py", "rest/streams.py", "rest/paginate.py"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _room(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def _outside_store() -> list[Path]:
    return [p for p in _modules() if _room(p) not in SQL_HOME]


def _imports(tree: ast.AST) -> list[tuple[ast.stmt, str]]:
    found: list[tuple[ast.stmt, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node, node.module))
            found += [(node, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import statements under ``if TYPE_CHECKING:`` (types, never run)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                inside |= {id(n) for n in ast.walk(child)}
    return inside


def _line(node: ast.AST) -> int:
    return getattr(node, "lineno", 0)


def database_uses(source: str, name: str = "<probe>") -> list[str]:
    """What in ``source`` talks to a database: imports, SQL text, statements, tables."""
    tree = ast.parse(source, name)
    found = [
        f"{name}:{_line(node)} imports {module}"
        for node, module in _imports(tree)
        if module.split(".")[0] in DATABASE_MODULES
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = SQL_TEXT.search(node.value)
            if match:
                found.append(f"{name}:{_line(node)} has SQL text {match.group(0)[:40]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in DATABASE_CALLS:
                found.append(f"{name}:{_line(node)} calls .{node.func.attr}()")
        elif isinstance(node, ast.Attribute) and node.attr in DATABASE_ATTRIBUTES:
            found.append(f"{name}:{_line(node)} reads .{node.attr}")
    return found


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", _outside_store(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_database_code_outside_store(path: Path) -> None:
    found = database_uses(path.read_text("utf-8"), _name(path))
    assert found == [], "move it into a function of a store/ module"


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in _modules()
        if _room(p) in THROUGH_INTERFACES or p.relative_to(PACKAGE).as_posix() in REST_READ_SIDE
    ],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_sources_import_the_store_for_types_only(path: Path) -> None:
    """They are handed a ``Store`` (and a ``ThreadStore``); they never import its insides."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    where = _name(path)
    types_only = _type_checking_only(tree)
    runtime = [
        f"{where}:{_line(node)} imports {name}"
        for node, name in _imports(tree)
        if (name == "deskmove.store" or name.startswith("deskmove.store."))
        and id(node) not in types_only
    ]
    assert runtime == [], "call a Store method instead (add one in store/ if it is missing)"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sqlite3\n", "imports sqlite3"),
        ("if TYPE_CHECKING:\n    from sqlalchemy.engine import Connection\n", "imports sqlalchemy"),
        ('q = "SELECT data FROM m WHERE ticket = ?"\n', "SQL text"),
        ('q = f"DELETE FROM c WHERE k IN ({marks})"\n', "SQL text"),
        ("db.execute(stmt)\n", "calls .execute()"),
        ("t = Message.__table__\n", "reads .__table__"),
        ("store.engine.dispose()\n", "reads .engine"),
    ],
    ids=["sqlite3", "type-import", "sql-text", "f-string", "execute", "table", "engine"],
)
def test_the_check_sees_database_code(source: str, expected: str) -> None:
    found = database_uses(source)
    assert any(expected in f for f in found), found


def test_prose_and_imap_are_not_sql() -> None:
    prose = '''"""Select the tickets from the store; delete from the folder."""
typ, data = imap.select(quote(folder), readonly=True)
imap._simple_command("EXAMINE", name)
'''
    assert database_uses(prose) == []


def test_no_code_opts_out_of_the_formatter() -> None:
    """One layout everywhere: `ruff format` owns it (scripts/test checks it), no line hides."""
    root = PACKAGE.parents[1]
    marker = re.compile(r"#\s*fmt:\s*(skip|off)\b")
    hidden = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("src", "tests", "bench", "examples")
        for path in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if marker.search(line) and path != Path(__file__)
    ]
    assert hidden == []
