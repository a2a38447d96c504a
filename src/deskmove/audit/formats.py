"""Render a report as Markdown (for the consultant), JSON (for tools) or HTML (see html.py)."""

from __future__ import annotations

import json
from typing import Any

from deskmove.audit.evidence import NOT_SEEN, SECTIONS, Item, Report

FORMATS = ("md", "html", "json")
SHADES = " .:-=+*#%@"


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str) + "\n"
    if fmt == "html":
        from deskmove.audit.html import render_html

        return render_html(report)
    return render_md(report)


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def evidence_line(item: Item) -> str:
    ev = item.evidence
    if not ev.seen:
        return NOT_SEEN
    span = (
        f"first seen {ev.first:%Y-%m-%d}, last seen {ev.last:%Y-%m-%d}" if ev.first else "no dates"
    )
    return f"{ev.count} × ({ev.per_month:.1f} per month), {span}"


def months_line(item: Item, last: int = 12) -> str:
    """The last ``last`` months with mail, one by one; the months before them summed up
    front, so the line adds up to the count and reaches back to "first seen"."""
    months = sorted(item.evidence.months.items())
    shown, earlier = months[-last:], months[:-last]
    line = " · ".join(f"{m}: {n}" for m, n in shown)
    if earlier:
        total = sum(n for _m, n in earlier)
        line = f"{earlier[0][0]} to {earlier[-1][0]}: {total} in {len(earlier)} months · {line}"
    return line


def summary_line(report: Report) -> str:
    c = report.counts()
    n = len(SECTIONS)
    if not c["not_seen"]:
        seen = f"all {n} sections seen in the data"
    elif c["not_seen"] == n:
        seen = f"none of the {n} sections seen in the data (verify each by hand)"
    else:
        seen = f"{c['not_seen']} of {n} sections not seen in the data (verify those by hand)"
    return f"{c['items']} items, {c['checked']} ticked, {c['changed']} changed since ticked, {seen}"


def render_md(report: Report) -> str:
    out: list[str] = [
        "# Channel audit and migration plan",
        "",
        f"Project `{report.project}` · generated {report.generated_at:%Y-%m-%d %H:%M} UTC · "
        + summary_line(report),
        "",
        "## Checklist",
        "",
        "Every way customers reach the team, found in the imported history. Tick an item with "
        "`deskmove audit check ITEM --note TEXT`; ticks survive re-runs, and a ticked item whose "
        "evidence changes is flagged as changed.",
    ]
    for key in SECTIONS:
        out += _md_section(report, key)
    orphans = report.extras.get("orphans") or []
    if orphans:
        out += ["", "### Ticked earlier, no longer in the data", ""]
        out += [
            f"- [{'x' if o['checked'] else ' '}] `{o['id']}`"
            + (f" — note: {o['note']}" if o["note"] else "")
            for o in orphans
        ]
    out += _md_plan(report.plan)
    return "\n".join(out) + "\n"


def _box(item: Item) -> str:
    return "- [x]" if item.checked else "- [ ]"


def _md_item(item: Item, indent: str = "") -> list[str]:
    flag = " **CHANGED** — the evidence changed since it was ticked" if item.changed else ""
    lines = [
        f"{indent}{_box(item)} **{item.title}** `{item.id}`{flag}",
        f"{indent}  - {evidence_line(item)}",
    ]
    if item.evidence.months:
        lines.append(f"{indent}  - per month: {months_line(item)}")
    for ex in item.evidence.examples:
        lines.append(f"{indent}  - e.g. {ex}")
    if item.needs:
        lines.append(f"{indent}  - needs: {item.needs}")
    if item.note:
        lines.append(f"{indent}  - note: {item.note}")
    return lines


def _md_section(report: Report, key: str) -> list[str]:
    sec = report.sections[key]
    children = report.in_section(key)
    lines = ["", f"### {sec.title}", ""]
    flag = " **CHANGED**" if sec.changed else ""
    state = f"{len(children)} found; " + evidence_line(sec) if children else NOT_SEEN
    lines.append(f"{_box(sec)} Section reviewed `{sec.id}`{flag} — {state}")
    if sec.note:
        lines.append(f"  - note: {sec.note}")
    for item in children:
        lines += _md_item(item)
    extra = report.extras.get(key) or {}
    if extra.get("customer_numbers"):
        lines += ["", customer_numbers_line(extra)]
    return lines


def customer_numbers_line(extra: dict[str, Any]) -> str:
    more = extra.get("customer_numbers_unchecked")
    return (
        f"Numbers only customers wrote (their own, not channels): {extra['customer_numbers']}"
        + (f" (and {more} more phone-like sightings not checked)" if more else "")
        + ", e.g. "
        + ", ".join(c["number"] for c in extra["customer_examples"][:5])
    )


def _md_plan(plan: dict[str, Any]) -> list[str]:
    v, a, c = plan["volume"], plan["activity"], plan["cutover"]
    out = ["", "## Migration plan", "", "### Volume", ""]
    out.append(f"Date range: {_day(v['first'])} to {_day(v['last'])}.")
    out += [
        "",
        "| year | tickets | messages | attachments | size | people writing |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in v["per_year"]:
        out.append(
            f"| {r['year']} | {r['tickets']} | {r['messages']} | {r['attachments']} | "
            f"{size(r['attachment_bytes'])} | {r['people']} |"
        )
    t = v["totals"]
    out.append(
        f"| **all** | {t['tickets']} | {t['messages']} | {t['attachments']} | "
        f"{size(t['attachment_bytes'])} | {t['people']} people |"
    )
    out += ["", "### Data quality", "", "| check | count | examples |", "| --- | ---: | --- |"]
    for q in plan["quality"]:
        examples = "; ".join(q["examples"]).replace("|", "\\|") or "—"
        out.append(f"| {q['title']} | {q['count']} | {examples} |")
    out += _md_capabilities(plan["capabilities"])
    out += ["", "### Active conversations and the delta plan", ""]
    if a["conversations"]:
        out.append(
            f"- {a['conversations']} conversations with a reply (of {a['tickets_with_messages']} "
            "tickets); from first to last message: median "
            f"{_dur(a['median_hours'])}, 90th percentile {_dur(a['p90_hours'])}."
        )
    else:
        out.append("- No conversation with a dated reply: conversation length unknown.")
    out += [
        f"- Active now (not solved, a message in the last {days(a['delta_window_days'])}): "
        f"{a['active_now']}; not solved at all: {a['open_not_solved']}.",
        f"- Keep delta sync running for at least **{days(a['delta_window_days'])}** after the "
        "switch, every 5 minutes during the cutover:",
        "",
        "```",
        a["cron"],
        "```",
    ]
    out += ["", "### Quietest cutover window", ""]
    out += _md_heatmap(c)
    cust = plan["customers"]
    out += ["", "### What customers will notice", ""]
    out += [f"- {p}" for p in cust["points"]]
    out += ["", "Draft notice:", "", "```text", cust["draft"], "```"]
    return out


def _md_capabilities(cap: dict[str, Any]) -> list[str]:
    out = ["", "### Export and import", ""]
    if not cap["sources"]:
        out.append("Nothing imported yet.")
    for role, entries in (("Source", cap["sources"]), ("Target", cap["targets"])):
        for e in entries:
            out.append(f"**{role} `{e['connection']}`** ({e.get('label')})")
            key = "exports" if role == "Source" else "imports"
            out += [f"- {key}: {x}" for x in e.get(key, [])]
            out += [f"- lost or needs a workaround: {x}" for x in e.get(f"{key[:6]}_lost", [])]
            out.append("")
    if not cap["targets"]:
        out.append(
            "No target configured yet ([sync] targets in deskmove.toml). What each target loses or needs a workaround for:"
        )
        out.append("")
        for scheme, row in cap["table"].items():
            if row["target"]:
                out.append(f"- **{scheme}** ({row['label']}): " + "; ".join(row["import_lost"]))
    return out


def _md_heatmap(c: dict[str, Any]) -> list[str]:
    if not c["inbound"]:
        return ["No dated inbound messages: the quietest window cannot be told from the data."]
    w = c["window"]
    out = [
        f"Recommended: **{w['start']} – {w['end']}** (customers' local time): {w['messages']} of "
        f"{c['inbound']} inbound messages ({w['share_percent']} %) arrived in those hours.",
        offset_note(c),
        "",
        "```",
        "      " + _ruler(),
    ]
    peak = max(max(row) for row in c["grid"]) or 1
    for day, row in zip(c["weekdays"], c["grid"], strict=True):
        cells = "".join(SHADES[min(9, round(9 * n / peak))] if n else " " for n in row)
        out.append(f"{day}   {cells}|")
    out += [f"(darker = busier; @ = {peak} messages in one hour)", "```"]
    return out


def offset_note(c: dict[str, Any]) -> str:
    """How local time was told: the senders' own offsets, and what was assumed where missing."""
    text = "Times are the senders' local time (the UTC offset each message was sent with)"
    if c["without_offset"]:
        text += (
            f"; {c['without_offset']} messages without an offset are placed at "
            f"UTC{c['assumed_offset_minutes'] / 60:+g}, the most common offset"
        )
    return text + "."


def _ruler() -> str:
    ruler = [" "] * 26
    for h in range(0, 24, 6):
        ruler[h : h + len(str(h))] = str(h)
    return "".join(ruler).rstrip()


def days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "—"


def _dur(hours: float | None) -> str:
    if hours is None:
        return "—"
    return f"{hours:.1f} hours" if hours < 48 else f"{hours / 24:.1f} days"
