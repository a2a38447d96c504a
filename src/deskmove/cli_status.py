"""`deskmove status` for people: a short report in plain words, local times to the minute.

The full detail (cursors, run counts, timestamps with seconds) is in ``--json``.
"""

from __future__ import annotations

from typing import Any

from deskmove.cli_support import local_minute

KIND_WORDS = {
    "ticket": "tickets",
    "message": "messages",
    "person": "people",
    "organization": "organizations",
    "group": "groups",
}


def status_lines(store_label: str, info: dict[str, Any]) -> list[str]:
    t = info["totals"]
    lines = [
        f"Store: {store_label}",
        f"  {t['tickets']} tickets, {t['messages']} messages, {t['people']} people, "
        f"{t['organizations']} organizations, {t['attachments']} attachments",
    ]
    lines += _quarantine(t["quarantined"], info["quarantine"])
    cut = info["cutover"]
    imported = _imported(info["sources"])
    conns = cut["connections"]
    sources = [n for n in conns if n in imported or _last_command(conns[n]) == "import"]
    targets = [n for n in conns if "pending_tickets" in conns[n]]
    if sources:
        lines.append("Sources:")
        for name in sources:
            c = conns[name]
            what = imported.get(name, "nothing imported yet")
            read = _cursor_words(c["cursor"])
            lines.append(f"  {name}: {what}; {_last_run(c)}" + (f"; {read}" if read else ""))
    if targets:
        lines.append("Targets:")
        for name in targets:
            c = conns[name]
            pending = c["pending_tickets"]
            waiting = (
                "nothing waiting" if not pending else f"{pending} tickets waiting to be pushed"
            )
            lines.append(f"  {name}: {c['in_target']} tickets there, {waiting}; {_last_run(c)}")
    lines.append(
        f"Active conversations: {cut['active_conversations']} "
        f"(a message in the last {cut['active_days']} days)"
    )
    if info["runs"]:
        lines.append("Last runs:")
        for r in info["runs"][:5]:
            what = " ".join(x for x in (r["command"], r["connection"] or "") if x)
            lines.append(f"  #{r['id']} {local_minute(r['started_at'])} {what}: {r['status']}")
    return lines


def _quarantine(total: int, groups: list[dict[str, Any]]) -> list[str]:
    if not total:
        return ["Quarantined: nothing open"]
    out = [f"Quarantined: {total} open — see `deskmove quarantine list`"]
    for g in groups:
        where = g.get("first_ref") or ""
        if g["count"] > 1:
            where = f"first: {where}, #{g['first_id']}" if where else f"first #{g['first_id']}"
        else:
            where = f"{where}, #{g['first_id']}" if where else f"#{g['first_id']}"
        out.append(f"  {g['connection']}: {g['count']} × {g['reason']} ({where})")
    return out


def _imported(sources: list[dict[str, Any]]) -> dict[str, str]:
    """``connection -> "320 tickets, 1060 messages, 144 people"`` (the store's own words only)."""
    parts: dict[str, list[str]] = {}
    order = list(KIND_WORDS)
    for s in sorted(sources, key=lambda s: order.index(s["kind"]) if s["kind"] in order else 99):
        word = KIND_WORDS.get(s["kind"])
        if word:  # internal bookkeeping (thread keys …) is left to --json
            parts.setdefault(s["connection"], []).append(f"{s['count']} {word}")
    return {name: ", ".join(p) for name, p in parts.items()}


def _last_command(c: dict[str, Any]) -> str | None:
    last = c.get("last_run")
    return last["command"].split()[0] if last else None


def _last_run(c: dict[str, Any]) -> str:
    last = c.get("last_run")
    if not last:
        return "never run"
    return f"last {last['command']} {local_minute(last['started_at'])} (run #{last['id']}, {last['status']})"


def _cursor_words(cursors: dict[str, Any]) -> str:
    """Where each stream of a source has read up to, in words."""
    words = [w for stream, cur in sorted(cursors.items()) if (w := _one_cursor(stream, cur or {}))]
    return "; ".join(words)


def _one_cursor(stream: str, cur: dict[str, Any]) -> str | None:
    if stream.startswith("@"):
        return None
    if "offset" in cur:
        return f"read up to byte {int(cur['offset']):,}"
    if "last_uid" in cur:
        return f"{stream}: up to message UID {cur['last_uid']}"
    if "files" in cur:
        return f"read {', '.join(sorted(cur['files']))}"
    if "mtime" in cur:
        return f"{stream}: files changed up to {local_minute(_from_epoch(cur['mtime']))}"
    for key in ("start_time", "updated_since", "since", "updated_at", "cursor_time"):
        if key in cur and cur[key]:
            value = cur[key]
            when = _from_epoch(value) if isinstance(value, int | float) else value
            return f"{stream}: changes up to {local_minute(when)}"
    return f"{stream}: position saved" if cur else None


def _from_epoch(value: Any) -> Any:
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
