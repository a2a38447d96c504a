"""The charset of raw 8-bit header bytes (no RFC 2047), which no label describes.

Order, as mail clients decide it:

1. UTF-8, when the bytes are valid UTF-8;
2. the charsets the message itself declares for its parts, when the bytes
   decode cleanly in one and the text is plausible in it;
3. Russian (windows-1251 or KOI8-R) only when the text reads as Russian;
4. Chinese (GB18030/GBK/GB2312, Big5), Japanese (Shift_JIS, EUC-JP) and
   Korean (EUC-KR) when the bytes pair up into the characters of that script;
5. otherwise the single-byte European guess in :mod:`deskmove.mail.charsets`.

Headers are short, so the checks look at character classes and byte ranges,
not at language models that need paragraphs.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable

_CYRILLIC_CODECS = {codecs.lookup(n).name for n in ("cp1251", "koi8-r", "koi8-u", "iso-8859-5")}
_MULTIBYTE = {
    codecs.lookup(n).name
    for n in (
        "gb18030",
        "gbk",
        "gb2312",
        "big5",
        "big5hkscs",
        "cp950",
        "cp932",
        "shift_jis",
        "euc_jp",
        "euc_jis_2004",
        "cp949",
        "euc_kr",
        "iso2022_jp",
        "iso2022_jp_ext",
    )
}
_RUSSIAN_VOWELS = set("аеёиоуыэюяАЕЁИОУЫЭЮЯ")
_CYRILLIC_WORD = re.compile("[\u0400-\u04ff]{2,}")
_WORD = re.compile(r"\w+")
_MIXED_WORD = re.compile(r"(?=\w*[A-Za-z])(?=\w*[\u0400-\u04ff])\w+")
_KANA = re.compile("[\u3041-\u30ff]")
_HANGUL = re.compile("[\uac00-\ud7a3]")
# What CJK header text is made of: ideographs, kana, Hangul, CJK punctuation, full-width forms.
_CJK_TEXT = re.compile("[\u3000-\u303f\u3041-\u30ff\u4e00-\u9fff\uac00-\ud7a3\uff01-\uff5e]")
_IMPLAUSIBLE = re.compile("[\x80-\x9f\u2500-\u25ff\ufffd¦±µ¶¬¤˘˛˝]")
_CYRILLIC_UPPER = re.compile(
    "[" + "".join(chr(c) for c in range(0x400, 0x500) if chr(c).isupper()) + "]"
)
_SANDWICH = re.compile("[A-Za-z][^\x00-\x7f][A-Za-z]")  # "Obj醰ka": European text read as CJK


def plausible(text: str) -> bool:
    """No characters that only a wrong single-byte guess produces."""
    if not text:
        return True
    bad = len(_IMPLAUSIBLE.findall(text))
    if bad > max(1, len(text) // 200):
        return False
    return not _looks_like_swapped_cyrillic(text)


def _looks_like_swapped_cyrillic(text: str) -> bool:
    """koi8-r read as windows-1251 (or back) gives Cyrillic with mostly upper/lower case swapped."""
    letters = _cyrillic_count(text)
    if letters < 12:
        return False
    upper = len(_CYRILLIC_UPPER.findall(text))
    if upper < 8:  # then no 12 letters or more can be over 60 % upper case
        return False
    return upper / letters > 0.6


def _cyrillic_count(text: str) -> int:
    """How many characters of ``text`` are in the Cyrillic block (U+0400 to U+04FF).

    In UTF-8 exactly those begin with a byte 0xD0 to 0xD3 (a continuation byte is
    0x80 to 0xBF), so four byte counts give it at C speed; matching the block with a
    regex made a string of every letter of a Russian text."""
    if text.isascii():
        return 0
    data = text.encode("utf-8", "surrogatepass")
    return data.count(b"\xd0") + data.count(b"\xd1") + data.count(b"\xd2") + data.count(b"\xd3")


def is_multibyte(codec: str) -> bool:
    return codec in _MULTIBYTE


def plausible_russian(text: str) -> bool:
    """Cyrillic letters cased and voweled like Russian words, not a decoding accident."""
    letters = [c for c in text if c.isalpha() and not c.isascii()]
    if not letters:
        return False
    cyrillic = [c for c in letters if "\u0400" <= c <= "\u04ff"]
    if len(cyrillic) < 0.9 * len(letters):
        return False
    others = sum(1 for c in text if not c.isascii() and not c.isalpha() and c not in "«»—–№…“”„")
    if others > max(1, len(cyrillic) // 20):
        return False
    vowels = sum(1 for c in cyrillic if c in _RUSSIAN_VOWELS) / len(cyrillic)
    if not 0.25 <= vowels <= 0.65:
        return False
    ascii_letters = sum(1 for c in text if c.isascii() and c.isalpha())
    if len(cyrillic) < 0.4 * (len(cyrillic) + ascii_letters):
        return False
    if any(_MIXED_WORD.fullmatch(w) for w in _WORD.findall(text)):
        return False  # "Dobrэ", "objednбvka": a Latin word with one letter read as Cyrillic
    words = _CYRILLIC_WORD.findall(text)
    odd = sum(1 for w in words if not (w.islower() or w.isupper() or w.istitle()))
    return odd <= len(words) // 10  # KOI8-R read as windows-1251 gives "зАКАЗ"


def _lower_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if c.islower()) / len(letters) if letters else 0.0


def guess_russian(data: bytes) -> str | None:
    """windows-1251 or KOI8-R when the bytes read as Russian in one (the more lower-case one)."""
    found = []
    for codec in ("cp1251", "koi8-r"):
        text = data.decode(codec, "replace")
        if plausible_russian(text):
            found.append((_lower_share(text), codec == "cp1251", codec))
    return max(found)[2] if found else None


def plausible_cjk(text: str, codec: str) -> bool:
    """Every non-ASCII character is CJK text, and none sits alone inside a Latin word."""
    wide = [c for c in text if not c.isascii()]
    if not wide or _SANDWICH.search(text):
        return False
    cjk = sum(1 for c in wide if _CJK_TEXT.match(c))
    if cjk < len(wide):
        return False
    if codec in ("cp949", "euc_kr"):
        return len(_HANGUL.findall(text)) >= 0.9 * len(wide)
    return True


def guess_cjk(data: bytes) -> str | None:
    """The East Asian charset these bytes are in, when they read as one."""
    japanese = korean = None
    chinese: list[tuple[float, str]] = []
    for codec in ("cp932", "euc_jp", "cp949", "gb18030", "big5hkscs"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if not plausible_cjk(text, codec):
            continue
        if codec in ("cp932", "euc_jp"):
            if _KANA.search(text) and japanese is None:
                japanese = codec  # Japanese writes kana; Chinese never does
        elif codec == "cp949":
            korean = codec
        else:
            chinese.append((_common_ratio(text, codec), codec))
    if japanese:
        return japanese
    if korean:
        return korean
    if chinese:
        score, codec = max(chinese, key=lambda sc: (sc[0], sc[1] == "gb18030"))
        return codec if score >= 0.5 else None
    return None


def _common_ratio(text: str, codec: str) -> float:
    """Share of ideographs among the most common ones of the charset's script.

    GB2312 level 1 (lead bytes B0-D7) holds the 3,755 most used simplified
    characters; Big5 level 1 (lead bytes A4-C6) the 5,401 most used traditional
    ones. Text decoded with the wrong one of the two falls mostly outside.
    """
    han = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    if not han:
        return 0.0
    lo, hi, table = (0xB0, 0xD7, "gb2312") if codec == "gb18030" else (0xA4, 0xC6, "big5")
    hits = 0
    for c in han:
        try:
            lead = c.encode(table)[0]
        except UnicodeEncodeError:
            continue
        hits += lo <= lead <= hi
    return hits / len(han)


def guess_raw_header(data: bytes, hints: Iterable[str]) -> str | None:
    """A codec for raw 8-bit header bytes using the message's declared charsets first, or None."""
    for codec in hints:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        if codec in _MULTIBYTE:
            if plausible_cjk(text, codec) or codec.startswith("iso2022"):
                return codec
        elif codec in _CYRILLIC_CODECS:
            if plausible_russian(text):
                return codec
        elif _plausible_latin(text):
            return codec
    return guess_russian(data) or guess_cjk(data)


def _plausible_latin(text: str) -> bool:
    wide = [c for c in text if not c.isascii()]
    return (
        bool(wide) and all(c.isalpha() or c in "–—„“”‚‘’«»€°§ " for c in wide) and plausible(text)
    )
