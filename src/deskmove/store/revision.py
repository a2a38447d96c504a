"""The newest migration, read from the files (no Alembic, no SQLAlchemy: start-up reads it)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every migration this deskmove has."""
    found = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        rev = re.search(
            r"^revision(?:\s*:[^=]*)?\s*=\s*[\"']([^\"']+)[\"']", path.read_text("utf-8"), re.M
        )
        if rev is not None:
            found.add(rev.group(1))
    return frozenset(found)


@functools.cache
def head_revision() -> str | None:
    """The newest migration, read from the files in migrations/versions (None if unclear,
    e.g. two heads: then Alembic decides)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text("utf-8")
        rev = re.search(r"^revision(?:\s*:[^=]*)?\s*=\s*[\"']([^\"']+)[\"']", text, re.M)
        down = re.search(r"^down_revision(?:\s*:[^=]*)?\s*=\s*(.+)$", text, re.M)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        parents.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None
