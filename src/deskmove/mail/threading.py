"""Group mails into conversations, whatever order they arrive in.

Message-ID / In-Reply-To / References are joined with union-find, with
placeholders for parents not seen (yet); a JWZ-style parent map only decides
which message is the conversation's root. Secondary keys (Gmail thread ids,
Outlook Thread-Index roots, ticket numbers in subjects) join like references.
Subject fallback is deliberately narrow for a helpdesk: only a mail that has
no threading headers, whose subject carries a reply/forward marker, from the
same customer, within a time window, joins a conversation by subject.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deskmove.mail.subjects import strip_prefixes

DEFAULT_WINDOW = timedelta(days=30)


@dataclass(slots=True)
class ThreadItem:
    id: str  # the caller's stable id
    message_id: str | None  # normalised "<local@domain>", or None
    in_reply_to: str | None
    references: list[str]
    subject: str
    date: datetime
    customer: str | None = None  # the external party's address: subject fallback stays within it
    keys: list[str] = field(default_factory=list)  # secondary thread keys


@dataclass(slots=True)
class Thread:
    root: str  # a caller id, or a placeholder's Message-ID when the root was never seen
    items: list[ThreadItem]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent.setdefault(x, x)
        while parent != x:
            grand = self.parent[parent]
            self.parent[x] = grand
            x, parent = parent, grand
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def parents_of(item: ThreadItem) -> list[str]:
    """References when valid, else In-Reply-To; self-references dropped."""
    refs = [r for r in item.references if r and r != item.message_id]
    if not refs and item.in_reply_to and item.in_reply_to != item.message_id:
        refs = [item.in_reply_to]
    return refs


def thread(
    items: Sequence[ThreadItem],
    *,
    subject_merge: bool = True,
    window: timedelta | None = DEFAULT_WINDOW,
    prefixes: Iterable[str] = (),
    prune_phantoms: bool = True,
) -> list[Thread]:
    """Conversations, each with its root and its items in date order; threads by first date."""
    prefixes = tuple(prefixes)
    node = _nodes(items)
    uf = _UnionFind()
    up: dict[str, str] = {}  # JWZ parent map over nodes and placeholders
    for item in items:
        me = node[item.id]
        uf.find(me)
        refs = parents_of(item)
        for ref in refs:
            uf.union(me, ref)
        for key in item.keys:
            uf.union(me, "\x01" + key)
        _link(up, [*refs, me])
    if subject_merge:
        _subject_merge(items, node, uf, up, window, prefixes)
    groups: dict[str, list[ThreadItem]] = {}
    for item in items:
        groups.setdefault(uf.find(node[item.id]), []).append(item)
    by_node = {node[i.id]: i for i in items}
    children: dict[str, list[str]] = {}  # the parent map inverted, once, when a root needs it
    out = []
    for members in groups.values():
        members.sort(key=lambda i: (i.date, i.id))
        root = _root(members, node, up, by_node, children, prune_phantoms)
        out.append(Thread(root, members))
    out.sort(key=lambda t: (t.items[0].date, t.items[0].id))
    return out


def _nodes(items: Sequence[ThreadItem]) -> dict[str, str]:
    """Each item's node: its Message-ID when it is the first to carry it, else a unique one."""
    owners: dict[str, str] = {}
    node: dict[str, str] = {}
    for item in items:
        mid = item.message_id
        if mid and mid not in owners:
            owners[mid] = item.id
            node[item.id] = mid
        else:
            node[item.id] = "\x00" + item.id
    return node


def _descends(up: dict[str, str], child: str, ancestor: str) -> bool:
    seen = set()
    while child in up and child not in seen:
        seen.add(child)
        child = up[child]
        if child == ancestor:
            return True
    return False


def _link(up: dict[str, str], chain: list[str]) -> None:
    """Link References in order (keeping existing parents); the message itself is re-parented."""
    for parent, child in zip(chain, chain[1:], strict=False):
        last = child == chain[-1]
        if parent == child or _descends(up, parent, child):
            continue  # a cycle or a self-reference: ignored
        if last or child not in up:
            up[child] = parent


def _subject_merge(
    items: Sequence[ThreadItem],
    node: dict[str, str],
    uf: _UnionFind,
    up: dict[str, str],
    window: timedelta | None,
    prefixes: tuple[str, ...],
) -> None:
    bases = {i.id: strip_prefixes(i.subject, prefixes) for i in items}
    index: dict[tuple[str | None, str], list[ThreadItem]] = {}
    for item in sorted(items, key=lambda i: (i.date, i.id)):
        base = bases[item.id][0].casefold()
        if base:
            index.setdefault((item.customer, base), []).append(item)
    for item in sorted(items, key=lambda i: (i.date, i.id)):
        base, marked = bases[item.id]
        if not marked or parents_of(item) or item.keys or not base:
            continue
        for other in index.get((item.customer, base.casefold()), []):
            if uf.find(node[other.id]) == uf.find(node[item.id]):
                continue
            if window is not None and abs(other.date - item.date) > window:
                continue
            if not (bases[other.id][1] and other.date > item.date):
                uf.union(node[item.id], node[other.id])
                top = _top(up, node[other.id])
                if top != node[item.id] and not _descends(up, top, node[item.id]):
                    up[node[item.id]] = top
                break


def _top(up: dict[str, str], x: str) -> str:
    seen = set()
    while x in up and x not in seen:
        seen.add(x)
        x = up[x]
    return x


def _root(
    members: list[ThreadItem],
    node: dict[str, str],
    up: dict[str, str],
    by_node: dict[str, ThreadItem],
    children: dict[str, list[str]],
    prune: bool,
) -> str:
    """The JWZ root of the earliest message's tree; placeholders pruned to their one child.

    ``children`` is filled from ``up`` by the first root that needs it and shared by the
    rest, so a batch whose conversations hang off unseen parents stays linear."""
    top = _top(up, node[members[0].id])
    if top in by_node:
        return by_node[top].id
    if not prune:
        return top.strip("<>")
    if not children and up:
        for child, parent in up.items():
            children.setdefault(parent, []).append(child)
    while top not in by_node:
        kids = children.get(top, [])
        if len(kids) != 1:
            break
        top = kids[0]
    if top in by_node:
        return by_node[top].id
    return members[0].id
