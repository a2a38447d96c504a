"""Mail bodies for display: sanitised HTML with remote images held back and cid:
images pointed at the blob store, quoted history collapsed, times in the viewer's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import nh3

_SAFE_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,", re.I)
_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}


@dataclass
class Body:
    html: str
    blocked_images: int = 0
    missing_inline: list[str] = field(default_factory=list)


CACHED_CHARS = 512 * 1024  # bodies up to this size are kept sanitised in memory


def display_html_cached(raw: str, *, inline: dict[str, str], remote_images: bool = False) -> Body:
    """:func:`display_html`, remembered for the last few hundred bodies: a ticket opened
    again (or by a colleague) does not sanitise the same mail again. The key is the HTML
    itself with the inline images and the remote choice, so a changed body is sanitised anew."""
    if len(raw) > CACHED_CHARS:
        return display_html(raw, inline=inline, remote_images=remote_images)
    return _display_cached(raw, tuple(sorted(inline.items())), remote_images)


@lru_cache(maxsize=256)
def _display_cached(raw: str, inline: tuple[tuple[str, str], ...], remote_images: bool) -> Body:
    return display_html(raw, inline=dict(inline), remote_images=remote_images)


def display_html(raw: str, *, inline: dict[str, str], remote_images: bool = False) -> Body:
    """Sanitise a mail's HTML for the viewer (shown in a sandboxed frame under its own CSP).

    ``inline`` maps Content-IDs to URLs of the message's attachments. Remote
    images are dropped (and counted) unless ``remote_images``.
    """
    body = Body("")

    def attribute(tag: str, attr: str, value: str) -> str | None:
        v = value.strip()
        low = v.lower()
        if tag == "img" and attr == "src":
            if low.startswith("cid:"):
                url = inline.get(v[4:].strip().strip("<>"))
                if url is None:
                    body.missing_inline.append(v[4:])
                return url
            if _SAFE_DATA_IMAGE.match(v):
                return v
            if low.startswith(("http:", "https:", "//")):
                if remote_images:
                    return v
                body.blocked_images += 1
                return None
            return None
        if attr == "href":
            return v if low.startswith(_LINK_SCHEMES) else None
        if attr in ("src", "srcset", "background", "action", "formaction", "poster"):
            return None
        return value

    cleaned = _clean(raw, attribute)
    body.html = collapse_blockquotes(cleaned)
    return body


def _clean(raw: str, attribute) -> str:  # type: ignore[no-untyped-def]
    kwargs = {
        "url_schemes": _SCHEMES,
        "clean_content_tags": {"script", "style", "title", "noscript", "template"},
        "link_rel": "noopener noreferrer",
        "set_tag_attribute_values": {"a": {"target": "_blank"}},
        "attribute_filter": attribute,
        "strip_comments": True,
    }
    try:
        return nh3.clean(raw, **kwargs)
    except Exception:  # noqa: BLE001 - nh3 refuses some inputs (NUL); keep the rest
        return nh3.clean(raw.replace("\x00", ""), **kwargs)


_BQ = re.compile(r"<(/?)blockquote\b[^>]*>", re.I)


def collapse_blockquotes(html: str, summary: str = "…") -> str:
    """Wrap each outermost <blockquote> in <details>, so quoted history starts folded."""
    out: list[str] = []
    depth = 0
    pos = 0
    for m in _BQ.finditer(html):
        closing = m.group(1) == "/"
        out.append(html[pos : m.start()])
        if not closing:
            if depth == 0:
                out.append(f'<details class="quoted"><summary>{summary}</summary>')
            depth += 1
            out.append(m.group(0))
        else:
            out.append(m.group(0))
            if depth > 0:
                depth -= 1
                if depth == 0:
                    out.append("</details>")
        pos = m.end()
    out.append(html[pos:])
    if depth > 0:
        out.append("</details>")
    return "".join(out)


# Lines that introduce quoted history in English, Czech, Polish, Russian and German mail.
_ATTRIBUTION = re.compile(
    r"^\s*(On\s.{3,200}\swrote:|Dne\s.{3,200}\snapsal\(?a?\)?:?|W\sdniu\s.{3,200}\spisze:|"
    r".{0,200}\sпишет:|.{0,200}\sнаписал\(?а?\)?:|Am\s.{3,200}\sschrieb\s.{0,200}:|"
    r"-{2,}\s*(Original Message|Původní zpráva|Oryginalna wiadomość|Исходное сообщение|"
    r"Ursprüngliche Nachricht|Forwarded message|Přeposlaná zpráva)\s*-{2,})\s*$",
    re.I,
)


def split_quoted(text: str) -> tuple[str, str]:
    """(what the author wrote, the quoted history below it) of a plain-text body."""
    lines = text.splitlines()
    n = len(lines)
    # from the end: where the trailing block of quoted (or blank) lines begins
    tail = n
    while tail > 0 and (lines[tail - 1].startswith(">") or not lines[tail - 1].strip()):
        tail -= 1
    quoted_tail = tail < n and any(line.startswith(">") for line in lines[tail:])
    for i, line in enumerate(lines[: tail + 1] if quoted_tail else lines):
        if len(line) < 300 and _ATTRIBUTION.match(line):
            if i == 0:
                break
            return "\n".join(lines[:i]).rstrip(), "\n".join(lines[i:])
    if quoted_tail and tail > 0:
        return "\n".join(lines[:tail]).rstrip(), "\n".join(lines[tail:]).strip("\n")
    return text, ""


def zone(name: str | None) -> ZoneInfo | timezone:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def local_time(value: datetime | None, tz: ZoneInfo | timezone, lang: str) -> str:
    if value is None:
        return ""
    return _local_time(value, tz, lang)


@lru_cache(maxsize=8192)
def _local_time(value: datetime, tz: ZoneInfo | timezone, lang: str) -> str:
    """Babel's medium date and time (about 40 µs each; a list page shows 50, mostly the
    same ones again on the next visit)."""
    from babel.dates import format_datetime

    return format_datetime(value.astimezone(tz), "medium", locale=_locale(lang))


@cache
def _locale(lang: str) -> Any:
    """Babel's locale, parsed once: given as a string, Babel loads its data on every call
    (a third of a millisecond, 50 times on a list page)."""
    from babel import Locale

    return Locale.parse(lang)


def original_time(value: datetime | None, offset_minutes: int | None) -> str:
    """The time as the sender's clock showed it (ISO 8601 with its offset)."""
    if value is None:
        return ""
    if offset_minutes is None:
        return value.astimezone(UTC).isoformat(timespec="minutes")
    return value.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat(
        timespec="minutes"
    )
