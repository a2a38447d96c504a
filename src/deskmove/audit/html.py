"""A self-contained HTML page: inline CSS and SVG charts, no script, nothing fetched."""

from __future__ import annotations

from html import escape
from typing import Any

from deskmove.audit.evidence import NOT_SEEN, SECTIONS, Item, Report
from deskmove.audit.formats import customer_numbers_line, evidence_line, size, summary_line

CSS = """
:root{--ink:#1d2733;--muted:#5b6b7c;--line:#dde3ea;--bg:#f6f8fa;--ok:#1f7a4d;--warn:#b35c00;--accent:#2759a6}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--ink);background:#fff}
main{max-width:1040px;margin:0 auto;padding:28px 28px 60px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:21px;margin:36px 0 10px;padding-bottom:6px;border-bottom:2px solid var(--ink)}
h3{font-size:17px;margin:24px 0 8px;display:flex;gap:10px;align-items:baseline}
.meta{color:var(--muted);margin:0 0 16px}.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:var(--bg);color:var(--muted);border:1px solid var(--line)}
.pill.ok{background:#e5f4ec;color:var(--ok);border-color:#b9e0cb}.pill.warn{background:#fff1e0;color:var(--warn);border-color:#f3cf9f}.pill.none{background:#fdecec;color:#a12a2a;border-color:#f1c0c0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:14px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--bg)}.card b{display:block;font-size:20px;white-space:nowrap}.card span{color:var(--muted);font-size:13px}
.item{border:1px solid var(--line);border-radius:8px;padding:10px 14px;margin:8px 0;display:grid;grid-template-columns:26px 1fr 170px;gap:4px 10px}
.item.changed{border-color:#f3cf9f;background:#fffaf3}.item.unseen{background:var(--bg);color:var(--muted)}
.box{font-size:20px;line-height:1.2}.title{font-weight:600}.id{font:12px ui-monospace,Menlo,Consolas,monospace;color:var(--muted)}
.ev{color:var(--muted);font-size:13.5px}.ex{font-size:13px;color:#3a4a5a;margin:2px 0 0;padding-left:16px}.needs{font-size:13.5px}.note{font-size:13.5px;color:var(--accent)}
.spark{grid-row:1/span 4;grid-column:3;align-self:start}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:14px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.zero td{color:var(--muted)}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px 12px;white-space:pre-wrap;font:13px ui-monospace,Menlo,Consolas,monospace}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:18px}ul{padding-left:20px;margin:6px 0}
@media print{.item{break-inside:avoid}}
"""


def render_html(report: Report) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        "<title>Channel audit and migration plan</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<h1>Channel audit and migration plan</h1>",
        f"<p class='meta'>{escape(report.project)} · generated {report.generated_at:%Y-%m-%d %H:%M} UTC"
        f" · {escape(summary_line(report))}</p>",
        _cards(report),
        "<h2>Checklist</h2><p class='meta'>Tick an item with <code>deskmove audit check ITEM --note TEXT</code>; "
        "ticks survive re-runs and a ticked item whose evidence changed is flagged.</p>",
    ]
    for key in SECTIONS:
        parts.append(_section(report, key))
    orphans = report.extras.get("orphans") or []
    if orphans:
        lis = "".join(
            f"<li>{'☑' if o['checked'] else '☐'} <span class='id'>{escape(o['id'])}</span>"
            + (f" — {escape(o['note'])}" if o["note"] else "")
            + "</li>"
            for o in orphans
        )
        parts.append(f"<h3>Ticked earlier, no longer in the data</h3><ul>{lis}</ul>")
    parts.append(_plan(report.plan))
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _cards(report: Report) -> str:
    v = report.plan["volume"]["totals"]
    a = report.plan["activity"]
    w = report.plan["cutover"]["window"]
    cards = [
        (v["tickets"], "tickets"),
        (v["messages"], "messages"),
        (v["people"], "people"),
        (size(v["attachment_bytes"]), "attachments"),
        (a["active_now"], "active conversations now"),
        (w["start"] if w else "—", "quietest cutover start"),
    ]
    body = "".join(
        f"<div class='card'><b>{escape(str(n))}</b><span>{label}</span></div>" for n, label in cards
    )
    return f"<div class='cards'>{body}</div>"


def _pill(item: Item) -> str:
    if item.changed:
        return "<span class='pill warn'>changed since ticked</span>"
    if item.checked:
        return "<span class='pill ok'>ticked</span>"
    return "" if item.evidence.seen else "<span class='pill none'>not seen</span>"


def _section(report: Report, key: str) -> str:
    sec = report.sections[key]
    children = report.in_section(key)
    count = f"<span class='pill'>{len(children)} found</span>" if children else ""
    box = "☑" if sec.checked else "☐"
    out = [
        f"<h3 id='{escape(sec.id)}'><span class='box'>{box}</span>{escape(sec.title)} {count} {_pill(sec)} "
        f"<span class='id'>{escape(sec.id)}</span></h3>"
    ]
    if sec.note:
        out.append(f"<p class='note'><b>Note:</b> {escape(sec.note)}</p>")
    if not children:
        out.append(
            f"<div class='item unseen'><div class='box'>?</div><div class='ev'>{NOT_SEEN}</div></div>"
        )
    for item in children:
        out.append(_item_box(item, evidence_line(item)))
    extra = report.extras.get(key) or {}
    if extra.get("customer_numbers"):
        out.append(f"<p class='ev'>{escape(customer_numbers_line(extra))}</p>")
    return "\n".join(out)


def _item_box(item: Item, line: str) -> str:
    cls = "item" + (" changed" if item.changed else "") + ("" if item.evidence.seen else " unseen")
    box = "☑" if item.checked else "☐"
    rows = [
        f"<div class='box'>{box}</div><div><span class='title'>{escape(item.title)}</span> {_pill(item)}"
        f"<br><span class='id'>{escape(item.id)}</span></div>",
        f"<div class='spark'>{sparkline(item)}</div>",
        f"<div></div><div class='ev'>{escape(line)}</div>",
    ]
    if item.evidence.examples:
        lis = "".join(f"<li>{escape(e)}</li>" for e in item.evidence.examples)
        rows.append(f"<div></div><ul class='ex'>{lis}</ul>")
    if item.needs:
        rows.append(f"<div></div><div class='needs'><b>Needs:</b> {escape(item.needs)}</div>")
    if item.note:
        rows.append(f"<div></div><div class='note'><b>Note:</b> {escape(item.note)}</div>")
    return f"<div class='{cls}'>{''.join(rows)}</div>"


def month_range(months: dict[str, int], last: int | None = 24) -> list[tuple[str, int]]:
    """Every month from the first to the last seen (zeros included), the last ``last`` of them."""
    if not months:
        return []
    lo, hi = min(months), max(months)
    year, month = int(lo[:4]), int(lo[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= hi:
        key = f"{year:04d}-{month:02d}"
        out.append((key, months.get(key, 0)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out[-last:] if last else out


def sparkline(item: Item, width: int = 160, height: int = 34) -> str:
    """Volume per month (the last 24 months up to the last seen) as small SVG bars."""
    every = month_range(item.evidence.months, None)
    months = every[-24:]
    if not months:
        return ""
    earlier = every[: len(every) - len(months)]
    before = (
        f"<span class='meta'> + {sum(n for _m, n in earlier)} from {earlier[0][0]} to "
        f"{earlier[-1][0]}</span>"
        if earlier and any(n for _m, n in earlier)
        else ""
    )
    peak = max(n for _m, n in months) or 1
    bar = min(width / len(months), 14.0)
    top = height - 14
    rects = "".join(
        f"<rect x='{i * bar:.1f}' y='{height - 12 - top * n / peak:.1f}' width='{max(bar - 1, 1):.1f}' "
        f"height='{top * n / peak:.1f}' fill='#2759a6'><title>{m}: {n}</title></rect>"
        for i, (m, n) in enumerate(months)
    )
    base = f"<line x1='0' y1='{height - 12}' x2='{bar * len(months):.1f}' y2='{height - 12}' stroke='#c5ced8'/>"
    label = f"<text x='0' y='{height - 1}' font-size='9' fill='#5b6b7c'>{months[0][0]}</text>"
    if len(months) > 1:
        label += (
            f"<text x='{max(bar * len(months), 80):.1f}' y='{height - 1}' font-size='9' fill='#5b6b7c' "
            f"text-anchor='end'>{months[-1][0]}</text>"
        )
    return (
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='volume per month'>{base}{rects}{label}</svg>{before}"
    )


def _plan(plan: dict[str, Any]) -> str:
    from deskmove.audit.html_plan import plan_html

    return plan_html(plan)
