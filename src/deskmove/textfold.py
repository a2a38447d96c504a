"""Text folded for full-text search: lower case, no diacritics, single spaces between words.

One rule for every place that folds text: the search index the store keeps
(:mod:`deskmove.store.search`), the mail-parsing worker processes that fold a
message's text before the importing process writes it, and the words of a
search query. So ``zlutoucky`` finds ``Žluťoučký``, ``lodz`` finds ``Łódź``.
"""

from __future__ import annotations

import re
import unicodedata

MESSAGE_CHARS = 20_000  # of one message's text go into the index

# Letters Unicode does not decompose into a base letter plus a mark.
_FOLD = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŀ": "l",
    }
)
_WORD = re.compile(r"\w+")


class _Plain(dict):
    """A translate table: the letters in ``_FOLD`` spelled out, combining marks dropped
    (looked up once per code point; an import normalises every message it writes)."""

    def __missing__(self, code: int) -> int | None:
        value = None if unicodedata.combining(chr(code)) else code
        self[code] = value
        return value


_PLAIN = _Plain(_FOLD)


def normalise(text: str) -> str:
    """Lower case, no diacritics, words separated by single spaces."""
    if text.isascii():  # no marks to drop, nothing to decompose
        plain = text.lower()
    else:
        plain = unicodedata.normalize("NFKD", text.casefold()).translate(_PLAIN)
    return " ".join(_WORD.findall(plain)).replace("_", " ")


def message_text(body_text: str | None, body_html: str | None) -> str:
    """The part of a message's text the index keeps: the plain text (else the HTML's), cut."""
    text = body_text
    if not text and body_html:
        from deskmove.mail.html import to_text

        text = to_text(body_html)
    return text[:MESSAGE_CHARS] if text else ""


def fold_message(
    subject: str | None, body_text: str | None, body_html: str | None
) -> tuple[str, str]:
    """A message's subject and text as the index takes them (what a worker process computes)."""
    return (normalise(subject) if subject else "", normalise(message_text(body_text, body_html)))
