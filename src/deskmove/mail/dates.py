"""Mail dates: the Date header as mailers really write it, else Received, else a fallback.

Read as mail clients read them: comments anywhere are ignored (``00:19:00
(EDT) -0400`` is 04:19 UTC, not 00:19), a 12-hour clock with AM/PM is
turned into 24 hours, and a date from the future is clamped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from deskmove.timestamps import read_iso

FUTURE_SLACK = timedelta(days=1)
MAX_DATE = 998  # a Date header longer than a line is cut before parsing
_COMMENT = re.compile(r"\([^()]*+\)")
_SPACES = re.compile(r"\s+")
_AM_PM = re.compile(r"\d\s*[AaPp]\.?[Mm]")
_TWELVE_HOUR = re.compile(r"\b(\d{1,2})(:\d{2}(?::\d{2})?)\s*+([AaPp])\.?[Mm]\.?(?![A-Za-z])")


def normalise(value: str) -> str:
    """Comments removed, white space collapsed, ``12:29:13 AM`` as ``00:29:13``."""
    text = value[:MAX_DATE]
    if "(" in text:
        for _ in range(3):  # nested comments, innermost first
            text, found = _COMMENT.subn(" ", text)
            if not found:
                break
        text = text.partition("(")[0]  # an unclosed comment runs to the end
    if "  " in text or "\t" in text or "\n" in text or "\r" in text:
        text = _SPACES.sub(" ", text)
    text = text.strip()
    if _AM_PM.search(text):
        text = _TWELVE_HOUR.sub(_to_24_hours, text)
    return text


def _to_24_hours(m: re.Match[str]) -> str:
    hour = int(m.group(1))
    if hour > 12:
        return m.group(0)  # "13:00 PM": the hour already says it
    hour %= 12
    if m.group(3) in "Pp":
        hour += 12
    return f"{hour:02d}{m.group(2)}"


def mail_date(
    headers: dict[str, list[str]],
    fallback: datetime | None,
    now: datetime,
    notes: list[str],
) -> tuple[datetime, int | None]:
    """The Date header; else the newest Received date; else the caller's; future dates clamped."""
    received = _received_date(headers.get("received", []))
    for value in headers.get("date", []):
        text = normalise(value)
        parsed = _parse_normalised(text)
        if parsed is None:
            notes.append(f"unreadable Date {value.strip()!r}")
            continue
        if parsed > now + FUTURE_SLACK:
            clamp = min(d for d in (received, fallback, now) if d is not None)
            headers["original-date"] = [value.strip()]
            notes.append(f"Date {value.strip()!r} lies in the future; clamped")
            return clamp.astimezone(UTC), None
        off = parsed.utcoffset()
        naive = off is None or _naive(text)
        tz = None if naive else int(off.total_seconds() // 60)
        return parsed.astimezone(UTC), tz
    if headers.get("date"):
        headers["original-date"] = [headers["date"][0].strip()]
    for candidate in (received, fallback):
        if candidate is not None:
            return min(candidate, now).astimezone(UTC), None
    notes.append("no date anywhere in the message; the import time was used")
    return now, None


_ZONE = re.compile(r"[+-]\d{4}\s*(\(.*\))?\s*$|\b(?:GMT|UTC|UT|[ECMP][SD]T|Z)\b")


def _naive(value: str) -> bool:
    return _ZONE.search(value) is None


def _parse_date(value: str) -> datetime | None:
    return _parse_normalised(normalise(value))


def _parse_normalised(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        try:
            parsed = read_iso(text)  # some mailers write ISO 8601
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year < 1900:
        return None
    return parsed


def _received_date(values: list[str]) -> datetime | None:
    for value in values:  # the first Received header is the last hop: closest to delivery
        _, sep, tail = value.rpartition(";")
        if sep:
            parsed = _parse_date(tail)
            if parsed is not None:
                return parsed.astimezone(UTC)
    return None
