"""Message-ID handling: normalised ids from threading headers, Outlook Thread-Index roots."""

from __future__ import annotations

import base64
import binascii
import re

_ID = re.compile(r"<([^<>\s]*?[^<>]*?)>")


def normalise_id(token: str) -> str | None:
    """``<local@domain>`` with whitespace and quotes around the local part removed; None if invalid."""
    inner = re.sub(r"\s+", "", token.strip().strip("<>"))
    if "@" not in inner:
        return None
    local, _, domain = inner.rpartition("@")
    if local.startswith('"') and local.endswith('"') and len(local) > 1:
        local = local[1:-1]
    if not local or not domain:
        return None
    return f"<{local}@{domain}>"


def parse_ids(value: str | None) -> list[str]:
    """Every valid Message-ID in a header value, in order, without repeats."""
    if not value:
        return []
    out: list[str] = []
    for m in _ID.finditer(value):
        mid = normalise_id(m.group(1))
        if mid and mid not in out:
            out.append(mid)
    if not out:  # some mailers drop the angle brackets
        for token in value.split():
            mid = normalise_id(token)
            if mid and mid not in out and re.fullmatch(r"[^\s<>]+@[^\s<>]+", mid[1:-1]):
                out.append(mid)
    return out


def thread_index_root(value: str) -> str | None:
    """The conversation root of an Outlook Thread-Index: its first 22 bytes (time + GUID)."""
    try:
        data = base64.b64decode(re.sub(r"\s+", "", value), validate=False)
    except (binascii.Error, ValueError):
        return None
    if len(data) < 22:
        return None
    return base64.b16encode(data[:22]).decode().lower()
