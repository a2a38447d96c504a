"""The one timestamp reader: ISO 8601 text (with or without an offset) and unix seconds.

CSV files, mappings' date columns, REST payloads and cursors, and the ISO dates
some mailers write all come through here, so "2024-03-01T09:30:00Z",
"2024-03-01 09:30:00+01:00" and 1709285400 mean the same everywhere. (RFC 5322
``Date:`` headers, mbox ``From_`` lines and IMAP INTERNALDATE have their own
formats and readers in mail/ and sources/imap_client.py.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any


def parse_iso(text: str, *, naive_tz: tzinfo | None = UTC, formats: Sequence[str] = ()) -> datetime:
    """An aware datetime from ISO 8601 text, or from one of ``formats`` (strptime);
    a time without an offset is read in ``naive_tz`` (None: refused). Raises ValueError."""
    text = text.strip()
    dt = read_iso(text, formats)
    if dt.tzinfo is None:
        if naive_tz is None:
            raise ValueError(f"'{text}' has no UTC offset")
        dt = dt.replace(tzinfo=naive_tz)
    return dt


def read_iso(text: str, formats: Sequence[str] = ()) -> datetime:
    """ISO 8601 text (or one of ``formats``) as written: naive when it has no offset."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return _strptime(text.strip(), formats)


def _strptime(text: str, formats: Sequence[str]) -> datetime:
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"'{text}' is not an ISO 8601 timestamp")


def parse_instant(value: Any) -> datetime | None:
    """ISO 8601 text or unix seconds (a number, or digits) as an aware datetime; an empty
    value is None; a time without an offset is UTC. Raises ValueError on anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(text), UTC)
    return parse_iso(text)


def offset_minutes(text: str, dt: datetime) -> int | None:
    """The offset ``text`` was written with, in minutes; None for ``Z`` (UTC, no local time)."""
    if text.rstrip().endswith(("Z", "z")):
        return None
    off = dt.utcoffset()
    return int(off.total_seconds() // 60) if off is not None else None


def utc_iso(value: datetime | None) -> str | None:
    """``2024-03-01T08:30:00Z``: the form REST APIs take."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
