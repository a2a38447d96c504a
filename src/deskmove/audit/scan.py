"""One streaming pass over the store's messages that finds every inbound channel.

The pass reads only the columns it needs, a few thousand rows at a time, so it
stays fast and flat in memory on a store of 100k tickets. What it finds is
gathered per checklist item in :class:`Findings`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from deskmove.audit import signals as sig
from deskmove.audit.evidence import Evidence
from deskmove.audit.known import KnownSender, KnownSenders
from deskmove.audit.phones import (
    candidates,
    number_key,
    own_text,
    region_for_domain,
    signature_lines,
)
from deskmove.store.auditscan import (
    ENVELOPE_PART,
    FORM_PART,
    SIGNAL_PART,
    VIA_PART,
    ScanRow,
)

if TYPE_CHECKING:
    from deskmove.store.audit import AuditQueries

_SLUG = re.compile(r"[^a-z0-9]+")
_ENVELOPE = frozenset(sig.ENVELOPE_HEADERS)
MAX_PHONES = 20000  # distinct numbers followed; the team's are always followed
Ex = Callable[[], str]  # an example, built only if an item still wants one
Regions = tuple[str | None, ...]  # the phone regions a message's numbers are read in
SECTION_OF = {
    "forum": "listings",
    "listing": "listings",
    "form": "forms",
    "chat": "chat-social",
    "social": "chat-social",
    "integration": "integrations",
}


def slug(text: str) -> str:
    """``Kolo fórum`` -> ``kolo-forum``: a stable, typeable part of an item id."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG.sub("-", plain.lower()).strip("-") or re.sub(r"\W+", "-", text.lower()).strip("-")


@dataclass
class Found:
    """One channel found: the item's id, section, title, needs, and its evidence."""

    id: str
    section: str
    title: str
    needs: str | None = None
    evidence: Evidence = field(default_factory=Evidence)


@dataclass
class Address:
    evidence: Evidence = field(default_factory=Evidence)
    seen_in: set[str] = field(default_factory=set)
    senders: set[str] = field(default_factory=set)  # up to a few, to tell a team address
    reaches: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class Phone:
    """Sightings of one phone number; kept small, since customers' own numbers are many.

    Full evidence (months, examples) is kept for the team's quotes only; a customer's
    sightings keep a count, a first example and a few authors.
    """

    written: str = ""
    regions: tuple[str | None, ...] = ()
    count: int = 0
    example: str | None = None  # the first customer sighting
    authors: tuple[int, ...] = ()  # up to a few
    agent_tickets: tuple[int, ...] = ()  # up to a few
    evidence: Evidence | None = None  # agents' quotes (and the people table)
    agents_own: bool = False  # an agent's phone in the people table
    signed: bool = False  # in the signature block of an agent's own message
    customer_quotes: int = 0  # customers' messages quoting a team number

    def team_evidence(self) -> Evidence:
        if self.evidence is None:
            self.evidence = Evidence()
        return self.evidence

    def merge(self, other: Phone) -> None:
        if other.evidence is not None:
            self.team_evidence().merge(other.evidence)
            self.team_evidence().facts |= other.evidence.facts
        self.count += other.count
        self.example = self.example or other.example
        self.agent_tickets = tuple(dict.fromkeys(self.agent_tickets + other.agent_tickets))[:3]
        self.authors = tuple(dict.fromkeys(self.authors + other.authors))[:5]
        self.agents_own = self.agents_own or other.agents_own
        self.signed = self.signed or other.signed
        self.written = self.written or other.written
        self.customer_quotes += other.customer_quotes

    @property
    def by_team(self) -> bool:
        """The team's own number: an agent signs with it, the people table has it, or agents
        quote it in several tickets."""
        return self.agents_own or self.signed or len(self.agent_tickets) >= 2


@dataclass
class Context:
    support_addresses: set[str]
    support_domains: set[str]
    known: KnownSenders
    region: str | None
    emails: dict[int, list[str]] = field(default_factory=dict)  # person id -> addresses
    agents: set[int] = field(default_factory=set)


@dataclass
class Findings:
    found: dict[str, Found] = field(default_factory=dict)
    addresses: dict[str, Address] = field(default_factory=lambda: defaultdict(Address))
    phones: dict[str, Phone] = field(default_factory=dict)  # number key -> sightings
    phones_untracked: int = 0  # customers' sightings of numbers beyond MAX_PHONES
    via: dict[int, str] = field(default_factory=dict)  # non-email ticket id -> via name
    inbound_authors: set[str] = field(default_factory=set)
    form_tickets: set[int] = field(default_factory=set)  # tickets a form mail started
    envelope_seen: bool = False

    def channel(self, item_id: str, section: str, title: str, needs: str | None) -> Found:
        if item_id not in self.found:
            self.found[item_id] = Found(item_id, section, title, needs)
        return self.found[item_id]

    def merge(self, later: Findings) -> None:
        """Add what a scan of later messages found (all but the phones: see
        :mod:`deskmove.audit.parallel`), as if one scan had read both in order: the first
        sighting names an item, examples are the first few, dates span both."""
        for item_id, f in later.found.items():
            mine = self.found.get(item_id)
            if mine is None:
                self.found[item_id] = f
            else:
                merge_evidence(mine.evidence, f.evidence)
        for addr, a in later.addresses.items():
            if addr not in self.addresses:
                self.addresses[addr] = a
                continue
            mine_a = self.addresses[addr]
            merge_evidence(mine_a.evidence, a.evidence)
            mine_a.seen_in |= a.seen_in
            for author in a.senders:  # only how many (up to 4) is read
                if len(mine_a.senders) >= 4:
                    break
                mine_a.senders.add(author)
            mine_a.reaches.update(a.reaches)
        for tid, name in later.via.items():
            self.via.setdefault(tid, name)
        self.inbound_authors |= later.inbound_authors
        self.form_tickets |= later.form_tickets
        self.envelope_seen = self.envelope_seen or later.envelope_seen


def merge_evidence(ev: Evidence, later: Evidence) -> None:
    """``later`` (of later messages) added to ``ev``, facts included."""
    ev.merge(later)
    ev.facts |= later.facts


def load_context(db: AuditQueries, ctx: Context) -> None:
    """People's addresses and who the agents are (one query each)."""
    for pid, email in db.person_addresses():
        ctx.emails.setdefault(pid, []).append(email)
    ctx.agents = db.agent_ids()


def scan_messages(db: AuditQueries, ctx: Context, batch: int = 2000) -> Findings:
    """Every message scanned, in one process (see :mod:`deskmove.audit.parallel` for more)."""
    return scan_range(db, ctx, batch=batch)


def scan_range(
    db: AuditQueries,
    ctx: Context,
    *,
    after: int | None = None,
    upto: int | None = None,
    batch: int = 2000,
    out: Findings | None = None,
    tally: PhoneCounts | None = None,
) -> Findings:
    """The messages with ids in ``(after, upto]`` scanned into ``out`` (new findings by
    default); phone sightings go to ``tally`` (by default counted into them as they come)."""
    out = out if out is not None else Findings()
    scan = _Scan(db, ctx, out, tally or PhoneCounts(out))
    for row in db.messages_to_scan(batch, after=after, upto=upto):
        scan.one(row)
    return out


class _Memo(dict):
    """Decisions per distinct key, kept up to a bound (then forgotten and made again):
    the rules are pure functions of the key, so a forgotten one only costs time."""

    LIMIT = 50000

    def __init__(self, make: Callable[[Any], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.LIMIT:
            self.clear()
        value = self[key] = self._make(key)
        return value


@dataclass(frozen=True, slots=True)
class _Signals:
    """What a message's signal headers say, before its sender and subject are known."""

    headers: dict[str, Any]
    list_id: str
    mailer: str
    auto_reply: bool  # the headers say it is an auto-reply (no integration then)
    auto_reason: str | None  # why the headers say it is machine-sent
    machine: bool  # a website script or form plugin sent it
    known: KnownSender | None  # by List-Id or X-Mailer
    forum_list: str | None  # a forum's List-Id


@dataclass(frozen=True, slots=True)
class _Author:
    """What the scan reads of a message's author, decided once per author."""

    senders: list[str]  # their addresses, the primary first
    sender: str  # the primary ("" without an author)
    agent: bool
    noreply: bool  # the primary is a no-reply or website address
    domain: str | None  # the primary's domain (None without an author)


@dataclass(frozen=True, slots=True)
class _Domain:
    """What a sender's domain says, whoever the sender is."""

    known: KnownSender | None
    forum: bool  # named like a community or forum (community.example.com)
    freemail: bool


@dataclass(frozen=True, slots=True)
class _Channel:
    """Where an inbound message's sender and signals put it (an item, once one arrives)."""

    item: tuple[str, str, str, str | None]  # id, section, title, needs
    facts: frozenset[str]
    unless_auto_reply: bool  # not a channel when the subject says it is an auto-reply


class _Scan:
    """The per-message pass: each rule decided once per distinct key (headers, recipients,
    sender), then only counted per message."""

    def __init__(self, db: AuditQueries, ctx: Context, out: Findings, tally: PhoneCounts) -> None:
        self.db, self.ctx, self.out, self.tally = db, ctx, out, tally
        self.signals = _Memo(self._signals)
        self.recipients = _Memo(self._recipients)
        self.domains = _Memo(self._domain)
        self.channels = _Memo(lambda key: key[0](*key[1:]))  # the items' names and facts
        self.vias = _Memo(lambda key: sig.via_name(db.header_part(key, VIA_PART)))
        self.regions = _Memo(self._regions)
        self.authors = _Memo(self._author)

    def one(self, row: ScanRow) -> None:
        ctx, out = self.ctx, self.out
        aid = row.author_id
        author = self.authors[aid]
        senders, sender = author.senders, author.sender
        when: datetime | None = row.created_at

        def title() -> str:  # built only when an item still wants an example
            subject = row.subject or row.ticket_subject or "(no subject)"
            return f"{when:%Y-%m-%d} “{subject}”" if when else f"“{subject}”"

        if row.via is not None and row.ticket_id not in out.via:
            name = self.vias[row.via]
            if name:
                out.via[row.ticket_id] = name
        inbound = row.direction == "inbound"
        agent = not inbound or author.agent
        if row.body_text:
            self.phones(row, agent, author.domain, title)
        # A form mail is one whichever direction the source gave it (it may come from our domain).
        signals = self.signals[row.signals]
        form = bool(sender) and (signals.machine or author.noreply)
        form = form and _form(self._form_headers(row, signals), row, ctx, out, sender, when, title)
        if not inbound:
            return
        out.inbound_authors.update(senders)
        self.recipients_of(row, lambda: f"{title()} from {sender or 'unknown sender'}")
        if sender and not form:
            channel = self.channel(senders, sender, signals, row.is_auto)
            if channel is None:
                return
            if channel.unless_auto_reply and sig.auto_reply_subject(row.subject):
                return
            f = out.channel(*channel.item)
            f.evidence.add(when, lambda: f"{title()} from {sender}")
            f.evidence.facts |= channel.facts

    # what a key means ------------------------------------------------------------------
    def _author(self, aid: int | None) -> _Author:
        senders = self.ctx.emails.get(aid, []) if aid else []
        sender = senders[0] if senders else ""
        return _Author(
            senders,
            sender,
            aid in self.ctx.agents,
            bool(sender) and sig.noreply(sender),
            sig.domain_of(sender) if sender else None,
        )

    def _signals(self, key: Any) -> _Signals:
        h = self.db.header_part(key, SIGNAL_PART)
        list_id, mailer = sig.first(h, "list-id"), sig.first(h, "x-mailer")
        return _Signals(
            h,
            list_id,
            mailer,
            sig.auto_reply_headers(h),
            sig.auto_reason(h),
            sig.machine_sent(h),
            self.ctx.known.by_list_or_mailer(list_id, mailer),
            sig.forum_domain("", list_id),
        )

    def _form_headers(self, row: ScanRow, signals: _Signals) -> dict[str, Any]:
        return {**signals.headers, **self.db.header_part(row.form, FORM_PART)}

    def _recipients(self, key: tuple[Any, Any, Any]) -> _Recipients:
        """Which addresses a message reached (and in which headers), and what forwards to what."""
        envelope, to_key, cc_key = key
        h = self.db.header_part(envelope, ENVELOPE_PART)
        to, cc = self.db.address_list(to_key), self.db.address_list(cc_key)
        seen: dict[str, set[str]] = defaultdict(set)
        for name in _ENVELOPE.intersection(h):
            for addr in sig.addresses(h, name):
                seen[addr].add(name)
        recipient = sig.first(h, "recipient").lower()
        if "@" in recipient:
            seen[recipient].add("recipient (source)")
        envelope_seen = bool(seen)
        for field_name, addrs in (("to", to), ("cc", cc)):
            for addr in addrs or []:
                seen[str(addr).lower()].add(field_name.capitalize())
        reached = tuple((addr, frozenset(names)) for addr, names in seen.items())
        return _Recipients(reached, tuple(_forwards(h, to)), envelope_seen)

    def _domain(self, domain: str) -> _Domain:
        return _Domain(
            self.ctx.known.by_domain(domain),
            bool(sig.forum_domain(f"@{domain}", "")),
            domain in sig.FREEMAIL,
        )

    def channel(
        self, senders: list[str], sender: str, s: _Signals, is_auto: bool
    ) -> _Channel | None:
        """Where the rules put an inbound message (the scan's old per-message classification:
        the known senders, then forums, then integrations), from what its sender's address,
        its sender's domain and its signal headers say."""
        known = self.ctx.known.by_address(senders) or s.known
        domain = sig.domain_of(sender)
        d = self.domains[domain]
        if known is None:
            for other in senders:
                known = d.known if other is sender else self.domains[sig.domain_of(other)].known
                if known:
                    break
        if known:
            return self.channels[(_known, known, domain)]
        if d.forum:
            return self.channels[(_forum, domain, domain)]
        if s.forum_list:
            return self.channels[(_forum, s.forum_list, domain)]
        if s.auto_reply:
            return None
        # as sig.automation, but for the subject: an auto-reply's is looked at per message
        reason = s.auto_reason or ("flagged automatic by the source" if is_auto else None)
        if reason and (reason == "list-id" or not d.freemail):
            return self.channels[(_integration, domain, s.list_id, s.mailer, reason)]
        return None

    def _regions(self, key: tuple[str | None, bool]) -> tuple[str | None, ...]:
        domain, agent = key  # the sender's domain (None without a sender)
        own = region_for_domain(domain) if domain is not None else None
        region = self.ctx.region
        # The team writes in the project's locale; a customer on a country domain (wp.pl) in theirs.
        if own in (None, region):
            return (region,)
        return (region, own) if agent else (own, region)

    # what is counted per message -------------------------------------------------------
    def recipients_of(self, row: ScanRow, example: Ex) -> None:
        r = self.recipients[(row.envelope, row.to, row.cc)]
        out = self.out
        if r.envelope_seen:
            out.envelope_seen = True
        author = str(row.author_id)
        for addr, names in r.reached:
            a = out.addresses[addr]
            a.evidence.add(row.created_at, example)
            a.seen_in |= names
            if len(a.senders) < 4:
                a.senders.add(author)
        for src, dst in r.forwards:
            out.addresses[src].reaches[dst] += 1

    def phones(self, row: ScanRow, agent: bool, domain: str | None, ex: Ex) -> None:
        regions = self.regions[(domain, agent)]
        # Grouped by a cheap key here; numbering plans are checked once per distinct number later.
        text = own_text(row.body_text)
        found = candidates(text)
        if not found:
            return
        tally = self.tally
        if not agent:
            for raw in found:
                tally.customer(number_key(raw, regions), raw, regions, row.author_id, ex)
            return
        signature: list[str] | None = None  # looked for once a number may be in it

        def signed(raw: str) -> bool:
            nonlocal signature
            if signature is None:
                signature = signature_lines(text)
            return any(raw in line for line in signature)

        for raw in found:
            tally.agent(number_key(raw, regions), raw, regions, row, signed, ex)


class PhoneCounts:
    """Phone sightings counted into the findings, in message order.

    Customers' numbers are followed up to :data:`MAX_PHONES` distinct ones (then only
    counted), so which are followed depends on the order sightings arrive in; the
    team's are always followed."""

    def __init__(self, out: Findings) -> None:
        self.out = out

    def customer(self, key: str, raw: str, regions: Regions, aid: int | None, ex: Ex) -> None:
        phones = self.out.phones
        p = phones.get(key)
        if p is None:
            if len(phones) >= MAX_PHONES:
                self.out.phones_untracked += 1  # memory stays flat: customers' numbers are counted
                return
            p = phones[key] = Phone(written=raw, regions=regions)
        p.count += 1
        if p.example is None:
            p.example = ex()
        if aid is not None and aid not in p.authors and len(p.authors) < 5:
            p.authors += (aid,)

    def agent(
        self,
        key: str,
        raw: str,
        regions: Regions,
        row: ScanRow,
        signed: Callable[[str], bool],
        ex: Ex,
    ) -> None:
        phones = self.out.phones
        p = phones.get(key)
        if p is None:
            p = phones[key] = Phone(written=raw, regions=regions)
        p.count += 1
        if not p.signed:
            p.signed = signed(raw)
        p.team_evidence().add(row.created_at, ex)
        if row.ticket_id not in p.agent_tickets and len(p.agent_tickets) < 3:
            p.agent_tickets += (row.ticket_id,)
        aid = row.author_id
        if aid is not None and aid not in p.authors and len(p.authors) < 5:
            p.authors += (aid,)


class _Recipients(NamedTuple):
    reached: tuple[tuple[str, frozenset[str]], ...]  # address -> the headers it was in
    forwards: tuple[tuple[str, str], ...]  # (address, the address it reached)
    envelope_seen: bool


def _forwards(h: dict[str, Any], to: list[str] | None) -> set[tuple[str, str]]:
    """(address, address it reached) pairs: aliases, forwards, resends."""
    pairs: set[tuple[str, str]] = set()
    delivered = sig.addresses(h, "delivered-to")  # newest (final) first
    for older, newer in zip(delivered[1:], delivered, strict=False):
        pairs.add((older, newer))
    final = delivered[0] if delivered else next(iter(sig.addresses(h, "envelope-to")), None)
    for name in ("x-original-to", "envelope-to"):
        for addr in sig.addresses(h, name):
            if final and addr != final:
                pairs.add((addr, final))
    fwd_for = sig.addresses(h, "x-forwarded-for")
    if len(fwd_for) == 2:
        pairs.add((fwd_for[0], fwd_for[1]))
    origin = delivered[-1] if delivered else None
    for target in sig.addresses(h, "x-forwarded-to") + sig.addresses(h, "resent-to"):
        start = origin or next(iter(to or []), None)
        if start and start.lower() != target:
            pairs.add((start.lower(), target))
    if final:
        for addr in to or []:
            if addr.lower() != final and addr.lower() not in {p[0] for p in pairs}:
                pairs.add((addr.lower(), final))
    return {p for p in pairs if p[0] != p[1]}


def _form(
    h: dict[str, Any],
    row: Any,
    ctx: Context,
    out: Findings,
    sender: str,
    when: datetime | None,
    example: Ex,
) -> bool:
    """A website form's mail: a no-reply/script sender carrying a customer's address.

    Mail sources may already have made the customer (from Reply-To) the author; the
    script or form-mailer headers still tell the form apart then.
    """
    if not sig.maybe_form(h, sender):
        return False  # neither machine-sent nor from a no-reply address: no form
    if ctx.known.match([sender]) or sig.is_bounce(h, sender, row.subject):
        return False  # known services are classified by name; bounces are no channel
    script = sig.script_name(sig.first(h, "x-php-originating-script"))
    software = sig.first(h, "x-mailer") or sig.first(h, "user-agent")
    customer = sig.form_customer(
        h, sender, row.body_text, ctx.support_addresses, ctx.support_domains
    )
    if customer:
        key, sends_as = sender, sender
        title = f"Form submissions sent by {sender}" + (f" ({script})" if script else "")
    elif sig.form_by_customer(h, sender):
        customer = (sender, "Reply-To (the source made it the author)")
        key = script or slug(software)
        sends_as = _form_address(h)
        title = "Website contact form" + (f" {script}" if script else "")
        if sends_as:
            title += f", sent from {sends_as}"
    else:
        return False
    if software:
        title += f" by {software}"
    needs = "Point the form's recipient address at the new helpdesk (or keep this mailbox forwarding to it)"
    if sends_as or software:
        where = " ".join(
            x
            for x in (
                f"as {sends_as}" if sends_as else "",
                f"through {software}" if software else "",
            )
            if x
        )
        needs += f"; the form sends {where}: that is where to change it"
    f = out.channel(f"form:{key}", "forms", title, needs + ".")
    f.evidence.add(when, lambda: f"{example()} — customer {customer[0]} in {customer[1]}")
    f.evidence.facts.add(f"customer address in {customer[1]}")
    if script:
        f.evidence.facts.add(f"script {script}")
    if sends_as:
        f.evidence.facts.add(f"sent from {sends_as}")
    if software:
        f.evidence.facts.add("software " + re.sub(r"[\d.]+", "", software).strip())
    out.form_tickets.add(row.ticket_id)
    return True


def _form_address(h: dict[str, Any]) -> str | None:
    """The address a form's mail was sent from, when the source made the customer the
    author: kept by the mail source (``form-from``), else Sender or Return-Path."""
    for name in ("form-from", "sender", "return-path"):
        found = sig.addresses(h, name)
        if found:
            return found[0]
    return None


def _known(k: KnownSender, domain: str) -> _Channel:
    prefix = {"listing": "listing", "forum": "forum"}.get(k.category, k.category)
    return _Channel(
        (f"{prefix}:{slug(k.name)}", SECTION_OF[k.category], f"{k.name} ({k.kind})", k.needs),
        frozenset({f"sender domain {domain}"}),
        False,
    )


def _forum(forum: str, domain: str) -> _Channel:
    return _Channel(
        (
            f"forum:{forum}",
            "listings",
            f"Community or forum mail from {forum}",
            "Update the forum's notification address to the new helpdesk.",
        ),
        frozenset({f"sender {domain}"}),
        False,
    )


def _integration(domain: str, list_id: str, mailer: str, reason: str) -> _Channel:
    if list_id:
        lid = list_id.strip().strip("<>").split("<")[-1].strip("<> ")
        item = (
            f"integration:list:{lid}",
            "integrations",
            f"Mailing list {lid}",
            "A list delivers here: subscribe the new helpdesk's address, or route the list elsewhere.",
        )
    else:
        item = (
            f"integration:mail:{domain}",
            "integrations",
            f"Automated mail from {domain}",
            f"Change the notification address in {domain}'s settings to the new helpdesk, "
            "or filter these messages out.",
        )
    # Stable facts only (no per-sender addresses, no version numbers): they make the hash.
    facts = {reason}
    if not list_id:
        facts.add(f"sender domain {domain}")
    if mailer:
        facts.add("X-Mailer " + re.sub(r"[\d.]+", "", mailer).strip())
    return _Channel(item, frozenset(facts), True)
