"""Paginators end to end over respx, loop detection, time windows past a page cap."""

from __future__ import annotations

import httpx
import pytest
import respx

from deskmove.config import parse_spec
from deskmove.errors import FatalRemoteError
from deskmove.rest.adapter import spec_for
from deskmove.rest.http import RestClient
from deskmove.rest.spec import IncrementalSpec, PaginatorSpec, StreamSpec
from deskmove.rest.streams import read_stream

BASE = "https://acme.zendesk.com"


@pytest.fixture
def client(creds):  # noqa: ANN001
    c = RestClient(spec_for("zendesk"), parse_spec("zendesk://acme"), sleep=lambda s: None)
    yield c
    c.close()


def _stream(paginator: dict, **kw) -> StreamSpec:  # noqa: ANN003
    return StreamSpec(
        kind="group",
        path="/items",
        records=kw.pop("records", "items"),
        paginator=PaginatorSpec(**paginator),
        **kw,
    )


def _ids(pages) -> list[int]:  # noqa: ANN001
    return [r["id"] for p in pages for r in p.records]


@respx.mock
def test_link_header(client):
    respx.get(f"{BASE}/items", params={"page": "2"}).mock(
        return_value=httpx.Response(200, json=[{"id": 3}])
    )
    respx.get(f"{BASE}/items").mock(
        return_value=httpx.Response(
            200, json=[{"id": 1}, {"id": 2}], headers={"Link": f'<{BASE}/items?page=2>; rel="next"'}
        )
    )
    assert _ids(read_stream(client, _stream({"type": "link_header"}, records=""), None)) == [
        1,
        2,
        3,
    ]


@respx.mock
def test_offset(client):
    def answer(request: httpx.Request) -> httpx.Response:
        off = int(request.url.params.get("offset", 0))
        return httpx.Response(200, json={"items": [{"id": i} for i in range(off, min(off + 2, 5))]})

    respx.get(url__startswith=f"{BASE}/items").mock(side_effect=answer)
    s = _stream({"type": "offset", "offset_param": "offset", "size_param": "limit", "size": 2})
    assert _ids(read_stream(client, s, None)) == [0, 1, 2, 3, 4]


@respx.mock
def test_next_url_loop_is_an_error(client):
    respx.get(url__startswith=f"{BASE}/items").mock(
        return_value=httpx.Response(
            200, json={"items": [{"id": 1}], "next_page": f"{BASE}/items?p=same"}
        )
    )
    with pytest.raises(FatalRemoteError, match="same page"):
        list(read_stream(client, _stream({"type": "next_url", "next_path": "next_page"}), None))


@respx.mock
def test_cursor_repeated_token_is_an_error(client):
    respx.get(url__startswith=f"{BASE}/items").mock(
        return_value=httpx.Response(
            200, json={"items": [{"id": 1}], "after_cursor": "abc", "end_of_stream": False}
        )
    )
    s = _stream(
        {
            "type": "cursor",
            "cursor_param": "cursor",
            "cursor_path": "after_cursor",
            "stop_path": "end_of_stream",
        }
    )
    with pytest.raises(FatalRemoteError, match="same page"):
        list(read_stream(client, s, None))


@respx.mock
def test_updated_since_windows_walk_past_the_page_cap(client):
    """Freshdesk-style: 300 pages at most; a new window starts at the last updated_at seen."""
    records = [{"id": i, "updated_at": f"2024-01-01T00:{i // 2:02d}:00Z"} for i in range(20)]
    seen_params = []

    def answer(request: httpx.Request) -> httpx.Response:
        since, page = request.url.params["updated_since"], int(request.url.params["page"])
        seen_params.append((since, page))
        rows = [r for r in records if r["updated_at"] >= since]
        return httpx.Response(200, json=rows[(page - 1) * 3 : page * 3])

    respx.get(url__startswith=f"{BASE}/items").mock(side_effect=answer)
    s = StreamSpec(
        kind="ticket",
        path="/items",
        paginator=PaginatorSpec(
            type="page_number", page_param="page", size_param="per_page", size=3, max_pages=2
        ),
        incremental=IncrementalSpec(
            type="time", start_param="updated_since", start_format="iso", record_field="updated_at"
        ),
    )
    pages = list(read_stream(client, s, None))
    assert sorted(_ids(pages)) == list(range(20))  # each record once, boundary duplicates skipped
    assert sum(p.skipped for p in pages) > 0
    assert len({since for since, _p in seen_params}) > 3  # several windows
    assert pages[-1].state["value"] is not None
    # a re-run from the saved state reads only the boundary again, and skips it
    again = list(read_stream(client, s, pages[-1].state))
    assert _ids(again) == []
