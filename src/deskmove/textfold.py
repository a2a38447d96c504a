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


def _spell(ch: str) -> str:
    """One character as :func:`normalise` folds it: case-folded, decomposed (NFKD), marks
    dropped, the letters in ``_FOLD`` spelled out, and anything not a word character a space."""
    out = []
    for d in unicodedata.normalize("NFKD", ch.casefold()):
        if unicodedata.combining(d):
            continue
        d = _FOLD.get(ord(d), d)
        out.append("".join(c if _WORD.fullmatch(c) else " " for c in d))
    return "".join(out)


class _Folded(dict):
    """A translate table from a code point to what it folds to (see ``_spell``), filled in
    as characters are first met: folding a text is then one pass at C speed. Decomposing
    and dropping marks character by character gives what the whole text would give: NFKD
    decomposes each character on its own, and the reordering it does then moves only
    marks, which are all dropped."""

    def __missing__(self, code: int) -> str:
        value = self[code] = _spell(chr(code))
        return value


_TEXT = _Folded()
_ASCII = {c: (chr(c).lower() if _WORD.fullmatch(chr(c)) else " ") for c in range(128)}


_TOKENS: dict[str, str] = {}  # a word as written (non-ASCII) -> folded, see normalise
_TOKEN_CACHE = 50_000  # words kept (a few MB); when full it starts again, so it follows the input
_TOKEN_CHARS = 40  # longer ones (links, codes) are folded, not kept


def _fold_token(token: str) -> str:
    plain = token.translate(_ASCII if token.isascii() else _TEXT)
    folded = " ".join(plain.split()).replace("_", " ")
    if len(token) <= _TOKEN_CHARS:
        if len(_TOKENS) >= _TOKEN_CACHE:
            _TOKENS.clear()  # order numbers and names met once do not fill it for good
        _TOKENS[token] = folded
    return folded


def normalise(text: str) -> str:
    """Lower case, no diacritics, words separated by single spaces."""
    if text.isascii():
        return " ".join(text.translate(_ASCII).split()).replace("_", " ")
    # translate is at C speed only up to a text's first non-ASCII character, so a text
    # with any is folded word by word (between white space), each word once: every
    # character folds on its own and white space folds to a space, so the words' folds
    # joined by spaces are the text's fold.
    # The words are looked up at C speed (map); only those not in the cache are folded here.
    get = _TOKENS.get
    tokens = text.split()
    words = list(map(get, tokens))
    if None in words:
        for i, folded in enumerate(words):
            if folded is None:
                token = tokens[i]
                folded = get(token)
                words[i] = _fold_token(token) if folded is None else folded
    return " ".join(filter(None, words))  # a word of marks or signs alone folds to nothing


def _normalise_by_definition(text: str) -> str:
    """What :func:`normalise` computes, spelled out (the tests hold the two equal)."""
    plain = "".join(
        _FOLD.get(ord(c), c)
        for c in unicodedata.normalize("NFKD", text.casefold())
        if not unicodedata.combining(c)
    )
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
