"""The migration plan's numbers: volume, conversation activity, the quietest cutover window.

Everything is aggregated in SQL; Python only sees one row per year, per
weekday-hour, or per ticket (for the duration percentiles).
"""

from __future__ import annotations

import math
import shlex
from array import array
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from deskmove.audit.sqlparts import local_dow_hour, year
from deskmove.model import Attachment, Message, Person, Ticket

T_TICKET, T_MSG, T_ATT = Ticket.__table__, Message.__table__, Attachment.__table__
T_PERSON = Person.__table__
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CUTOVER_HOURS = 3
CLOSED = ("solved", "closed")


def volume(conn: sa.Connection) -> dict[str, Any]:
    """Tickets, messages, attachments (and bytes), people writing, per year; the date range."""
    d = conn.dialect.name
    t, m, a = T_TICKET.c, T_MSG.c, T_ATT.c
    years: dict[str, dict[str, int]] = {}

    def put(rows: Any, *names: str) -> None:
        for y, *nums in rows:
            row = years.setdefault(y or "no date", dict.fromkeys(
                ("tickets", "messages", "attachments", "attachment_bytes", "people"), 0))  # fmt: skip
            for name, n in zip(names, nums, strict=True):
                row[name] = int(n or 0)

    ty, my = year(t.created_at, d), year(m.created_at, d)
    put(conn.execute(sa.select(ty, sa.func.count()).group_by(ty)), "tickets")
    put(conn.execute(sa.select(my, sa.func.count(), sa.func.count(sa.distinct(m.author_id)))
                     .group_by(my)), "messages", "people")  # fmt: skip
    put(conn.execute(sa.select(my, sa.func.count(), sa.func.coalesce(sa.func.sum(a.size), 0))
                     .select_from(T_ATT.join(T_MSG, m.id == a.message_id)).group_by(my)),
        "attachments", "attachment_bytes")  # fmt: skip
    first, last = conn.execute(
        sa.select(sa.func.min(m.created_at), sa.func.max(m.created_at))
    ).one()
    tfirst, tlast = conn.execute(
        sa.select(sa.func.min(t.created_at), sa.func.max(t.created_at))
    ).one()
    first = min((x for x in (first, tfirst) if x), default=None)
    last = max((x for x in (last, tlast) if x), default=None)
    totals = {k: sum(r[k] for r in years.values()) for k in
              ("tickets", "messages", "attachments", "attachment_bytes")}  # fmt: skip
    totals["people"] = conn.execute(sa.select(sa.func.count()).select_from(T_PERSON)).scalar_one()
    return {
        "per_year": [{"year": y, **years[y]} for y in sorted(years)],
        "totals": totals,
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
    }


def activity(conn: sa.Connection, now: datetime, root: Path) -> dict[str, Any]:
    """How long conversations stay active; how many are active now; the delta-sync plan."""
    t, m = T_TICKET.c, T_MSG.c
    per_ticket = (
        sa.select(sa.func.min(m.created_at), sa.func.max(m.created_at), sa.func.count())
        .where(m.created_at.is_not(None))
        .group_by(m.ticket_id)
        .execution_options(yield_per=10000)
    )
    # Durations of conversations that had a reply; single messages say nothing about length.
    durations, tickets_with_messages = array("d"), 0
    for first, last, n in conn.execute(per_ticket):
        tickets_with_messages += 1
        if n > 1:
            durations.append((last - first).total_seconds() / 3600)
    hours = sorted(durations)
    median = _quantile(hours, 0.5)
    p90 = _quantile(hours, 0.9)
    window_days = max(1, min(90, math.ceil((p90 or 0) / 24)))
    since = now - timedelta(days=window_days)
    recent = (
        sa.select(m.ticket_id)
        .join(T_TICKET, t.id == m.ticket_id)
        .where(t.status.not_in(CLOSED))
        .group_by(m.ticket_id)
        .having(sa.func.max(m.created_at) >= since)
        .subquery()
    )
    active = conn.execute(sa.select(sa.func.count()).select_from(recent)).scalar_one()
    open_total = conn.execute(
        sa.select(sa.func.count()).where(t.status.not_in(CLOSED))
    ).scalar_one()
    cron = f"*/5 * * * * cd {shlex.quote(str(root))} && deskmove --quiet sync"
    return {
        "tickets_with_messages": tickets_with_messages,
        "conversations": len(hours),
        "median_hours": _round(median),
        "p90_hours": _round(p90),
        "active_now": active,
        "open_not_solved": open_total,
        "delta_window_days": window_days,
        "active_since": since.isoformat(),
        "cron": cron,
    }


def heatmap(conn: sa.Connection) -> dict[str, Any]:
    """Inbound messages by weekday and hour in the senders' local time; the quietest window."""
    m = T_MSG.c
    inbound = m.direction == "inbound"
    common = conn.execute(
        sa.select(m.created_tz, sa.func.count()).where(inbound, m.created_tz.is_not(None))
        .group_by(m.created_tz).order_by(sa.func.count().desc()).limit(1)
    ).first()  # fmt: skip
    default_tz = int(common[0]) if common else 0
    no_tz = conn.execute(
        sa.select(sa.func.count()).where(inbound, m.created_at.is_not(None), m.created_tz.is_(None))
    ).scalar_one()
    dow, hour = local_dow_hour(
        m.created_at, sa.func.coalesce(m.created_tz, default_tz), conn.dialect.name
    )
    grid = [[0] * 24 for _ in range(7)]  # Monday first
    for d, h, n in conn.execute(
        sa.select(dow, hour, sa.func.count())
        .where(inbound, m.created_at.is_not(None))
        .group_by(dow, hour)
    ):
        grid[(int(d) + 6) % 7][int(h)] += int(n)
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
