"""Reading one stream: pages, incremental cursors, boundary de-duplication, page caps.

A stream's state (``{"cursor": …}`` or ``{"value": …, "recent": {id: ts}}``) is
handed out with every page, and the caller commits it with that page's batch:
state never runs ahead of the data it describes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deskmove.errors import FatalRemoteError
from deskmove.rest.paginate import dig, make_paginator
from deskmove.timestamps import parse_instant

if TYPE_CHECKING:
    from deskmove.rest.http import RestClient
    from deskmove.rest.spec import IncrementalSpec, StreamSpec


@dataclass
class Page:
    records: list[dict[str, Any]]
    state: dict[str, Any]
    skipped: int = 0  # records already read at the boundary
    extra: dict[str, Any] = field(default_factory=dict)  # the rest of the body (side-loads)


def to_epoch(value: Any) -> float | None:
    """Seconds since the epoch from a unix number or an ISO 8601 string."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        dt = parse_instant(value)
    except (ValueError, OverflowError, OSError):
        return None
    return dt.timestamp() if dt is not None else None


def _fmt(inc: IncrementalSpec, epoch: float, values: dict[str, Any] | None = None) -> Any:
    """The start value as the API wants it, put into ``inc.template`` when there is one."""
    if inc.start_format == "unix":
        start: Any = int(epoch)
    elif inc.start_format == "hook":  # the hooks module formats it (RT: in RT's time zone)
        start = (values or {})["format_start"](epoch)
    else:
        start = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if inc.template is None:
        return start
    return inc.template.format(**{**(values or {}), "start": start})


def read_stream(
    client: RestClient,
    stream: StreamSpec,
    state: dict[str, Any] | None,
    *,
    path_args: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Iterator[Page]:
    """Every page of one stream from ``state`` on, each with the state after it.

    ``values`` fill ``{placeholders}`` in the stream's params and incremental
    template (the hooks' ``stream_values``, e.g. RT's TicketSQL queue clause).
    """
    inc = stream.incremental
    state = dict(state or {})
    values = values or {}
    params = {
        k: v.format(**values) if isinstance(v, str) and "{" in v else v
        for k, v in stream.params.items()
    }
    path = stream.path.format(**(path_args or {}))
    if inc is None:
        for records, extra, _capped in _pages(client, stream, path, params, state, None):
            yield Page(records, {}, extra=extra)
    elif inc.type == "cursor":
        yield from _cursor_pages(client, stream, inc, path, params, state)
    else:
        yield from _time_pages(client, stream, inc, path, params, state, values)


def _pages(client, stream, path, params, state, inc, skip_pages=0):  # type: ignore[no-untyped-def]
    """Raw pages: (response body records, body); the paginator decides the next request."""
    pager = make_paginator(stream.paginator)
    url, params = path, pager.first(params, skip_pages)
    while True:
        lane = (stream.pace.lane, stream.pace.per_minute) if stream.pace else None
        resp, body = client.json("GET", url, params=params, lane=lane)
        records = body if stream.records == "" else dig(body, stream.records)
        if not isinstance(records, list):
            raise FatalRemoteError(
                f"{client.spec.name}: {stream.path} answered without a '{stream.records}' list",
                "the API changed or the spec is wrong; check `deskmove adapters check`",
            )
        nxt = pager.next(resp, body, len(records), params)
        extra = (
            {k: v for k, v in body.items() if k != stream.records} if isinstance(body, dict) else {}
        )
        size = stream.paginator.size if stream.paginator else None
        full = len(records) > 0 and not (size and len(records) < size)  # a short page is the end
        yield records, extra, (nxt is None and pager.capped and full)
        if nxt is None:
            return
        url, params = (nxt.url, {}) if nxt.url else (path, nxt.params)
        if inc is not None and inc.type == "cursor" and inc.cursor_param in params:
            params.pop(inc.start_param, None)


def _cursor_pages(client, stream, inc, path, params, state):  # type: ignore[no-untyped-def]
    if state.get("cursor"):
        params[inc.cursor_param] = state["cursor"]
    else:
        params[inc.start_param] = _fmt(inc, to_epoch(inc.initial) or 0)
    for records, extra, _capped in _pages(client, stream, path, params, state, inc):
        cursor = dig(extra, inc.cursor_path) or state.get("cursor")
        state = {"cursor": cursor}
        yield Page(records, dict(state), extra=extra)


def _time_pages(client, stream, inc, path, params, state, values):  # type: ignore[no-untyped-def]
    value = to_epoch(state.get("value"))
    start = (value - inc.lookback_seconds) if value is not None else (to_epoch(inc.initial) or 0)
    recent: dict[str, float] = {str(k): v for k, v in (state.get("recent") or {}).items()}
    last_window: float | None = None
    skip = 0  # pages of a window already read (many records share the window's first second)
    while True:
        params[inc.start_param] = _fmt(inc, max(start, 0), values)
        capped = False
        for records, extra, page_capped in _pages(client, stream, path, params, state, inc, skip):
            capped = page_capped
            fresh, skipped = [], 0
            for r in records:
                rid, ts = str(r.get(inc.id_field)), to_epoch(r.get(inc.record_field))
                if rid in recent and ts is not None and ts <= recent[rid]:
                    skipped += 1
                    continue
                fresh.append(r)
                if ts is not None:
                    recent[rid] = ts
                    value = ts if value is None else max(value, ts)
            end = to_epoch(dig(extra, inc.end_path)) if inc.end_path else None
            if end is not None:
                value = end if value is None else max(value, end)
            floor = (value or 0) - max(inc.lookback_seconds, 1)
            recent = {k: v for k, v in recent.items() if v >= floor}
            yield Page(fresh, {"value": value, "recent": dict(recent)}, skipped, extra)
        if not capped:
            return
        # The API stops at its page cap: open a new window at the last value seen.
        if value is None:
            raise FatalRemoteError(
                f"{client.spec.name}: a full page cap of records without a {inc.record_field}",
                "check the spec's incremental record_field",
            )
        if value == last_window:  # a cap's worth of records share one timestamp: page on
            if not inc.page_on_ties:
                raise FatalRemoteError(
                    f"{client.spec.name}: more than a full page cap of records share one timestamp",
                    "narrow the export (a smaller page size or time range) and re-run",
                )
            skip += stream.paginator.max_pages if stream.paginator else 1
        else:
            skip = 0
        last_window = start = value
