"""Raw mails to a :class:`Batch`: parse, dedupe, thread into tickets, decide direction and people.

Every mail source (mbox, Maildir, eml, IMAP) hands its raw mails here. A mail
that cannot be parsed becomes a :class:`QuarantineRec` with the reason; nothing
raises on bad mail. Threading across runs (a reply imported before its parent)
is resolved against the store before the batch is returned, by
:class:`deskmove.mail.resolve.ThreadResolver`: build each batch only once the one
before it is ingested (every mail source yields them lazily).
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from deskmove.mail.blobwriter import BlobWriter
from deskmove.mail.parse import ParsedMail
from deskmove.mail.raw import RawMail
from deskmove.mail.resolve import (
    ThreadResolver,
    ThreadStore,
    TicketPlan,
    conversation_keys,
    headerless,
    merge_headers,
)
from deskmove.mail.subjects import strip_prefixes
from deskmove.mail.threading import ThreadItem, thread
from deskmove.records import Batch, MessageRec, PersonRec, PersonRef, QuarantineRec, TicketRec

if TYPE_CHECKING:
    from deskmove.config import Project
    from deskmove.store import Store

_FORM_SENDERS = (
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
    "wordpress",
    "webform",
    "forms",
    "form",
    "contact",
    "web",
    "website",
    "mailer",
)
_QUOTED = re.compile(r"'[^']*'")
_SKIP_LABELS = {"opened", "unread", "inbox", "sent", "important", "starred", "archived"}


@dataclass(slots=True)
class _Mail:
    raw: RawMail
    parsed: ParsedMail
    rec: MessageRec
    customer: str | None
    web_form: bool
    copies: int = 1


class MailBatcher:
    """Turns lists of raw mails into batches for one mail connection."""

    def __init__(
        self,
        project: Project,
        store: Store,
        connection: str,
        *,
        threads: ThreadStore | None = None,
    ) -> None:
        self.store = store
        self.connection = connection
        self.threads = threads or store.threads(connection)
        mail = project.section("mail")
        self.support_addresses = set(project.support_addresses)
        self.support_domains = set(project.support_domains)
        self.window = timedelta(days=float(mail.get("subject_window_days", 30)))
        self.prefixes = tuple(str(p).lower() for p in mail.get("subject_prefixes", []))
        self.now = datetime.now(UTC)
        self.notes: Counter[str] = Counter()  # what was guessed or repaired, for the run summary
        self.writer = BlobWriter(store.blobs.files)

    # -- public -------------------------------------------------------------------------
    def batch(
        self,
        mails: list[RawMail],
        *,
        state: dict[str, dict] | None = None,
        read: int | None = None,
    ) -> Batch:
        """Parse, thread and convert mails; unparseable ones become QuarantineRec; never raises on bad mail."""
        try:
            parsed = [self.writer.parse(raw, self.now) for raw in mails]
        finally:
            blobs = self.writer.take()  # large ones are files already
        batch = self.batch_parsed(mails, parsed, state=state, read=read)
        batch.blobs = blobs  # written with the batch's rows
        return batch

    def batch_parsed(
        self,
        mails: list[RawMail],
        parsed: list[ParsedMail | str],
        *,
        state: dict[str, dict] | None = None,
        read: int | None = None,
    ) -> Batch:
        """Like :meth:`batch`, for mails :func:`parse_raw` has parsed already (elsewhere, e.g. in
        worker processes: their large blobs must be on disk, the caller adds the small ones
        to ``Batch.blobs``); a ``str`` is a quarantine reason."""
        quarantined: list[QuarantineRec] = []
        unique: dict[str, _Mail] = {}
        for raw, result in zip(mails, parsed, strict=True):
            if isinstance(result, str):
                quarantined.append(QuarantineRec(raw.native_id, result, raw.raw))
                continue
            mail = self._accept(raw, result)
            first = unique.get(mail.rec.native_id)
            if first is None:
                unique[mail.rec.native_id] = mail
            else:  # the same mail seen twice (INBOX and Sent): one message, headers merged
                merge_headers(first.rec.headers, mail.rec.headers)
                first.copies += 1
        plans = self._plans(list(unique.values()))
        resolver = ThreadResolver(self.threads, window=self.window)
        reading = getattr(self.threads, "reading", None)  # one read transaction (StoreThreads)
        with reading() if reading is not None else nullcontext():
            tickets = resolver.resolve(plans)
        return Batch(
            tickets=tickets,
            people=self._people(unique.values()),
            quarantined=quarantined,
            state=state,
            read=len(mails) if read is None else read,
            scope="mail",
        )

    def is_support(self, address: str | None) -> bool:
        if not address:
            return False
        return (
            address in self.support_addresses or address.rpartition("@")[2] in self.support_domains
        )

    def classify(self, raw: RawMail, parsed: ParsedMail) -> _Mail:
        """Direction, author and customer of one parsed mail (what ``reclassify`` re-derives)."""
        return self._mail(raw, parsed)

    # -- parsing --------------------------------------------------------------------------
    def _accept(self, raw: RawMail, parsed: ParsedMail) -> _Mail:
        for note in parsed.notes:
            self.notes[_QUOTED.sub("…", note)] += 1  # counted by kind, not by value
        return self._mail(raw, parsed)

    def _mail(self, raw: RawMail, p: ParsedMail) -> _Mail:
        sender = p.sender[1] if p.sender else None
        outbound = self.is_support(sender)
        web_form = False
        author = PersonRef(email=sender, role="agent" if outbound else None) if sender else None
        external_reply_to = [a for a in p.reply_to if not self.is_support(a[1])]
        if external_reply_to and (outbound or is_form_sender(sender)):
            # a web contact form: sent by the site (or as the support address), the customer in Reply-To
            outbound, web_form = False, True
            author = PersonRef(email=external_reply_to[0][1])
        if outbound:
            others = [a[1] for a in p.to + p.cc if not self.is_support(a[1])]
            customer = others[0] if others else None
        else:
            customer = author.email if author else None
        headers: dict[str, object] = dict(p.headers)
        if raw.folder:
            headers["folder"] = raw.folder
        if raw.labels:
            headers["labels"] = list(raw.labels)
        if web_form and sender:  # the form's own address, which the audit names
            headers["form-from"] = sender
        rec = MessageRec(
            native_id=_message_native_id(p),
            created_at=p.date,
            author=author,
            public=True,
            direction="outbound" if outbound else "inbound",
            subject=p.subject or None,
            body_text=p.body_text,
            body_html=p.body_html,
            to=[a[1] for a in p.to],
            cc=[a[1] for a in p.cc],
            message_id=p.message_id,
            in_reply_to=p.in_reply_to,
            references=p.references,
            raw_sha256=p.raw_sha256,
            headers=headers,
            attachments=p.attachments,
            is_auto=p.auto is not None,
            created_tz=p.date_tz,
            folded=p.folded,
        )
        return _Mail(raw, p, rec, customer, web_form)

    # -- tickets ----------------------------------------------------------------------------
    def _plans(self, mails: list[_Mail]) -> list[TicketPlan]:
        by_id = {m.rec.native_id: m for m in mails}
        items = [
            ThreadItem(
                id=m.rec.native_id,
                message_id=m.parsed.message_id,
                in_reply_to=m.parsed.in_reply_to,
                references=m.parsed.references,
                subject=m.parsed.subject,
                date=m.parsed.date,
                customer=m.customer,
                keys=m.parsed.secondary_keys,
            )
            for m in mails
        ]
        threads = thread(items, window=self.window, prefixes=self.prefixes)
        item_of = {i.id: i for i in items}
        plans = []
        for t in threads:
            members = [by_id[i.id] for i in t.items]
            root = by_id.get(t.root) or members[0]
            plans.append(self._plan(members, root, [item_of[i.id] for i in t.items]))
        return plans

    def _plan(self, members: list[_Mail], root: _Mail, items: list[ThreadItem]) -> TicketPlan:
        first = members[0]
        inbound = [m for m in members if m.rec.direction == "inbound"]
        requester_email = inbound[0].rec.author.email if inbound and inbound[0].rec.author else None
        requester_email = requester_email or first.customer
        tags: set[str] = set()
        for m in members:
            if m.parsed.auto:
                tags.add(m.parsed.auto)
            tags.update(_label_tags(m.raw.labels))
        last = members[-1]
        rec = TicketRec(
            native_id=f"thread:{root.rec.message_id or root.rec.native_id}",
            subject=root.rec.subject or first.rec.subject,
            status="pending" if last.rec.direction == "outbound" else "open",
            channel="web" if first.web_form else "email",
            requester=PersonRef(email=requester_email) if requester_email else None,
            tags=sorted(tags),
            created_at=first.rec.created_at,
            updated_at=last.rec.created_at,
            is_auto=all(m.parsed.auto for m in members),
            thread_key=root.rec.message_id or root.rec.native_id,
            messages=[m.rec for m in members for _ in range(m.copies)],
        )
        base, marked = strip_prefixes(first.parsed.subject, self.prefixes)
        return TicketPlan(
            rec=rec,
            keys=conversation_keys(items),
            own_ids={m.rec.message_id: m.rec.native_id for m in members if m.rec.message_id},
            customer=first.customer,
            base_subject=base.casefold(),
            first_marked=marked,
            first_headerless=headerless(items[0]),
        )

    def _people(self, mails: object) -> list[PersonRec]:
        names: dict[str, str | None] = {}
        for m in mails:  # type: ignore[attr-defined]
            p = m.parsed
            for name, addr in ([p.sender] if p.sender else []) + p.reply_to + p.to + p.cc:
                if name and not names.get(addr):
                    names[addr] = name
                else:
                    names.setdefault(addr, None)
        return [
            PersonRec(
                native_id=f"mailto:{addr}",
                name=name,
                emails=[addr],
                role="agent" if self.is_support(addr) else "customer",
            )
            for addr, name in sorted(names.items())
            if not is_form_sender(addr) or self.is_support(addr)
        ]


def _message_native_id(p: ParsedMail) -> str:
    return f"{p.message_id}/{p.fingerprint}" if p.message_id else f"nomid/{p.fingerprint}"


def is_form_sender(address: str | None) -> bool:
    """A web form's or a no-reply sender address: no person (a form's customer is in Reply-To)."""
    if not address:
        return False
    local = address.partition("@")[0]
    return local in _FORM_SENDERS or local.startswith(("noreply", "no-reply", "donotreply"))


def _label_tags(labels: list[str]) -> list[str]:
    out = []
    for label in labels:
        slug = "-".join(label.strip().lower().split())
        if slug and slug not in _SKIP_LABELS and not slug.startswith("category-"):
            out.append(f"label:{slug}")
    return out
