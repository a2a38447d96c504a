"""The canonical CSV layout, shared by the csv source and target.

DESIGN.md's columns come first, in its order; deskmove adds a few trailing columns
so that nothing in the store is lost on a round trip (readers treat every added
column as optional, so files without them still import):

- tickets.csv: ``flags`` (``auto``/``spam``, space-separated), ``thread_key``
- messages.csv: ``to``, ``cc``, ``references`` (space-separated), ``in_reply_to``,
  ``headers`` (JSON), ``flags`` (``auto``)
- people.csv: ``other_emails`` (space-separated; ``email`` is the primary address)
- attachments.csv: ``content_id``, ``inline``

Cells a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) are written with a leading ``'``, as OWASP
recommends, and so is every cell that really starts with ``'``; the folder's
``deskmove-export.json`` says so, and the csv source then removes exactly one
leading ``'`` from every cell, which gives back the original text. ``?formulas=raw``
writes the values untouched (and says that instead).

Timestamps are ISO 8601 with an offset. A message's ``created_at`` keeps the
sender's offset when the source knew it (``+02:00``) and is written in UTC with a
``Z`` when it did not.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from deskmove.timestamps import offset_minutes, read_iso

TICKETS = (
    "id",
    "source",
    "source_id",
    "subject",
    "status",
    "priority",
    "type",
    "channel",
    "requester_email",
    "assignee_email",
    "group",
    "organization",
    "tags",
    "created_at",
    "updated_at",
    "solved_at",
    "message_count",
    "custom_fields",
    "flags",
    "thread_key",
)
MESSAGES = (
    "id",
    "ticket_id",
    "source_id",
    "message_id",
    "author_email",
    "author_name",
    "direction",
    "public",
    "created_at",
    "subject",
    "body_text",
    "body_html",
    "attachment_count",
    "to",
    "cc",
    "in_reply_to",
    "references",
    "headers",
    "flags",
)
PEOPLE = ("email", "name", "role", "organization", "phone", "other_emails")
ATTACHMENTS = (
    "message_id",
    "filename",
    "content_type",
    "size",
    "sha256",
    "path",
    "content_id",
    "inline",
)

FILES = {
    "tickets.csv": TICKETS,
    "messages.csv": MESSAGES,
    "people.csv": PEOPLE,
    "attachments.csv": ATTACHMENTS,
}
REQUIRED = {
    "tickets.csv": ("id",),
    "messages.csv": ("id", "ticket_id"),
    "people.csv": ("email",),
    "attachments.csv": ("message_id",),
}

MANIFEST = "deskmove-export.json"
FORMULA_MODES = ("escaped", "raw")
# A cell starting with one of these runs as a formula in Excel, LibreOffice and Sheets;
# "'" is escaped too, so that removing one leading "'" on import is never ambiguous.
_ESCAPE_FIRST = frozenset("=+-@\t\r'")


def escape_cells(values: list[str]) -> list[str]:
    return ["'" + v if v[:1] in _ESCAPE_FIRST else v for v in values]


def cells_out(values: list[str], escape: bool) -> list[str]:
    """A row as written: no NUL (a store from before NUL was stripped on import), formulas escaped."""
    if "\x00" in "".join(values):
        values = [v.replace("\x00", "") for v in values]
    return escape_cells(values) if escape else values


def unescape_cells(values: list[str]) -> list[str]:
    return [v[1:] if v[:1] == "'" else v for v in values]


def manifest(formulas: str) -> str:
    return json.dumps(
        {
            "layout": "deskmove canonical CSV",
            "formulas": formulas,
            "escaping": "one ' was added before every cell starting with = + - @ tab, CR or '"
            if formulas == "escaped"
            else "none: cells are written as they are in the store",
        },
        indent=2,
    )


def cells_escaped(folder: Path) -> bool:
    """Whether deskmove exported this folder with formula cells escaped."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("formulas") == "escaped"


# One field may hold a long HTML mail body; an unclosed quote stops at this size.
FIELD_LIMIT = 16 * 1024 * 1024

TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f"}


def fmt_time(value: datetime | None, tz_minutes: int | None = None) -> str:
    if value is None:
        return ""
    if tz_minutes is None:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.astimezone(timezone(timedelta(minutes=tz_minutes))).isoformat()


def parse_time(text: str, naive_tz: tzinfo | None = None) -> tuple[datetime | None, int | None]:
    """(aware datetime, offset minutes or None for 'Z'); raises ValueError."""
    text = text.strip()
    if not text:
        return None, None
    dt = read_iso(text)
    if dt.tzinfo is None:
        if naive_tz is None:
            raise ValueError(f"'{text}' has no UTC offset")
        return dt.replace(tzinfo=naive_tz), None
    return dt, offset_minutes(text, dt)


def parse_bool(text: str, default: bool) -> bool:
    t = text.strip().lower()
    if not t:
        return default
    if t in TRUE:
        return True
    if t in FALSE:
        return False
    raise ValueError(f"'{text}' is not true or false")


def fmt_bool(value: bool) -> str:
    return "true" if value else "false"


def words(text: str) -> list[str]:
    return text.split() if text else []
