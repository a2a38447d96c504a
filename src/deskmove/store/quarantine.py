"""The quarantine: what could not be imported, kept with its reason and raw bytes.

An item is *open* until it leaves the quarantine, either ``imported`` (a retry or
a later import brought in the record it would have become) or ``dropped`` (a
person reviewed it and said why). Resolved items are kept; nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deskmove.model import Quarantine, utcnow
from deskmove.records import Batch, QuarantineRec
from deskmove.store.chunks import chunks

if TYPE_CHECKING:
    from deskmove.store import Store
    from deskmove.store.blobs import StoreBlobs

QUARANTINE = Quarantine.__table__
C = QUARANTINE.c


@dataclass
class Item:
    """One quarantined input item."""

    id: int
    connection: str
    native_ref: str
    reason: str
    raw_sha256: str | None
    created_at: datetime | None
    run_id: int | None
    kind: str | None
    native_id: str | None
    context: dict[str, Any]
    resolved: bool
    resolution: str | None
    note: str | None
    resolved_at: datetime | None

    @property
    def state(self) -> str:
        return self.resolution or ("resolved" if self.resolved else "open")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.connection,
            "reference": self.native_ref,
            "reason": self.reason,
            "when": _iso(self.created_at),
            "run_id": self.run_id,
            "record": f"{self.kind} {self.native_id}" if self.kind and self.native_id else None,
            "state": self.state,
            "note": self.note,
            "resolved_at": _iso(self.resolved_at),
            "raw_sha256": self.raw_sha256,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _item(row: Any) -> Item:
    return Item(
        id=row.id,
        connection=row.connection,
        native_ref=row.native_ref,
        reason=row.reason,
        raw_sha256=row.raw_sha256,
        created_at=row.created_at,
        run_id=row.run_id,
        kind=row.kind,
        native_id=row.native_id,
        context=dict(row.context or {}),
        resolved=bool(row.resolved),
        resolution=row.resolution,
        note=row.note,
        resolved_at=row.resolved_at,
    )


# -- written by the ingestor, inside a batch's transaction ----------------------------------
def write(
    conn: Connection,
    blobs: StoreBlobs,
    connection: str,
    run_id: int | None,
    recs: list[QuarantineRec],
) -> None:
    """Keep what could not be imported; the same item quarantined again is kept once.

    One open item per reference: quarantined again, it takes today's reason, bytes and
    spec (so `quarantine retry` reads it through the mapping of the latest import). An
    item dropped as reviewed stays dropped while the input holds the same bytes.
    """
    now = utcnow()
    open_rows: dict[str, list[Any]] = {}
    dropped: set[tuple[str, str | None]] = set()
    for part in chunks(sorted({q.native_ref for q in recs})):
        for row in conn.execute(
            sa.select(C.id, C.native_ref, C.reason, C.raw_sha256, C.resolved, C.context).where(
                C.connection == connection,
                C.native_ref.in_(part),
                sa.or_(C.resolved.is_(False), C.resolution == "dropped"),
            )
        ):
            if row.resolved:
                dropped.add((row.native_ref, row.raw_sha256))
            else:
                open_rows.setdefault(row.native_ref, []).append(row)
    rows = []
    seen: set[tuple[str, str, str | None]] = set()
    used: set[int] = set()
    for q in recs:
        sha = blobs.add(conn, q.raw) if q.raw is not None else None
        key = (q.native_ref, q.reason, sha)
        if key in seen or (q.native_ref, sha) in dropped:
            continue
        seen.add(key)
        held = open_rows.get(q.native_ref, [])
        same = [r for r in held if (r.reason, r.raw_sha256) == (q.reason, sha)]
        if not same and len(held) == 1:
            same = held  # the one item of this reference, now failing for another reason
        if same and same[0].id not in used:
            row = same[0]
            used.add(row.id)
            if (row.reason, row.raw_sha256, row.context) != (q.reason, sha, q.context):
                conn.execute(
                    QUARANTINE.update()
                    .where(C.id == row.id)
                    .values(
                        reason=q.reason,
                        raw_sha256=sha,
                        context=q.context,
                        kind=q.kind,
                        native_id=q.native_id,
                        **({"run_id": run_id} if run_id is not None else {}),
                    )
                )
            continue
        rows.append(
            {
                "run_id": run_id,
                "connection": connection,
                "native_ref": q.native_ref,
                "reason": q.reason,
                "raw_sha256": sha,
                "created_at": now,
                "resolved": False,
                "kind": q.kind,
                "native_id": q.native_id,
                "context": q.context,
            }
        )
    if rows:
        conn.execute(QUARANTINE.insert(), rows)


def has_open_records(conn: Connection, connection: str) -> bool:
    """Whether any open item of this connection names the record it would have become."""
    return (
        conn.execute(
            sa.select(C.id)
            .where(C.connection == connection, C.resolved.is_(False), C.native_id.is_not(None))
            .limit(1)
        ).first()
        is not None
    )


def clear_imported(conn: Connection, connection: str, run_id: int | None, batch: Batch) -> int:
    """Open items whose record this batch brought in leave the quarantine as imported."""
    keys: dict[str, set[str]] = {"ticket": set(), "message": set(), "person": set()}
    for t in batch.tickets:
        keys["ticket"].add(t.native_id)
        keys["message"].update(m.native_id for m in t.messages)
    keys["person"].update(p.native_id for p in batch.people)
    for q in batch.quarantined:  # quarantined again in this very batch: still open
        if q.kind in keys and q.native_id:
            keys[q.kind].discard(q.native_id)
    done = 0
    now = utcnow()
    for kind, ids in keys.items():
        for part in chunks(sorted(ids)):
            done += conn.execute(
                QUARANTINE.update()
                .where(
                    C.connection == connection,
                    C.resolved.is_(False),
                    C.kind == kind,
                    C.native_id.in_(part),
                )
                .values(
                    resolved=True,
                    resolution="imported",
                    resolved_at=now,
                    note=f"imported by run #{run_id}" if run_id else "imported",
                )
            ).rowcount
    return done


# -- read and reviewed by `deskmove quarantine` ---------------------------------------------
def items(
    store: Store,
    ids: Sequence[int] | None = None,
    *,
    open_only: bool = True,
    connection: str | None = None,
) -> list[Item]:
    """Quarantined items, oldest first: these ids, or all (open ones unless ``open_only=False``)."""
    q = sa.select(QUARANTINE).order_by(C.id)
    if open_only:
        q = q.where(C.resolved.is_(False))
    if connection is not None:
        q = q.where(C.connection == connection)
    with store.begin() as conn:
        if ids is None:
            return [_item(r) for r in conn.execute(q)]
        out: list[Item] = []
        for part in chunks(sorted(set(ids))):
            out += [_item(r) for r in conn.execute(q.where(C.id.in_(part)))]
        return out


def get(store: Store, item_id: int) -> Item | None:
    found = items(store, [item_id], open_only=False)
    return found[0] if found else None


def resolve(
    store: Store, ids: Sequence[int], resolution: str, note: str | None, *, only_open: bool = True
) -> int:
    """Take items out of the quarantine (kept, with how, why and when)."""
    done = 0
    now = utcnow()
    with store.begin() as conn:
        for part in chunks(sorted(set(ids))):
            where = [C.id.in_(part)] + ([C.resolved.is_(False)] if only_open else [])
            done += conn.execute(
                QUARANTINE.update()
                .where(*where)
                .values(resolved=True, resolution=resolution, note=note, resolved_at=now)
            ).rowcount
    return done


def requarantined(store: Store, item_id: int, reason: str, run_id: int | None) -> None:
    """A retried item that failed again stays open, with today's reason."""
    with store.begin() as conn:
        conn.execute(
            QUARANTINE.update().where(C.id == item_id).values(reason=reason, run_id=run_id)
        )


def open_by_reason(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """Open items per connection and reason, with the first reference, for `status`."""
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(C.connection, C.reason, sa.func.count(), sa.func.min(C.id))
            .where(C.resolved.is_(False))
            .group_by(C.connection, C.reason)
            .order_by(sa.func.count().desc(), sa.func.min(C.id))
            .limit(limit)
        ).all()
        firsts = {
            r.id: r.native_ref
            for r in conn.execute(
                sa.select(C.id, C.native_ref).where(C.id.in_([r[3] for r in rows]))
            )
        }
    return [
        {"connection": c, "reason": reason, "count": n, "first_id": i, "first_ref": firsts.get(i)}
        for c, reason, n, i in rows
    ]
