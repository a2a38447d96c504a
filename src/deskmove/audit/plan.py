"""The migration plan's numbers: volume, conversation activity, the quietest cutover window.

Everything is aggregated in the store's queries; Python only sees one row per year, per
weekday-hour, or per ticket (for the duration percentiles).
"""

from __future__ import annotations

import math
from array import array
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from deskmove.store.audit import AuditQueries

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CUTOVER_HOURS = 3


def volume(db: AuditQueries) -> dict[str, Any]:
    """Tickets, messages, attachments (and bytes), people writing, per year; the date range."""
    out = db.volume()
    out["first"] = out["first"].isoformat() if out["first"] else None
    out["last"] = out["last"].isoformat() if out["last"] else None
    return out


def activity(db: AuditQueries, now: datetime, root: Path) -> dict[str, Any]:
    """How long conversations stay active; how many are active now; the delta-sync plan."""
    # Durations of conversations that had a reply; single messages say nothing about length.
    durations, tickets_with_messages = array("d"), 0
    for first, last, n in db.conversation_spans():
        tickets_with_messages += 1
        if n > 1:
            durations.append((last - first).total_seconds() / 3600)
    hours = sorted(durations)
    median = _quantile(hours, 0.5)
    p90 = _quantile(hours, 0.9)
    window_days = max(1, min(90, math.ceil((p90 or 0) / 24)))
    since = now - timedelta(days=window_days)
    from deskmove.crontab import cron_line_for

    cron = cron_line_for(Path(root))
    return {
        "tickets_with_messages": tickets_with_messages,
        "conversations": len(hours),
        "median_hours": _round(median),
        "p90_hours": _round(p90),
        "active_now": db.open_tickets(active_since=since),
        "open_not_solved": db.open_tickets(),
        "delta_window_days": window_days,
        "active_since": since.isoformat(),
        "cron": cron,
    }


def heatmap(db: AuditQueries) -> dict[str, Any]:
    """Inbound messages by weekday and hour in the senders' local time; the quietest window."""
    common, no_tz = db.inbound_offsets()
    default_tz = common or 0
    grid = [[0] * 24 for _ in range(7)]  # Monday first
    for day, hour, n in db.inbound_by_weekday_hour(default_tz):
        grid[(day + 6) % 7][hour] += n
    total = sum(map(sum, grid))
    return {
        "weekdays": list(WEEKDAYS),
        "grid": grid,
        "inbound": total,
        "without_offset": no_tz,
        "assumed_offset_minutes": default_tz,
        "window": _quietest(grid) if total else None,
    }


def _quietest(grid: list[list[int]]) -> dict[str, Any]:
    """The quietest run of CUTOVER_HOURS hours in the week (ties: the quieter surroundings)."""
    flat = [n for day in grid for n in day]
    size = len(flat)

    def run(start: int, length: int) -> int:
        return sum(flat[(start + i) % size] for i in range(length))

    best = min(
        range(size),
        key=lambda s: (run(s, CUTOVER_HOURS), run(s - 3, CUTOVER_HOURS + 6), s),
    )
    share = run(best, CUTOVER_HOURS) / max(1, sum(flat))
    day, hour = divmod(best, 24)
    end_day, end_hour = divmod((best + CUTOVER_HOURS) % size, 24)
    return {
        "start": f"{WEEKDAYS[day]} {hour:02d}:00",
        "end": f"{WEEKDAYS[end_day]} {end_hour:02d}:00",
        "hours": CUTOVER_HOURS,
        "messages": run(best, CUTOVER_HOURS),
        "share_percent": round(100 * share, 2),
        "cells": [((best + i) % size) for i in range(CUTOVER_HOURS)],
    }


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
