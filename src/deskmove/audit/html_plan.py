"""The plan half of the HTML page: tables, the yearly bar chart and the weekday-hour heatmap."""

from __future__ import annotations

from html import escape
from typing import Any

from deskmove.audit.formats import days, offset_note, size


def plan_html(plan: dict[str, Any]) -> str:
    return "\n".join(
        [
            "<h2 id='plan'>Migration plan</h2>",
            _volume(plan["volume"]),
            _quality(plan["quality"]),
            _capabilities(plan["capabilities"]),
            _activity(plan["activity"]),
            _cutover(plan["cutover"]),
            _customers(plan["customers"]),
        ]
    )


def _volume(v: dict[str, Any]) -> str:
    first, last = (v["first"] or "—")[:10], (v["last"] or "—")[:10]
    rows = "".join(
        f"<tr><td>{escape(r['year'])}</td><td class='n'>{r['tickets']}</td><td class='n'>{r['messages']}</td>"
        f"<td class='n'>{r['attachments']}</td><td class='n'>{size(r['attachment_bytes'])}</td>"
        f"<td class='n'>{r['people']}</td></tr>"
        for r in v["per_year"]
    )
    t = v["totals"]
    rows += (
        f"<tr><th>all</th><th class='n'>{t['tickets']}</th><th class='n'>{t['messages']}</th>"
        f"<th class='n'>{t['attachments']}</th><th class='n'>{size(t['attachment_bytes'])}</th>"
        f"<th class='n'>{t['people']} people</th></tr>"
    )
    table = (
        "<table><tr><th>year</th><th class='n'>tickets</th><th class='n'>messages</th>"
        "<th class='n'>attachments</th><th class='n'>size</th><th class='n'>people writing</th></tr>"
        f"{rows}</table>"
    )
    return (
        f"<h3>Volume</h3><p class='meta'>Date range: {first} to {last}</p>"
        f"<div class='cols'><div>{table}</div><div>{year_chart(v['per_year'])}</div></div>"
    )


def year_chart(rows: list[dict[str, Any]], width: int = 460, height: int = 200) -> str:
    """Tickets and messages per year, as grouped SVG bars."""
    rows = [r for r in rows if r["year"] != "no date"]
    if not rows:
        return "<p class='meta'>No dated tickets.</p>"
    peak = max(max(r["messages"], r["tickets"]) for r in rows) or 1
    slot = (width - 40) / len(rows)
    bar = min(28.0, slot / 2.6)
    base = height - 24
    parts = []
    for i, r in enumerate(rows):
        x = 40 + i * slot + (slot - 2 * bar) / 2
        for j, (key, color) in enumerate((("tickets", "#2759a6"), ("messages", "#8fb0dd"))):
            h = (base - 10) * r[key] / peak
            parts.append(
                f"<rect x='{x + j * bar:.1f}' y='{base - h:.1f}' width='{bar - 2:.1f}' "
                f"height='{h:.1f}' fill='{color}'><title>{r['year']}: {r[key]} {key}</title></rect>"
            )
        parts.append(
            f"<text x='{x + bar:.1f}' y='{height - 8}' font-size='12' text-anchor='middle' "
            f"fill='#1d2733'>{escape(r['year'])}</text>"
        )
    axis = (
        f"<line x1='38' y1='{base}' x2='{width}' y2='{base}' stroke='#5b6b7c'/>"
        f"<text x='34' y='16' font-size='11' text-anchor='end' fill='#5b6b7c'>{peak}</text>"
        f"<text x='34' y='{base}' font-size='11' text-anchor='end' fill='#5b6b7c'>0</text>"
    )
    legend = (
        "<rect x='44' y='4' width='10' height='10' fill='#2759a6'/><text x='58' y='13' font-size='12'>tickets</text>"
        "<rect x='118' y='4' width='10' height='10' fill='#8fb0dd'/><text x='132' y='13' font-size='12'>messages</text>"
    )
    return (
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='tickets and messages per year'>{axis}{legend}{''.join(parts)}</svg>"
    )


def _quality(checks: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr class='{'zero' if not q['count'] else ''}'><td>{escape(q['title'])}</td>"
        f"<td class='n'>{q['count']}</td><td>{'<br>'.join(escape(e) for e in q['examples']) or '—'}</td></tr>"
        for q in checks
    )
    return (
        "<h3>Data quality</h3><table><tr><th>check</th><th class='n'>count</th><th>examples</th></tr>"
        f"{rows}</table>"
    )


def _capabilities(cap: dict[str, Any]) -> str:
    out = ["<h3>Export and import</h3>"]
    if not cap["sources"]:
        out.append("<p class='meta'>Nothing imported yet.</p>")
    for role, key, entries in (
        ("Source", "exports", cap["sources"]),
        ("Target", "imports", cap["targets"]),
    ):
        for e in entries:
            keeps = "".join(f"<li>{escape(x)}</li>" for x in e.get(key, []))
            lost = "".join(f"<li>{escape(x)}</li>" for x in e.get(f"{key[:6]}_lost", []))
            out.append(
                f"<p><b>{role} <code>{escape(e['connection'])}</code></b> ({escape(str(e.get('label')))})</p>"
                f"<div class='cols'><div><b>{key}</b><ul>{keeps}</ul></div>"
                f"<div><b>lost or needs a workaround</b><ul>{lost}</ul></div></div>"
            )
    if not cap["targets"]:
        rows = "".join(
            f"<tr><td><b>{escape(s)}</b><br><span class='id'>{escape(r['label'])}</span></td>"
            f"<td>{'<br>'.join(escape(x) for x in r['imports'])}</td><td>{'<br>'.join(escape(x) for x in r['import_lost'])}</td></tr>"
            for s, r in cap["table"].items()
            if r["target"]
        )
        out.append(
            "<p class='meta'>No target configured yet ([sync] targets in deskmove.toml). "
            "What each target can import:</p><table><tr><th>target</th><th>imports</th>"
            f"<th>lost or needs a workaround</th></tr>{rows}</table>"
        )
    return "\n".join(out)


def _activity(a: dict[str, Any]) -> str:
    def dur(h: float | None) -> str:
        return "—" if h is None else (f"{h:.1f} hours" if h < 48 else f"{h / 24:.1f} days")

    return (
        "<h3>Active conversations and the delta plan</h3><ul>"
        f"<li>{a['conversations']} conversations with a reply (of {a['tickets_with_messages']} tickets); "
        f"first to last message: median <b>{dur(a['median_hours'])}</b>, "
        f"90th percentile <b>{dur(a['p90_hours'])}</b>.</li>"
        f"<li>Active now (not solved, a message in the last {days(a['delta_window_days'])}): "
        f"<b>{a['active_now']}</b>; not solved at all: {a['open_not_solved']}.</li>"
        f"<li>Keep delta sync running for at least <b>{days(a['delta_window_days'])}</b> after the switch, "
        "every 5 minutes during the cutover:</li></ul>"
        f"<pre>{escape(a['cron'])}</pre>"
    )


def heatmap_svg(c: dict[str, Any], cell: int = 30, gap: int = 2) -> str:
    """Inbound messages by weekday (rows) and local hour (columns); the window outlined."""
    left, top = 40, 22
    peak = max(max(r) for r in c["grid"]) or 1
    width, height = left + 24 * cell + 4, top + 7 * cell + 8
    parts = [
        f"<text x='{left + h * cell + cell / 2}' y='15' font-size='11' text-anchor='middle' "
        f"fill='#5b6b7c'>{h:02d}</text>"
        for h in range(24)
    ]
    for d, (day, row) in enumerate(zip(c["weekdays"], c["grid"], strict=True)):
        y = top + d * cell
        parts.append(
            f"<text x='{left - 6}' y='{y + cell / 2 + 4}' font-size='12' text-anchor='end'>{day}</text>"
        )
        for h, n in enumerate(row):
            shade = 0.06 + 0.94 * (n / peak) if n else 0
            fill = f"rgba(39,89,166,{shade:.2f})" if n else "#f1f3f5"
            parts.append(
                f"<rect x='{left + h * cell}' y='{y}' width='{cell - gap}' height='{cell - gap}' "
                f"rx='3' fill='{fill}'><title>{day} {h:02d}:00 — {n} messages</title></rect>"
            )
    for idx in (c["window"] or {}).get("cells", []):
        d, h = divmod(idx, 24)
        parts.append(
            f"<rect x='{left + h * cell - 1}' y='{top + d * cell - 1}' width='{cell}' height='{cell}' "
            "rx='3' fill='none' stroke='#1f7a4d' stroke-width='3'/>"
        )
    return (
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='inbound messages by weekday and hour'>{''.join(parts)}</svg>"
    )


def _cutover(c: dict[str, Any]) -> str:
    out = ["<h3>Quietest cutover window</h3>"]
    if not c["inbound"]:
        out.append(
            "<p class='meta'>No dated inbound messages: the quietest window cannot be told from the data.</p>"
        )
        return "\n".join(out)
    w = c["window"]
    out.append(
        f"<p>Recommended: <b>{w['start']} – {w['end']}</b> (customers' local time): {w['messages']} of "
        f"{c['inbound']} inbound messages ({w['share_percent']} %) arrived in those hours "
        "(outlined in green).</p>"
    )
    out.append(heatmap_svg(c))
    out.append(f"<p class='meta'>{escape(offset_note(c))}</p>")
    return "\n".join(out)


def _customers(cust: dict[str, Any]) -> str:
    points = "".join(f"<li>{escape(p)}</li>" for p in cust["points"])
    return (
        f"<h3>What customers will notice</h3><ul>{points}</ul>"
        f"<p><b>Draft notice</b></p><pre>{escape(cust['draft'])}</pre>"
    )
