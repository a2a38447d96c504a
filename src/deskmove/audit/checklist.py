"""Turn the scan's findings into checklist items, one section at a time."""

from __future__ import annotations

from typing import Any

from deskmove.audit import signals as sig
from deskmove.audit.evidence import SECTIONS, Evidence, Item
from deskmove.audit.phones import find_numbers, national_digits, normalise, pretty
from deskmove.audit.scan import Context, Findings, Found, Phone, slug
from deskmove.store.audit import AuditQueries

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
    db: AuditQueries, ctx: Context, found: Findings
) -> tuple[dict[str, Item], list[Item], dict[str, Any]]:
    """The section items (always all of them), the channel items and per-section extras."""
    channels: list[Found] = list(found.found.values())
    channels += _email_items(ctx, found)
    channels += _ticket_channel_items(db, found)
    team_phones, extras = _phone_items(db, ctx, found)
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


def _ticket_channel_items(db: AuditQueries, found: Findings) -> list[Found]:
    """Tickets a REST source marked chat, phone, web, social, api… (by their via channel)."""
    out: dict[str, Found] = {}
    for tid, channel, created, subject in db.non_email_tickets():
        if tid in found.form_tickets:
            continue  # a form mail, already an item of its own
        via = found.via.get(tid)
        # The canonical channel (from the source's mapping) decides; the via name only
        # places tickets the mapping left as "other" (e.g. Zendesk's any_channel).
        section, prefix = sig.CHANNEL_SECTIONS.get(channel) or sig.VIA_SECTIONS.get(
            via or "", ("", "")
        )
        if not section:
            continue
        # Name the item by the via channel when it agrees with the section (voice, facebook…).
        name = via if via and sig.VIA_SECTIONS.get(via, (section,))[0] == section else channel
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
    db: AuditQueries, ctx: Context, found: Findings
) -> tuple[list[Found], dict[str, Any]]:
    """The team's numbers (agents quote them in several tickets, or the people table has them)
    become items; numbers only customers wrote are their own and are summarised."""
    numbers: dict[str, Phone] = {}  # E.164 -> merged sightings, for every number agents wrote
    customers: list[Phone] = []
    for ph in found.phones.values():
        if not ph.agent_tickets:
            customers.append(ph)
        elif number := normalise(ph.written, ph.regions):
            numbers.setdefault(number, Phone(written=ph.written, regions=ph.regions)).merge(ph)
    for name, phone in db.agent_phones():
        for number, written in find_numbers(f"tel {phone}", (ctx.region,)):
            ph = numbers.setdefault(number, Phone(written=written, regions=(ctx.region,)))
            ph.agents_own = True
            ev = ph.team_evidence()
            ev.add(None, f"{name or 'an agent'}'s phone in the people table")
            ev.facts.add("an agent's phone in the people table")
    team = {n: ph for n, ph in numbers.items() if ph.by_team}
    customers += [ph for n, ph in numbers.items() if n not in team]
    customers = _count_team_quotes(team, customers)
    items = []
    for number, ph in sorted(team.items(), key=lambda kv: (-kv[1].team_evidence().count, kv[0])):
        ev = ph.team_evidence()
        how = (
            "quoted by the team"
            if len(ph.agent_tickets) >= 2
            else "in an agent's signature"
            if ph.signed
            else "an agent's phone"
        )
        ev.facts.add(how)
        if ph.customer_quotes:
            ev.facts.add("quoted by customers too")
            ev.add(None, f"also quoted in {ph.customer_quotes} customers' messages", n=0)
        needs = (
            "Keep this number reachable: route it to the new helpdesk's voice channel or "
            "update the signature that quotes it."
        )
        items.append(Found(f"phone:{number}", "phones", f"{pretty(number)} ({how})", needs, ev))
    extra = _customer_numbers(customers, ctx.region)
    extra["customer_numbers_unchecked"] += found.phones_untracked
    return items, {"phones": extra}


def _count_team_quotes(team: dict[str, Phone], customers: list[Phone]) -> list[Phone]:
    """Customers quoting a team number (in any format) are counted with that number."""
    tails = [(national_digits(n), n) for n in team]  # +420 and +48 may share national digits
    rest = []
    for ph in customers:
        digits = "".join(c for c in ph.written if c.isdigit())
        maybe = [n for tail, n in tails if len(tail) >= 7 and digits.endswith(tail)]
        number = normalise(ph.written, ph.regions) if maybe else None
        if number in maybe:
            team[number].customer_quotes += ph.count
        else:
            rest.append(ph)
    return rest


CHECK_CUSTOMER_NUMBERS = 5000  # distinct numbers checked against numbering plans, most quoted first


def _customer_numbers(customers: list[Phone], region: str | None) -> dict[str, Any]:
    """How many valid numbers only customers wrote (checked up to a cap), with ten examples."""
    examples, valid = [], 0
    ranked = sorted(customers, key=lambda p: -p.count)
    for ph in ranked[:CHECK_CUSTOMER_NUMBERS]:
        number = normalise(ph.written, ph.regions)
        if not number:
            continue
        valid += 1
        if len(examples) < 10 and all(e["number"] != pretty(number) for e in examples):
            first = ph.example or (
                ph.evidence.examples[0] if ph.evidence and ph.evidence.examples else None
            )
            examples.append(
                {
                    "number": pretty(number),
                    "messages": ph.count,
                    "authors": len(ph.authors),
                    "example": [first] if first else [],
                }
            )
    return {
        "customer_numbers": valid,
        "customer_numbers_unchecked": max(0, len(ranked) - CHECK_CUSTOMER_NUMBERS),
        "customer_examples": examples,
        "region": region,
    }
