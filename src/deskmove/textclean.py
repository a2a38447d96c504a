"""One rule for NUL in text, on SQLite and PostgreSQL alike: it is stripped at the store's door.

PostgreSQL cannot keep U+0000 in a text column (nor in JSON), and no helpdesk
wants it; SQLite would keep it and every export would carry it on. So every
text value of every record a source hands to the store (names, addresses,
subjects, bodies, tags, headers, custom fields, quarantine references) loses
its NUL characters before it is hashed or written, and the run says how many
fields were cleaned. Bytes (the raw mail and attachment blobs, quarantined
raw rows) are never touched: the original stays as it was.
"""

from __future__ import annotations

from collections import Counter
from operator import attrgetter
from typing import Any

from deskmove.records import Batch, PersonRef

NUL = "\x00"


def _dirty(value: Any) -> bool:
    """Whether a text value holds NUL anywhere (through lists, tuples and dicts)."""
    kind = type(value)
    if kind is str:
        return NUL in value
    if kind is list or kind is tuple:
        try:
            return NUL in "".join(value)  # the common case, at C speed: a list of strings
        except TypeError:
            return any(map(_dirty, value))
    if kind is dict:
        return any(map(_dirty, value)) or any(map(_dirty, value.values()))
    return False


def _clean(value: Any) -> tuple[Any, bool]:
    """(value without NUL, whether anything changed), through lists and dicts."""
    kind = type(value)
    if kind is str:
        return (value.replace(NUL, ""), True) if NUL in value else (value, False)
    if kind is list or kind is tuple:
        if not _dirty(value):
            return value, False
        parts = [_clean(v) for v in value]
        if any(changed for _v, changed in parts):
            return kind(v for v, _c in parts), True
        return value, False
    if kind is dict:
        if not _dirty(value):  # walked, not repr()ed: a mail's headers are a large dict
            return value, False
        out, changed = {}, False
        for k, v in value.items():
            k2, ck = _clean(k)
            v2, cv = _clean(v)
            out[k2] = v2
            changed = changed or ck or cv
        return out, changed
    return value, False


_SKIP = {"messages", "attachments"}  # nested records: strip_nul walks them itself
_getters: dict[type, tuple[tuple[str, ...], Any]] = {}


def _fields(cls: type) -> tuple[tuple[str, ...], Any]:
    if cls not in _getters:
        names = tuple(n for n in cls.__slots__ if n not in _SKIP)  # type: ignore[attr-defined]
        _getters[cls] = (names, attrgetter(*names))
    return _getters[cls]


def _record(rec: Any, kind: str, found: Counter[str]) -> None:
    names, get = _fields(type(rec))
    values = get(rec)
    for name, value in zip(names, values, strict=True):
        cls = value.__class__
        if cls is str:
            if NUL not in value:
                continue
        elif cls is PersonRef:
            _record(value, kind, found)
            continue
        elif cls is not list and cls is not dict and cls is not tuple:
            continue
        cleaned, changed = _clean(value)
        if changed:
            setattr(rec, name, cleaned)
            found[f"{kind}.{name}"] += 1


def strip_nul(batch: Batch) -> Counter[str]:
    """Remove NUL from every text value in the batch; count the fields, by kind.field."""
    found: Counter[str] = Counter()
    for p in batch.people:
        _record(p, "person", found)
    for o in batch.organizations:
        _record(o, "organization", found)
    for g in batch.groups:
        _record(g, "group", found)
    for t in batch.tickets:
        _record(t, "ticket", found)
        for m in t.messages:
            _record(m, "message", found)
            for a in m.attachments:
                _record(a, "attachment", found)
    for q in batch.quarantined:
        _record(q, "quarantine", found)
    return found


def describe(found: Counter[str]) -> str:
    fields = ", ".join(f"{n} × {k}" for k, n in sorted(found.items()))
    return (
        f"NUL characters stripped from {sum(found.values())} text fields ({fields}); "
        "the raw originals keep them"
    )


def strip_nul_fields(obj: Any) -> list[str]:
    """Remove NUL from the text fields of a dataclass (a parsed mail); the names changed."""
    names = getattr(obj, "__slots__", None) or list(vars(obj))
    changed = []
    for name in names:
        value = getattr(obj, name)
        if value is None or type(value) in (int, bool, float):
            continue
        cleaned, did = _clean(value)
        if did:
            setattr(obj, name, cleaned)
            changed.append(name)
    return changed
