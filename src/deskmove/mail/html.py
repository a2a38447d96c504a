"""HTML mail bodies: sanitised HTML (nh3) for display and plain text for search and export."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import nh3

# Inline images keep working: cid: references are rewritten by whoever renders them.
# data: is allowed by the scheme list only so that embedded images survive;
# _keep_attribute drops it everywhere else (a data:text/html link runs script).
_URL_SCHEMES = {"http", "https", "mailto", "cid", "tel", "data"}
_DATA_IMAGES = (
    "data:image/png",
    "data:image/jpeg",
    "data:image/jpg",
    "data:image/gif",
    "data:image/webp",
    "data:image/bmp",
)
_TEXT_ATTRIBUTES = {"alt", "title"}
_URL_NOISE = re.compile(r"[\x00-\x20]+")  # browsers ignore these inside a URL: "da\tta:"
_BLOCK = {
    "p",
    "div",
    "br",
    "tr",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "blockquote",
    "pre",
    "hr",
    "ul",
    "ol",
    "dd",
    "dt",
    "section",
    "article",
    "header",
    "footer",
}
_SKIP = {"script", "style", "head", "title", "noscript", "template"}


def sanitise(html: str) -> str:
    """HTML safe to show in a browser: no scripts, handlers, forms or remote frames."""
    options = {"url_schemes": _URL_SCHEMES, "attribute_filter": _keep_attribute}
    try:
        return nh3.clean(html, link_rel="noopener noreferrer", **options)
    except Exception:  # noqa: BLE001 - nh3 refuses some inputs (e.g. NUL); keep the text
        return nh3.clean(html.replace("\x00", ""), **options)


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    """Drop data: URLs except raster images in <img src>."""
    if attribute in _TEXT_ATTRIBUTES or ":" not in value[:64]:
        return value
    url = _URL_NOISE.sub("", value[:64]).lower()
    if not url.startswith("data:"):
        return value
    if element == "img" and attribute == "src" and url.startswith(_DATA_IMAGES):
        return value
    return None


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.out.append("\n")
        elif tag == "td":
            self.out.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"[ \t\r\n\f]+", " ", data))


def to_text(html: str) -> str:
    """Readable plain text from HTML: block elements become line breaks."""
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - fall back to stripping tags
        return unescape(re.sub(r"<[^>]*>", " ", html)).strip()
    text = "".join(parser.out)
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
