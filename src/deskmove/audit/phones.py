"""Phone numbers quoted in message bodies, parsed and normalised with ``phonenumbers``.

A candidate must look like a phone number as people write one: an international
prefix (``+420``, ``0048``), digit groups separated by spaces, dashes, dots or
brackets, or a plain run of digits right after a word such as "tel". A bare run of
digits elsewhere (an order or tracking number) is not taken, and a candidate must
be a valid number for its country.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers

# Digits with the separators people use; starts with + / 00 / ( / a digit.
_CANDIDATE = re.compile(
    r"(?<![\w+/.-])(?:\+|00)?\(?\d[\d \u00a0().\-/]{5,17}\d(?![\w/])", re.UNICODE
)
_DIGIT_RUN = re.compile(r"\d[\d \u00a0().\-/]{5,17}\d", re.UNICODE)
_KEYWORD = re.compile(
    r"(?:tel|phone|mobil|mob|gsm|fax|hotline|call|volejte|telefon|telefonu|zadzwoń|тел|"
    r"телефон|моб)[a-zа-я.]*\s*[:.]?\s*$",
    re.IGNORECASE,
)
# A candidate holds only \d digits and separators, so this leaves what isdigit() would.
_NON_DIGITS = re.compile(r"\D")
_DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")
_QUOTE_MARKERS = re.compile(
    r"^[ \t]*(?:>|On .+ wrote:|Dne .+ napsal|W dniu .+ napisał|[^\n]+ пишет:|-----Original Message-----|"
    r"-------- Původní zpráva|From: )",
    re.IGNORECASE | re.MULTILINE,
)

# Country-code top-level domains whose region code differs from the TLD.
_TLD_REGION = {"uk": "GB", "su": "RU"}


def region_for_domain(domain: str) -> str | None:
    """The phone region a country-code domain suggests (``shop.cz`` -> ``CZ``)."""
    tld = domain.rpartition(".")[2].lower()
    if len(tld) != 2:
        return None
    region = _TLD_REGION.get(tld, tld.upper())
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def infer_region(domains: Iterable[str]) -> str | None:
    """The most common country among the domains given, if any has one."""
    regions = Counter(r for r in map(region_for_domain, domains) if r)
    return regions.most_common(1)[0][0] if regions else None


def own_text(body: str) -> str:
    """The part of a message its author wrote: quoted replies and forwarded text cut off."""
    m = _QUOTE_MARKERS.search(body)
    return body[: m.start()] if m else body


def signature_lines(text: str) -> list[str]:
    """The lines of a message's signature that carry little but a number ("+420 …",
    "tel. …", "T: …"): after a ``-- `` line, else in the last paragraph when the message
    has more than one. A number said in a sentence ("I will call you at …") is not one."""
    cut = text.rfind("\n-- \n")
    if cut != -1:
        block = text[cut + 4 :]
    else:
        paragraphs = [p for p in _PARAGRAPHS.split(text.strip()) if p.strip()]
        if len(paragraphs) < 2:
            return []
        block = paragraphs[-1]
    return list(_number_lines(block))


_PARAGRAPHS = re.compile(r"\n\s*\n")
_WORD_CHARS = re.compile(r"[^\w]|\d")


@lru_cache(maxsize=4096)
def _number_lines(block: str) -> tuple[str, ...]:
    """The lines of a signature block with at most 12 letters (a team's signature repeats:
    each distinct block is looked at once)."""
    return tuple(line for line in block.splitlines() if len(_WORD_CHARS.sub("", line)) <= 12)


def candidates(text: str) -> list[str]:
    """Phone-like strings as written in ``text`` (not yet checked against numbering plans)."""
    found: list[str] = []
    # Every candidate holds a run that _DIGIT_RUN finds (a simpler pattern, found faster)
    # starting at most 2 characters ("+(") after the candidate: the search begins 3 before.
    first = _DIGIT_RUN.search(text)
    if first is None:
        return found
    shapes = _SHAPES
    for m in _CANDIDATE.finditer(text, max(0, first.start() - 3)):
        raw = m.group(0).strip()
        if raw in found:
            continue
        shape = shapes.get(raw)
        if shape is None:
            shape = _shape(raw)
        if shape is _YES or (
            shape is _KEYWORD_WANTED
            and _KEYWORD.search(text, max(0, m.start() - 24), m.start()) is not None
        ):
            found.append(raw)
    return found


# What a candidate's own characters say (see _plausible), remembered per distinct string
# up to a bound: a team's number is in every signature.
_YES, _NO, _KEYWORD_WANTED = "yes", "no", "keyword"
_SHAPES: dict[str, str] = {}
_SHAPES_LIMIT = 20000


def _shape(raw: str) -> str:
    if _DATE.match(raw):
        shape = _NO
    elif not 7 <= len(_NON_DIGITS.sub("", raw)) <= 15:
        shape = _NO
    elif raw.startswith(("+", "00")) or not _GROUPING.isdisjoint(raw):
        shape = _YES
    else:
        shape = _KEYWORD_WANTED
    if len(_SHAPES) >= _SHAPES_LIMIT:
        _SHAPES.clear()
    _SHAPES[raw] = shape
    return shape


def number_key(raw: str, regions: tuple[str | None, ...]) -> str:
    """A cheap grouping key: ``+`` and the digits when international, else region and digits."""
    digits = _NON_DIGITS.sub("", raw)
    if raw.startswith("+"):
        return "+" + digits
    if raw.startswith("00"):
        return "+" + digits[2:]
    return f"{regions[0] or ''}:{digits}"


def normalise(raw: str, regions: tuple[str | None, ...]) -> str | None:
    """The E.164 form of a candidate, if it is a valid number (tried in ``regions`` order)."""
    return _parse(raw, regions)


def find_numbers(text: str, regions: tuple[str | None, ...]) -> list[tuple[str, str]]:
    """(E.164 number, as written) for each valid phone number in ``text``."""
    found: list[tuple[str, str]] = []
    for raw in candidates(text):
        number = _parse(raw, regions)
        if number and all(n != number for n, _ in found):
            found.append((number, raw))
    return found


def national_digits(e164: str) -> str:
    """The national significant number of an E.164 number (``+420222333444`` -> ``222333444``)."""
    try:
        return phonenumbers.national_significant_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return e164.lstrip("+")


def _plausible(raw: str, before: str) -> bool:
    if _DATE.match(raw):
        return False
    digits = len(_NON_DIGITS.sub("", raw))
    if not 7 <= digits <= 15:
        return False
    if raw.startswith(("+", "00")):
        return True
    return not _GROUPING.isdisjoint(raw) or bool(_KEYWORD.search(before))


_GROUPING = frozenset(" \u00a0-().")  # the separators that make digits look like a phone number


@lru_cache(maxsize=65536)
def _parse(raw: str, regions: tuple[str | None, ...]) -> str | None:
    tries = (None,) if raw.startswith(("+", "00")) else regions
    text = "+" + raw[2:] if raw.startswith("00") else raw
    for region in tries:
        if region is None and not text.startswith("+"):
            continue
        try:
            num = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return None


def pretty(e164: str) -> str:
    """``+420601123456`` -> ``+420 601 123 456``."""
    try:
        num = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
