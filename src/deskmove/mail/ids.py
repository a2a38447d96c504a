"""Message-ID handling: normalised ids from threading headers, Outlook Thread-Index roots.

Every function here is linear in its input: a header of a million characters or
sixty thousand ids is read once, and absurd sizes are cut with a note.
"""

from __future__ import annotations

import base64
import binascii
import re

# An id between angle brackets: "[^<>]" cannot run past the next bracket, so an
# unclosed "<" costs one scan to the next "<", never a backtracking search.
_ID = re.compile(r"<([^<>]*)>")
_BARE = re.compile(r"[^\s<>]+@[^\s<>]+")
_SPACE = re.compile(r"\s+")
MAX_ID_LENGTH = 998  # RFC 5322's line limit: no real Message-ID is longer
MAX_IDS = 500  # a References chain longer than this keeps its root and its newest ids


def normalise_id(token: str) -> str | None:
    """``<local@domain>`` with whitespace and quotes around the local part removed; None if invalid."""
    if len(token) > MAX_ID_LENGTH * 4:
        return None
    inner = _SPACE.sub("", token.strip().strip("<>"))
    if "@" not in inner or len(inner) > MAX_ID_LENGTH:
        return None
    local, _, domain = inner.rpartition("@")
    if local.startswith('"') and local.endswith('"') and len(local) > 1:
        local = local[1:-1]
    if not local or not domain:
        return None
    return f"<{local}@{domain}>"


def parse_ids(value: str | None, notes: list[str] | None = None, *, name: str = "") -> list[str]:
    """Every valid Message-ID in a header value, in order, without repeats.

    More than :data:`MAX_IDS` ids keep the first (the thread's root) and the
    newest ones, and say so in ``notes``.
    """
    if not value:
        return []
    out: dict[str, None] = {}
    for m in _ID.finditer(value):
        mid = normalise_id(m.group(1))
        if mid:
            out.setdefault(mid)
    if not out:  # some mailers drop the angle brackets
        for token in value.split():
            mid = normalise_id(token)
            if mid and _BARE.fullmatch(mid[1:-1]):
                out.setdefault(mid)
    ids = list(out)
    if len(ids) > MAX_IDS:
        if notes is not None:
            notes.append(
                f"{name or 'header'} holds {len(ids)} Message-IDs; kept the first and "
                f"the last {MAX_IDS - 1}"
            )
        ids = ids[:1] + ids[-(MAX_IDS - 1) :]
    return ids


def thread_index_root(value: str) -> str | None:
    """The conversation root of an Outlook Thread-Index: its first 22 bytes (time + GUID)."""
    try:
        data = base64.b64decode(_SPACE.sub("", value[:4096]), validate=False)
    except (binascii.Error, ValueError):
        return None
    if len(data) < 22:
        return None
    return base64.b16encode(data[:22]).decode().lower()
