"""The metrics page's figures and its inline SVG bar charts (no script, no library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from statistics import median
from typing import TYPE_CHECKING, Any

from deskmove.model import utcnow
from deskmove.store import worklist
from deskmove.store import workspace as ws

if TYPE_CHECKING:
    from deskmove.store import Store

AGE_BUCKETS = ((1, "< 1 d"), (3, "1–3 d"), (7, "3–7 d"), (30, "7–30 d"), (None, "> 30 d"))


@dataclass
class Metrics:
    backlog_status: list[tuple[str, float]] = field(default_factory=list)
    backlog_age: list[tuple[str, float]] = field(default_factory=list)
    weeks: list[dict[str, Any]] = field(default_factory=list)
    agents: list[dict[str, Any]] = field(default_factory=list)
    first_response_h: float | None = None
    resolution_h: float | None = None


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None or b < a:
        return None
    return (b - a).total_seconds() / 3600


def _med(values: list[float]) -> float | None:
    return round(median(values), 1) if values else None


def compute(store: Store, since: datetime, weeks: int) -> Metrics:
    now = utcnow()
    out = Metrics()
    status_n: dict[str, int] = {}
    age_n = [0] * len(AGE_BUCKETS)
    for status, created in worklist.backlog(store):
        status_n[status] = status_n.get(status, 0) + 1
        days = (now - created).total_seconds() / 86400 if created else 0
        for i, (limit, _label) in enumerate(AGE_BUCKETS):
            if limit is None or days < limit:
                age_n[i] += 1
                break
    out.backlog_status = [(s, status_n.get(s, 0)) for s in worklist.UNSOLVED]
    out.backlog_age = [(label, n) for (_l, label), n in zip(AGE_BUCKETS, age_n, strict=True)]
    start = (since - timedelta(days=since.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    per_week: dict[int, dict[str, list[float]]] = {}
    per_agent: dict[int | None, dict[str, Any]] = {}
    all_first: list[float] = []
    all_res: list[float] = []
    for r in worklist.metric_rows(store, since):
        w = int((r.created_at - start).days // 7) if r.created_at else 0
        bucket = per_week.setdefault(w, {"first": [], "res": [], "created": [], "solved": []})
        bucket["created"].append(1)
        first = _hours(r.first_in or r.created_at, r.first_out)
        res = _hours(r.created_at, r.solved_at)
        agent = per_agent.setdefault(
            r.assignee_id, {"first": [], "res": [], "open": 0, "solved": 0}
        )
        if first is not None:
            bucket["first"].append(first)
            agent["first"].append(first)
            all_first.append(first)
        if res is not None and r.status in ("solved", "closed"):
            bucket["res"].append(res)
            agent["res"].append(res)
            all_res.append(res)
            agent["solved"] += 1
        elif r.status in worklist.UNSOLVED:
            agent["open"] += 1
    for w in range(weeks + 1):
        b = per_week.get(w, {"first": [], "res": [], "created": []})
        out.weeks.append(
            {
                "label": (start + timedelta(weeks=w)).strftime("%d.%m."),
                "created": len(b["created"]),
                "first_h": _med(b["first"]),
                "res_h": _med(b["res"]),
            }
        )
    names = dict(ws.agents(store))
    for pid, a in sorted(
        per_agent.items(), key=lambda kv: (kv[0] is None, names.get(kv[0] or 0, ""))
    ):
        out.agents.append(
            {
                "name": names.get(pid, f"#{pid}") if pid else None,
                "open": a["open"],
                "solved": a["solved"],
                "first_h": _med(a["first"]),
                "res_h": _med(a["res"]),
            }
        )
    out.first_response_h = _med(all_first)
    out.resolution_h = _med(all_res)
    return out


def bar_chart(items: list[tuple[str, float | None]], title: str, unit: str = "") -> str:
    """A horizontal bar chart as inline SVG, with a <title> and text labels for screen readers."""
    width, bar_h, gap, label_w = 340, 18, 6, 90
    values = [v or 0 for _l, v in items]
    top = max(values) if values and max(values) > 0 else 1
    height = len(items) * (bar_h + gap) + gap
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = 0 if not value else max(1.0, (width - label_w - 60) * value / top)
        shown = "–" if value is None else (f"{value:g}{unit}")
        parts.append(
            f'<text x="0" y="{y + bar_h - 5}" class="label">{escape(str(label))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" class="bar"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 5}" class="value">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
