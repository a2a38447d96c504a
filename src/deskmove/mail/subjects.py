"""Subjects: reply/forward prefixes in many languages, list tags, and ticket numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Reply and forward prefixes as mail clients write them, lower-case, without the colon.
PREFIXES = (
    "re",
    "fwd",
    "fw",
    "aw",
    "wg",
    "sv",
    "vs",
    "vb",
    "antw",
    "doorst",
    "odp",
    "pd",
    "př",
    "pr",
    "odpoveď",
    "rv",
    "tr",
    "trans",
    "réf",
    "ref",
    "rif",
    "r",
    "i",
    "enc",
    "res",
    "ynt",
    "ilt",
    "vá",
    "továbbítás",
    "fs",
    "vl",
    "atb",
    "отв",
    "ответ",
    "пересл",
    "переслать",
    "fwd",
    "απ",
    "σχετ",
    "πρθ",
    "回复",
    "答复",
    "转发",
    "轉寄",
    "回覆",
    "tr",
    "rép",
    "wtr",
    "odg",
)
_BLOB = r"\[[^\]]*\]"
MAX_PREFIXES = 64  # "Re: " written 25,000 times is cut after this many, in linear time


def _prefix_regex(prefixes: Iterable[str]) -> re.Pattern[str]:
    words = "|".join(sorted({re.escape(p) for p in prefixes}, key=len, reverse=True))
    # "Re:", "RE :", "Re[2]:", "Re(2):", "Re^2:", also the full-width colon.
    return re.compile(
        rf"^\s*(?:{_BLOB}\s*)*(?:{words})\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*", re.IGNORECASE
    )


_PREFIX = _prefix_regex(PREFIXES)
_TRAILER = re.compile(r"\s*\((?:fwd|fw)\)\s*$", re.IGNORECASE)
_WRAPPER = re.compile(r"^\s*\[(?:fwd|fw)\s*:\s*(.*)\]\s*$", re.IGNORECASE | re.DOTALL)
_LEADING_BLOBS = re.compile(rf"^\s*(?:{_BLOB}\s*)+")
_SPACE = re.compile(r"\s+")

# Ticket numbers helpdesks put into subjects: [#123], [Ticket#123], [rt #123], [ACME-123].
_TICKET_NUMBER = re.compile(
    r"\[\s*(?:(?:ticket|case|request|rt|issue|req|tiket|zgłoszenie|požadavek|заявка)\s*)?"
    r"#\s*(\d{1,12})\s*\]"
    r"|\[\s*([A-Za-z][A-Za-z0-9]{1,15})[-#](\d{1,12})\s*\]",
    re.IGNORECASE,
)


def strip_prefixes(subject: str, extra: Iterable[str] = ()) -> tuple[str, bool]:
    """The base subject and whether any reply/forward marker was removed (RFC 5256 style)."""
    rx = _prefix_regex([*PREFIXES, *extra]) if extra else _PREFIX
    text = _SPACE.sub(" ", subject or "").strip()
    marked = False
    for _ in range(MAX_PREFIXES):
        before = text
        text = _TRAILER.sub("", text)
        m = rx.match(text)
        if m:
            text = text[m.end() :]
        wrapped = _WRAPPER.match(text)
        if wrapped:
            text = wrapped.group(1).strip()
        if text == before:
            break
        marked = True
    stripped = _LEADING_BLOBS.sub("", text)
    return (stripped if stripped else text).strip(), marked


def base_subject(subject: str, extra: Iterable[str] = ()) -> str:
    """The subject to compare threads by: prefixes and list tags gone, case and spaces folded."""
    return strip_prefixes(subject, extra)[0].casefold()


def ticket_numbers(subject: str) -> list[str]:
    """Ticket numbers a helpdesk wrote into the subject, as thread keys ("#123", "acme-123")."""
    out = []
    for m in _TICKET_NUMBER.finditer(subject or ""):
        if m.group(1):
            out.append(f"#{m.group(1)}")
        else:
            out.append(f"{m.group(2).lower()}-{m.group(3)}")
    return out
