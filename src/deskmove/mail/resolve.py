"""Mail threading across runs: one resolver, over a narrow interface to the store.

Every ticket a mail source creates is known by its *thread keys* (Message-IDs it
holds, ids its mails reference, Gmail thread ids, Thread-Index roots, ticket
numbers). Before a batch is handed to the store, :class:`ThreadResolver` looks
the batch's keys up: a conversation that meets one stored ticket becomes an
update of it; one that meets several merges them into the oldest first (the
store moves messages and keys, the others are deleted). So a reply imported
before its parent ends in the parent's ticket once the parent arrives, in any
order. The keys themselves travel in the records (``TicketRec.thread_keys``)
and are written in the same transaction as the tickets.

Subject keys (``subj:<customer>:<base subject>``) let a header-less reply join
its customer's recent conversation within the time window.

The resolver reads and merges only through :class:`ThreadStore`
(:class:`deskmove.store.threads.StoreThreads` on a real store), so it runs on
its own: ``deskmove reclassify`` and tests can drive it with any implementation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from deskmove.mail.threading import ThreadItem, parents_of
from deskmove.records import StoredTicket, TicketRec


class ThreadStore(Protocol):
    """The store as threading sees it, for one source connection."""

    def thread_keys(self, keys: set[str]) -> dict[str, int]:
        """Thread key -> the stored ticket it belongs to, for the keys that are known."""

    def tickets(self, ids: set[int]) -> dict[int, StoredTicket]: ...

    def message_id_owners(self, message_ids: set[str]) -> dict[str, set[str]]:
        """Message-ID -> native ids of the stored mails that carry it."""

    def stored_copies(self, native_ids: set[str]) -> dict[str, tuple[str | None, dict[str, Any]]]:
        """Message native id -> (raw blob, audit headers) of the mails already stored."""

    def merge_tickets(self, canon: int, others: list[int]) -> None:
        """Move the others' messages and keys to ``canon`` and delete the emptied tickets."""


@dataclass
class TicketPlan:
    """One conversation of a batch, with what threading needs to find it in the store."""

    rec: TicketRec
    keys: set[str]
    own_ids: dict[str, str]  # Message-ID -> message native id (another mail with it is not us)
    customer: str | None = None
    base_subject: str = ""
    first_marked: bool = False  # the first mail's subject carries Re:/Fwd:/…
    first_headerless: bool = False  # … and it has no threading headers
    merged_into: TicketPlan | None = field(default=None, repr=False)

    @property
    def subject_key(self) -> str | None:
        keys = subject_keys(self.customer, self.base_subject)
        return keys[0] if keys else None


def conversation_keys(items: Iterable[ThreadItem]) -> set[str]:
    """The thread keys a conversation is known by: its mails' Message-IDs, the ids they
    reference and their secondary keys (Gmail thread ids, Thread-Index roots, ticket numbers)."""
    keys: set[str] = set()
    for item in items:
        keys.update(parents_of(item))
        keys.update(item.keys)
        if item.message_id:
            keys.add(item.message_id)
    return keys


def headerless(item: ThreadItem) -> bool:
    """A mail with nothing to thread by but its subject."""
    return not parents_of(item) and not item.keys


def subject_keys(
    customer: str | None,
    base_subject: str,
    *,
    first_marked: bool = False,
    first_headerless: bool = False,
) -> list[str]:
    """The subject keys of a conversation: ``subj:<customer>:<base subject>``, and its
    ``orphan-`` twin when the first mail says Re:/Fwd: without threading headers (a reply
    whose parent may come later)."""
    if not base_subject:
        return []
    key = f"subj:{customer or ''}:{base_subject}"
    return [key, "orphan-" + key] if first_marked and first_headerless else [key]


class ThreadResolver:
    """Joins a batch's conversations to the stored tickets they continue."""

    def __init__(self, store: ThreadStore, *, window: timedelta) -> None:
        self.store = store
        self.window = window

    def resolve(self, plans: list[TicketPlan]) -> list[TicketRec]:
        """The batch's ticket records, each an update of the stored ticket it continues
        (stored tickets one conversation joins are merged first), with their thread keys."""
        if not plans:
            return []
        self._drop_foreign_ids(plans)
        matches = self._matches(plans)
        if matches:
            for i, canon in self._canonical(matches).items():
                self._adopt(plans[i], canon)
            plans = _fold(plans)
        self._merge_message_copies(plans)
        for plan in plans:
            _attach_keys(plan)
        return [p.rec for p in plans]

    # -- finding the stored tickets ------------------------------------------------------
    def _drop_foreign_ids(self, plans: list[TicketPlan]) -> None:
        """A Message-ID another stored mail already owns (same id, other content) is not a key."""
        owners = self.store.message_id_owners({m for p in plans for m in p.own_ids})
        for plan in plans:
            for mid, nid in plan.own_ids.items():
                if mid in owners and nid not in owners[mid]:
                    plan.keys.discard(mid)

    def _matches(self, plans: list[TicketPlan]) -> dict[int, set[int]]:
        """Plan index -> the stored tickets its keys (or its subject) point at."""
        found = self.store.thread_keys({k for p in plans for k in p.keys})
        subject_hits = self._subject_hits(plans)
        matches: dict[int, set[int]] = {}
        for i, plan in enumerate(plans):
            hits = {found[k] for k in plan.keys if k in found}
            if i in subject_hits:
                hits.add(subject_hits[i])
            if hits:
                matches[i] = hits
        return matches

    def _subject_hits(self, plans: list[TicketPlan]) -> dict[int, int]:
        """Header-less conversations whose first subject says Re:/Fwd: find their customer's ticket."""
        probes = {}
        for i, plan in enumerate(plans):
            key = plan.subject_key
            if key and plan.first_headerless:
                probes[i] = key if plan.first_marked else "orphan-" + key
        found = self.store.thread_keys(set(probes.values())) if probes else {}
        if not found:
            return {}
        rows = self.store.tickets(set(found.values()))
        out = {}
        for i, probe in probes.items():
            tid = found.get(probe)
            row = rows.get(tid) if tid is not None else None
            if row is not None and self._within(plans[i].rec, row):
                out[i] = tid
        return out

    def _within(self, rec: TicketRec, row: StoredTicket) -> bool:
        start, end = rec.created_at, rec.updated_at or rec.created_at
        lo, hi = row.created_at or row.updated_at, row.updated_at or row.created_at
        if start is None or end is None or lo is None or hi is None:
            return False
        return start - hi <= self.window and lo - end <= self.window

    def _canonical(self, matches: dict[int, set[int]]) -> dict[int, StoredTicket]:
        """Plan index -> the one stored ticket it continues; tickets a plan joins are merged."""
        rows = self.store.tickets({t for hits in matches.values() for t in hits})
        canon_of: dict[int, int] = {}

        def find(t: int) -> int:
            while t in canon_of:
                t = canon_of[t]
            return t

        plan_canon: dict[int, int] = {}
        for i, hits in matches.items():
            roots = sorted({find(t) for t in hits if t in rows}, key=lambda t: (_first(rows[t]), t))
            if not roots:
                continue
            if roots[1:]:
                self.store.merge_tickets(roots[0], roots[1:])
                canon_of.update({o: roots[0] for o in roots[1:]})
            plan_canon[i] = roots[0]
        final = {i: find(t) for i, t in plan_canon.items()}
        # as the merges left them (without a merge, as they were read)
        stored = self.store.tickets(set(final.values())) if canon_of else rows
        return {i: stored[t] for i, t in final.items() if t in stored}

    # -- the records -------------------------------------------------------------------------
    def _adopt(self, plan: TicketPlan, row: StoredTicket) -> None:
        """The plan becomes an update of the stored ticket: its native id, the earliest fields."""
        if row.native_id is None:
            return  # a ticket another source made: leave it alone
        rec = plan.rec
        rec.native_id = row.native_id
        stored_first = row.created_at is not None and (
            rec.created_at is None or row.created_at <= rec.created_at
        )
        if stored_first:
            rec.subject = row.subject
            rec.thread_key = row.thread_key
            rec.channel = row.channel
            rec.requester = row.requester or rec.requester
            rec.created_at = row.created_at
        if row.updated_at is not None and (
            rec.updated_at is None or row.updated_at > rec.updated_at
        ):
            rec.updated_at = row.updated_at
            rec.status = row.status
        rec.tags = sorted(set(rec.tags) | set(row.tags))
        rec.is_auto = rec.is_auto and row.is_auto

    def _merge_message_copies(self, plans: list[TicketPlan]) -> None:
        """A mail stored before (maybe from another folder) keeps its first raw copy; headers merge."""
        recs = {m.native_id: m for p in plans for m in p.rec.messages}
        for nid, (raw_sha256, headers) in self.store.stored_copies(set(recs)).items():
            rec = recs[nid]
            merged = dict(headers)
            merge_headers(merged, rec.headers)
            rec.headers = merged
            rec.raw_sha256 = raw_sha256 or rec.raw_sha256


def _fold(plans: list[TicketPlan]) -> list[TicketPlan]:
    """Two conversations of this batch that met the same ticket become one record."""
    by_native: dict[str, TicketPlan] = {}
    keep = []
    for plan in plans:
        first = by_native.get(plan.rec.native_id)
        if first is None:
            by_native[plan.rec.native_id] = plan
            keep.append(plan)
            continue
        a, b = first.rec, plan.rec
        a.messages.extend(b.messages)
        a.tags = sorted(set(a.tags) | set(b.tags))
        if b.created_at and a.created_at and b.created_at < a.created_at:
            a.created_at, a.subject, a.requester = b.created_at, b.subject, b.requester
        if b.updated_at and (a.updated_at is None or b.updated_at > a.updated_at):
            a.updated_at, a.status = b.updated_at, b.status
        a.is_auto = a.is_auto and b.is_auto
        first.keys |= plan.keys
        plan.merged_into = first
    return keep


def _attach_keys(plan: TicketPlan) -> None:
    """The keys the store records for the ticket, with the batch (see ``TicketRec``)."""
    rec = plan.rec
    rec.thread_keys = sorted(set(rec.thread_keys) | plan.keys)
    moved = subject_keys(
        plan.customer,
        plan.base_subject,
        first_marked=plan.first_marked,
        first_headerless=plan.first_headerless,
    )
    if moved:
        rec.subject_keys = sorted(set(rec.subject_keys) | set(moved))


def _first(row: StoredTicket) -> datetime:
    return row.created_at or datetime.max.replace(tzinfo=UTC)


def merge_headers(into: dict[str, object], other: dict[str, object]) -> None:
    """Union of two copies' audit headers; "folder" stays the first, "folders" lists them all."""
    for key, value in other.items():
        mine = into.get(key)
        if key == "folder" and mine is not None and mine != value:
            folders = into.get("folders") or [mine]
            into["folders"] = [*folders, value] if value not in folders else folders  # type: ignore[misc]
        elif mine is None:
            into[key] = value
        elif isinstance(mine, list) and isinstance(value, list):
            into[key] = mine + [v for v in value if v not in mine]
