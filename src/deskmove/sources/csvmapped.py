"""A helpdesk's own ticket CSV export, read through a mapping (one row per ticket).

A mapped ``description`` column becomes the ticket's first message (public,
inbound, from the requester, at the ticket's creation time), native id
``<ticket id>#description``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from deskmove.mappings import Mapping, UnknownValue
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from deskmove.sources.csvrows import Row

if TYPE_CHECKING:
    from deskmove.sources.csv import CsvSource

BATCH = 1000


def mapped_batches(src: CsvSource, mapping: Mapping) -> Iterator[Batch]:
    from deskmove.sources.csv import quarantine, row_key

    path = src.tickets_file()
    reader = src.reader(path)
    src._progress = reader.tell
    header = reader.header
    index = {h: i for i, h in enumerate(header)}
    cols = {f: index[c] for f, c in mapping.columns.items() if c in index}
    missing = [c for f, c in mapping.columns.items() if c not in index]
    if missing:
        src.notes.append(
            f"{path.name}: no column {', '.join(repr(m) for m in missing)}; left empty"
        )
    custom = {index[c]: k for c, k in mapping.custom_field_columns(header).items()}
    batch = Batch()
    with reader:
        for row in reader:
            try:
                if row.error:
                    raise ValueError(row.error)
                batch.tickets.append(_ticket(row, cols, custom, mapping))
            except (ValueError, UnknownValue) as exc:
                nid = row_key(row, header, mapping.columns.get("id", ""))
                batch.quarantined.append(
                    quarantine(
                        path.name,
                        row,
                        str(exc),
                        kind="ticket",
                        native_id=nid,
                        header=header,
                        dialect=src._dialects[path],
                    )
                )
            if len(batch.tickets) + len(batch.quarantined) >= BATCH:
                yield _counted(batch)
                batch = Batch()
    batch.state = {"csv": {"files": {path.name: path.stat().st_size}}}
    yield _counted(batch)


def mapped_retry(mapping: Mapping, rows: list[tuple[str, Row, list[str]]]) -> Batch:
    """Rows read again on their own (``quarantine retry``), through today's mapping."""
    from deskmove.sources.csv import quarantine, row_key

    batch = Batch()
    for name, row, header in rows:
        index = {h: i for i, h in enumerate(header)}
        cols = {f: index[c] for f, c in mapping.columns.items() if c in index}
        custom = {index[c]: k for c, k in mapping.custom_field_columns(header).items()}
        try:
            if row.error:
                raise ValueError(row.error)
            batch.tickets.append(_ticket(row, cols, custom, mapping))
        except (ValueError, UnknownValue) as exc:
            nid = row_key(row, header, mapping.columns.get("id", ""))
            batch.quarantined.append(quarantine(name, row, str(exc), kind="ticket", native_id=nid))
    return _counted(batch)


def _counted(batch: Batch) -> Batch:
    batch.read = (
        len(batch.tickets) + sum(len(t.messages) for t in batch.tickets) + len(batch.quarantined)
    )
    return batch


def _ticket(row: Row, cols: dict[str, int], custom: dict[int, str], m: Mapping) -> TicketRec:
    v = row.values

    def get(name: str) -> str:
        i = cols.get(name)
        return v[i].strip() if i is not None else ""

    nid = get("id")
    if not nid:
        raise ValueError("missing id")
    dates = {}
    for name in ("created_at", "updated_at", "solved_at"):
        try:
            dates[name] = m.parse_date(get(name))
        except ValueError as exc:
            raise ValueError(f"{exc} in {m.columns[name]}") from None
    requester = _ref(get("requester_email"), get("requester_name"))
    t = TicketRec(
        native_id=nid,
        subject=get("subject") or None,
        status=m.value("status", get("status")) or "open",
        priority=m.value("priority", get("priority")),
        type=get("type") or None,
        channel=m.value("channel", get("channel")) or "other",
        requester=requester,
        assignee=_ref(get("assignee_email"), get("assignee_name"), "agent"),
        group=get("group") or None,
        organization=get("organization") or None,
        tags=m.split_tags(get("tags")),
        custom_fields={k: v[i] for i, k in custom.items() if v[i].strip()},
        **dates,
    )
    text, html = get("description"), get("description_html")
    if text or html:
        t.messages.append(
            MessageRec(
                native_id=f"{nid}#description",
                created_at=dates["created_at"],
                author=requester,
                public=True,
                direction="inbound",
                subject=t.subject,
                body_text=text or None,
                body_html=html or None,
            )
        )
    return t


def _ref(email: str, name: str, role: str | None = None) -> PersonRef | None:
    email = email.lower()
    if "@" not in email:
        email = ""
    if not email and not name:
        return None
    return PersonRef(email=email or None, name=name or None, role=role)
