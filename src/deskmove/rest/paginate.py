"""Paginators by short name: cursor, next_url, link_header, offset, page_number.

Each one turns a response into the next request (or None at the end) and
refuses to loop: the same token, URL or page twice is an error, never an
endless export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from deskmove.errors import FatalRemoteError

if TYPE_CHECKING:
    import httpx

    from deskmove.rest.spec import PaginatorSpec


def dig(body: Any, path: str | None) -> Any:
    """``body["a"]["b"]`` for ``a.b``; None when any step is missing or no path is given."""
    if not path:
        return None
    for part in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def pick(body: Any, path: str) -> Any:
    """Like :func:`dig`, but an empty path means the body itself (a bare JSON list)."""
    return body if path == "" else dig(body, path)


class PageRequest:
    """Where the next page is: a full URL, or the stream's path with these params."""

    __slots__ = ("url", "params")

    def __init__(self, url: str | None, params: dict[str, Any]) -> None:
        self.url = url
        self.params = params


class Paginator:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: PaginatorSpec) -> None:
        self.spec = spec
        self._seen: set[str] = set()
        self.pages = 0

    @classmethod
    def validate_spec(cls, spec: PaginatorSpec) -> None:
        missing = [k for k in cls.needs if getattr(spec, k) is None]
        if missing:
            raise ValueError(f"the {cls.name} paginator needs '{missing[0]}'")

    def first(self, params: dict[str, Any], skip_pages: int = 0) -> dict[str, Any]:
        """The first request's params; ``skip_pages`` only page-number paginators can honour."""
        if self.spec.size_param and self.spec.size:
            params = {**params, self.spec.size_param: self.spec.size}
        return params

    def next(
        self, response: httpx.Response, body: Any, count: int, params: dict[str, Any]
    ) -> PageRequest | None:
        self.pages += 1
        if self._stopped(body):
            return None
        return self._next(response, body, count, params)

    @property
    def capped(self) -> bool:
        """True when the API's page cap was reached (the caller opens a new window)."""
        return bool(self.spec.max_pages and self.pages >= self.spec.max_pages)

    def _stopped(self, body: Any) -> bool:
        if self.spec.stop_path and dig(body, self.spec.stop_path) is True:
            return True
        if self.spec.has_more_path and dig(body, self.spec.has_more_path) is False:
            return True
        return False

    def _next(
        self, response: httpx.Response, body: Any, count: int, params: dict[str, Any]
    ) -> PageRequest | None:
        raise NotImplementedError

    def _once(self, token: str) -> None:
        if token in self._seen:
            raise FatalRemoteError(
                f"the API returned the same page ({token[:60]}) twice",
                "this would loop forever; report it to the helpdesk vendor, then re-run",
            )
        self._seen.add(token)


class CursorPaginator(Paginator):
    """``after_cursor``/``end_of_stream`` or ``page[after]``/``meta.has_more``."""

    name = "cursor"
    needs = ("cursor_param", "cursor_path")

    def _next(self, response, body, count, params):  # type: ignore[no-untyped-def]
        token = dig(body, self.spec.cursor_path)
        if not token:
            return None
        self._once(str(token))
        return PageRequest(None, {**params, self.spec.cursor_param: token})


class NextUrlPaginator(Paginator):
    """The body names the next page's full URL (``next_page``, ``links.next``)."""

    name = "next_url"
    needs = ("next_path",)

    def _next(self, response, body, count, params):  # type: ignore[no-untyped-def]
        url = dig(body, self.spec.next_path)
        if not url:
            return None
        self._once(str(url))
        return PageRequest(str(url), {})


class LinkHeaderPaginator(Paginator):
    """RFC 8288 ``Link: <…>; rel="next"`` (Freshdesk, GitHub-style APIs)."""

    name = "link_header"

    def _next(self, response, body, count, params):  # type: ignore[no-untyped-def]
        url = response.links.get("next", {}).get("url")
        if not url or self.capped:
            return None
        self._once(url)
        return PageRequest(url, {})


class OffsetPaginator(Paginator):
    name = "offset"
    needs = ("offset_param", "size")

    def _next(self, response, body, count, params):  # type: ignore[no-untyped-def]
        if count < (self.spec.size or 0):
            return None
        offset = int(params.get(self.spec.offset_param, 0)) + count
        self._once(str(offset))
        return PageRequest(None, {**params, self.spec.offset_param: offset})


class PageNumberPaginator(Paginator):
    name = "page_number"
    needs = ("page_param", "size")

    def first(self, params: dict[str, Any], skip_pages: int = 0) -> dict[str, Any]:
        return {**super().first(params), self.spec.page_param: 1 + skip_pages}

    def _next(self, response, body, count, params):  # type: ignore[no-untyped-def]
        if count < (self.spec.size or 0) or self.capped:
            return None
        page = int(params.get(self.spec.page_param, 1)) + 1
        self._once(str(page))
        return PageRequest(None, {**params, self.spec.page_param: page})


class SinglePage(Paginator):
    name = "single"

    def _next(self, response, body, count, params):  # type: ignore[no-untyped-def]
        return None


PAGINATORS: dict[str, type[Paginator]] = {
    p.name: p
    for p in (
        CursorPaginator,
        NextUrlPaginator,
        LinkHeaderPaginator,
        OffsetPaginator,
        PageNumberPaginator,
        SinglePage,
    )
}


def make_paginator(spec: PaginatorSpec | None) -> Paginator:
    from deskmove.rest.spec import PaginatorSpec

    spec = spec or PaginatorSpec(type="single")
    return PAGINATORS[spec.type](spec)
