"""The consultant's ticks and notes, kept in the store's ``audit_checks`` table."""

from __future__ import annotations

import difflib

from deskmove.audit.evidence import Item, Report
from deskmove.errors import UsageError
from deskmove.store.audit import AuditQueries


def apply_checks(db: AuditQueries, report: Report) -> None:
    """Put saved ticks and notes on the report's items; flag ticks whose evidence changed."""
    saved = db.saved_checks()
    known = {i.id for i in report.all_items()}
    report.extras["orphans"] = [
        {"id": r.item, "checked": bool(r.checked), "note": r.note}
        for r in saved.values()
        if r.item not in known and (r.checked or r.note)
    ]
    for item in report.all_items():
        row = saved.get(item.id)
        if row is None:
            continue
        item.checked = bool(row.checked)
        item.note = row.note
        item.changed = item.checked and row.evidence_hash != item.evidence_hash()


def set_check(
    db: AuditQueries, report: Report, item_id: str, *, checked: bool, note: str | None
) -> Item:
    """Tick (or untick) an item, keeping its current evidence hash; a note replaces the old one."""
    item = report.item(item_id)
    if item is None:
        raise UsageError(f"no audit item '{item_id}'", _hint(report, item_id))
    db.save_check(item_id, checked=checked, evidence_hash=item.evidence_hash(), note=note)
    item.checked, item.changed = checked, False
    if note is not None:
        item.note = note
    return item


def _hint(report: Report, item_id: str) -> str:
    ids = [i.id for i in report.all_items()]
    close = difflib.get_close_matches(item_id, ids, n=3, cutoff=0.5)
    if close:
        return f"did you mean {', '.join(close)}? (deskmove audit lists every item's id)"
    return "run deskmove audit to see the item ids, e.g. " + ", ".join(ids[:4])
