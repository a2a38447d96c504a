"""Turn the scan's findings into checklist items, one section at a time."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from deskmove.audit import signals as sig
from deskmove.audit.evidence import SECTIONS, Evidence, Item
from deskmove.audit.phones import find_numbers, pretty
from deskmove.audit.scan import T_PERSON, T_TICKET, Context, Findings, Found, slug

CHANNEL_NEEDS = {
    "form": "Re-create the web form or help-center form in the new helpdesk and update the website's links to it.",
    "phone": "Connect the phone line to the new helpdesk's voice channel, or agree how calls are logged.",
    "chat": "Install the new helpdesk's chat widget on the website, or reconnect this chat provider.",
    "social": "Connect the account to the new helpdesk's social channel.",
    "integration": "Re-create the integration that creates these tickets: new API credentials and endpoint.",
    "forum": "Connect the forum or community integration to the new helpdesk.",
    "listing": "Connect the review or listing integration to the new helpdesk, or answer it where it lives.",
}
CHANNEL_TITLES = {
    "form": "Web form / help-center tickets",
    "phone": "Phone-channel tickets",
    "chat": "Chat conversations",
    "social": "Social-media conversations",
    "integration": "Tickets created through the API",
    "forum": "Forum or community tickets",
    "listing": "Review or listing tickets",
}
TEAM_SENDERS = 3  # distinct senders that make an address the team's when nothing else says so


def build(
    conn: sa.Connection, ctx: Context, found: Findings
) -> tuple[dict[str, Item], list[Item], dict[str, Any]]:
    """The section items (always all of them), the channel items and per-section extras."""
    channels: list[Found] = list(found.found.values())
    channels += _email_items(ctx, found)
    channels += _ticket_channel_items(conn, found)
    team_phones, extras = _phone_items(conn, ctx, found)
    channels += team_phones
    items = [Item(f.id, f.section, f.title, f.evidence, f.needs) for f in channels]
    items.sort(key=lambda i: (list(SECTIONS).index(i.section), -i.evidence.count, i.id))
    sections = {}
    for key, title in SECTIONS.items():
        ev = Evidence()
        for i in items:
            if i.section == key:
                ev.merge(i.evidence)
                ev.facts.add(i.id)
        sections[key] = Item(key, key, title, ev)
    return sections, items, extras


def _is_ours(addr: str, a: Any, ctx: Context, found: Findings) -> bool:
    agent_addresses = {e for pid in ctx.agents for e in ctx.emails.get(pid, [])}
    if a.seen_in & (set(sig.ENVELOPE_HEADERS) | {"recipient (source)"}):
        return True
    if addr in ctx.support_addresses or sig.domain_of(addr) in ctx.support_domains:
        return True
    if addr in agent_addresses:
        return True
    if found.envelope_seen or ctx.support_addresses or ctx.support_domains:
        return False
    return len(a.senders) >= TEAM_SENDERS and addr not in found.inbound_authors


def _email_items(ctx: Context, found: Findings) -> list[Found]:
    ours = {addr for addr, a in found.addresses.items() if _is_ours(addr, a, ctx, found)}
    items = []
    for addr in sorted(ours):
        a = found.addresses[addr]
        reaches = sorted(a.reaches)
        title = addr + (f" → {', '.join(reaches)}" if reaches else "")
        if reaches:
            needs = (
                f"Keep this alias/forward pointing at {', '.join(reaches)} until that address "
                "delivers to the new helpdesk; then point it there directly."
            )
        else:
            needs = (
                "Forward this address to the new helpdesk (or add it there as a support address); "
                "keep the forward after cutover so replies to old threads arrive."
            )
        ev = a.evidence
        ev.facts |= {f"seen in {h}" for h in a.seen_in} | {f"reaches {r}" for r in reaches}
        items.append(Found(f"email:{addr}", "emails", title, needs, ev))
    return items


def _ticket_channel_items(conn: sa.Connection, found: Findings) -> list[Found]:
    """Tickets a REST source marked chat, phone, web, social, api… (by their via channel)."""
    t = T_TICKET.c
    out: dict[str, Found] = {}
    rows = conn.execute(
        sa.select(t.id, t.channel, t.created_at, t.subject)
        .where(t.channel.not_in(("email", "other")))
        .execution_options(yield_per=5000)
    )
    for tid, channel, created, subject in rows:
        via = found.via.get(tid)
        section, prefix = sig.VIA_SECTIONS.get(
            via or "", sig.CHANNEL_SECTIONS.get(channel, ("", ""))
        )
        if not section:
            continue
        name = via or channel
        item_id = f"{prefix}:{slug(name)}"
        if item_id not in out:
            out[item_id] = Found(
                item_id, section, f"{CHANNEL_TITLES[prefix]} (via {name})", CHANNEL_NEEDS[prefix]
            )
        f = out[item_id]
        f.evidence.add(
            created, f"{created:%Y-%m-%d} “{subject or '(no subject)'}”" if created else None
        )
        f.evidence.facts.add(f"ticket channel {channel}")
    return list(out.values())


def _phone_items(
    conn: sa.Connection, ctx: Context, found: Findings
) -> tuple[list[Found], dict[str, Any]]:
    p = T_PERSON.c
    for _pid, phone in conn.execute(
        sa.select(p.id, p.phone).where(p.role == "agent", p.phone.is_not(None))
    ):
        for number, written in find_numbers(f"tel {phone}", (ctx.region,)):
            ph = found.phones[number]
            ph.by_agent = True
            ph.written = ph.written or written
            ph.evidence.facts.add("an agent's phone in the people table")
    items, customers = [], []
    for number, ph in sorted(found.phones.items(), key=lambda kv: -kv[1].evidence.count):
        if ph.by_agent:
            ph.evidence.facts.add("quoted by the team")
            items.append(
                Found(
                    f"phone:{number}",
                    "phones",
                    f"{pretty(number)} (quoted by the team)",
                    "Keep this number reachable: route it to the new helpdesk's voice channel or "
                    "update the signature that quotes it.",
                    ph.evidence,
                )  # fmt: skip
            )
        else:
            customers.append({"number": pretty(number), "messages": ph.evidence.count,
                              "authors": len(ph.authors), "example": ph.evidence.examples[:1]})  # fmt: skip
    extra = {
        "customer_numbers": len(customers),
        "customer_examples": customers[:10],
        "region": ctx.region,
    }
    return items, {"phones": extra}
