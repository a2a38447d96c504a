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
from dataclasses import dataclass, fields
from datetime import datetime
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
# Fields checked together, in one join at C speed, by their annotation: text, lists of
# text, and person references (their text fields). Any other field, and these when a
# value is not of its annotated kind, are checked one by one.
_TEXT, _LISTS, _REFS = {"str", "str | None"}, {"list[str]"}, {"PersonRef | None"}
# Fields that hold no text at all while their values are of these types (else: one by one).
_SCALARS = {"bool", "int", "int | None", "float", "float | None", "datetime", "datetime | None"}
_SCALAR_TYPES = {bool, int, float, datetime, type(None)}


@dataclass(frozen=True)
class _Plan:
    text: tuple[str, ...]
    lists: tuple[str, ...]
    refs: tuple[str, ...]
    scalars: tuple[str, ...]
    rest: tuple[str, ...]
    get_text: Any
    get_lists: Any
    get_refs: Any
    get_scalars: Any
    get_rest: Any


_plans: dict[type, _Plan] = {}


def _getter(names: tuple[str, ...]) -> Any:
    """The values of ``names`` of a record, always as a tuple."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda rec: (one(rec),)
    return lambda rec: ()


def _plan(cls: type) -> _Plan:
    plan = _plans.get(cls)
    if plan is None:
        kinds = {f.name: f.type for f in fields(cls)}
        names = [n for n in cls.__slots__ if n not in _SKIP]  # type: ignore[attr-defined]
        text = tuple(n for n in names if kinds.get(n) in _TEXT)
        lists = tuple(n for n in names if kinds.get(n) in _LISTS)
        refs = tuple(n for n in names if kinds.get(n) in _REFS)
        scalars = tuple(n for n in names if kinds.get(n) in _SCALARS)
        rest = tuple(n for n in names if n not in text + lists + refs + scalars)
        groups = (text, lists, refs, scalars, rest)
        plan = _plans[cls] = _Plan(*groups, *map(_getter, groups))
    return plan


_REF_TEXT = _getter(tuple(n for n in PersonRef.__slots__))  # type: ignore[attr-defined]


def _clean_at_once(plan: _Plan, rec: Any) -> bool:
    """Whether the text, list and reference fields are certainly free of NUL."""
    try:
        parts = list(filter(None, plan.get_text(rec)))
        for values in plan.get_lists(rec):
            parts += values
        for ref in plan.get_refs(rec):
            if ref is not None:
                parts += filter(None, _REF_TEXT(ref))
        return NUL not in "".join(parts)
    except (TypeError, AttributeError):  # a value not of its field's kind: one by one
        return False


def _record(rec: Any, kind: str, found: Counter[str]) -> None:
    plan = _plan(type(rec))
    if not _clean_at_once(plan, rec):
        _values(rec, plan.text, plan.get_text(rec), kind, found)
        _values(rec, plan.lists, plan.get_lists(rec), kind, found)
        _values(rec, plan.refs, plan.get_refs(rec), kind, found)
    scalars = plan.get_scalars(rec)
    if not _SCALAR_TYPES.issuperset(map(type, scalars)):
        _values(rec, plan.scalars, scalars, kind, found)
    _values(rec, plan.rest, plan.get_rest(rec), kind, found)


def _values(rec: Any, names: tuple[str, ...], values: Any, kind: str, found: Counter[str]) -> None:
    for name, value in zip(names, values, strict=True):
        cls = value.__class__
        if cls is str:
            if NUL not in value:
                continue
        elif cls is PersonRef:
            _record(value, kind, found)
            continue
        elif (cls is not list and cls is not dict and cls is not tuple) or not value:
            continue  # not text, or an empty container
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
