"""Data-quality findings, each a count and a few examples (counted by the store)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from deskmove.store.audit import AuditQueries

EXAMPLES = 3
TICKET_CHECKS = {
    "tickets_without_requester": "Tickets without a requester",
    "tickets_without_messages": "Tickets without any message",
}
MESSAGE_CHECKS = {
    "messages_without_date": "Messages without a date",
    "dates_in_future": "Messages dated in the future",
    "broken_threads": "Replies whose parent message is not in the store (broken threads)",
    "undecodable_text": "Messages with undecodable characters (charset damage, �)",
}


def quality(db: AuditQueries, now: datetime) -> list[dict[str, Any]]:
    """Every check, always listed; ``count`` 0 means the data is clean on that point."""
    future = now + timedelta(days=1)
    checks = [
        _check(db, key, title, future, _ticket_example) for key, title in TICKET_CHECKS.items()
    ]
    checks += [
        _check(db, key, title, future, _message_example) for key, title in MESSAGE_CHECKS.items()
    ]
    checks.insert(4, _several_addresses(db))
    checks.insert(5, _same_name(db))
    checks.append(_quarantined(db))
    return checks


def _check(
    db: AuditQueries, key: str, title: str, future: datetime, example: Any
) -> dict[str, Any]:
    n, rows = db.quality(key, future, EXAMPLES)
    return {"key": key, "title": title, "count": n, "examples": [example(r) for r in rows]}


def _ticket_example(r: Any) -> str:
    when = f" ({r.created_at:%Y-%m-%d})" if r.created_at else ""
    return f"ticket #{r.id} “{r.subject or '(no subject)'}”{when}"


def _message_example(r: Any) -> str:
    when = f"{r.created_at:%Y-%m-%d %H:%M}" if r.created_at else "no date"
    ref = f", In-Reply-To {r.in_reply_to}" if r.in_reply_to else ""
    return f"message #{r.id} in ticket #{r.ticket_id} ({when}) “{r.subject or '(no subject)'}”{ref}"


def _several_addresses(db: AuditQueries) -> dict[str, Any]:
    n, people = db.people_with_several_addresses(EXAMPLES)
    return {
        "key": "people_with_several_addresses",
        "title": "People with several addresses (one person; the target must accept this)",
        "count": n,
        "examples": [
            f"{name or 'person #' + str(pid)}: {', '.join(addresses)}"
            for pid, name, addresses in people
        ],
    }


def _same_name(db: AuditQueries) -> dict[str, Any]:
    n, names = db.people_sharing_a_name(EXAMPLES)
    return {
        "key": "possible_duplicate_people",
        "title": "Possible duplicate people (same name, separate records)",
        "count": n,
        "examples": [f"“{name}” × {k}" for name, k in names],
    }


def _quarantined(db: AuditQueries) -> dict[str, Any]:
    n, rows = db.open_quarantine(EXAMPLES)
    return {
        "key": "quarantined",
        "title": "Quarantined input items (kept, not imported)",
        "count": n,
        "examples": [f"{c}: {ref} — {reason}" for c, ref, reason in rows],
    }
