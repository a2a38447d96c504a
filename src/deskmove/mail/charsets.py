"""Bytes to text for mail: labelled charsets first, then what the bytes say.

Mail in Central and Eastern Europe is often mislabelled: windows-1250 sent as
iso-8859-1 or us-ascii, koi8-r as windows-1251, unlabelled 8-bit headers. The
rule: use the label when the bytes decode cleanly *and* the result is plausible
text; otherwise ask charset-normalizer; never fail (the last resort decodes
with replacement characters and says so).
"""

from __future__ import annotations

import binascii
import codecs
import quopri
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from deskmove.mail.guess import guess_raw_header, guess_russian, plausible
from deskmove.mail.jis import decode_iso2022jp, looks_iso2022jp

# Labels senders write that Python does not know, or knows under another name.
ALIASES = {
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "x-user-defined": "",
    "iso-8859-8-i": "iso-8859-8",
    "cp-850": "cp850",
    "win-1250": "windows-1250",
    "win-1251": "windows-1251",
    "x-cp1250": "windows-1250",
    "x-cp1251": "windows-1251",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-2022-jp": "iso2022_jp_ext",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "big5": "big5hkscs",
    "utf8": "utf-8",
    "ansi_x3.4-1968": "us-ascii",
    "ascii": "us-ascii",
    "unicode-1-1-utf-7": "utf-7",
    "unicode-2-0-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "latin-2": "iso-8859-2",
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "us-ascii": "us-ascii",
    "_iso-2022-jp$esc": "iso2022_jp_ext",
}
# Labels whose bytes are often something else: worth a plausibility check.
SUSPECT = {
    codecs.lookup(n).name
    for n in (
        "us-ascii",
        "cp1252",
        "latin-1",
        "iso-8859-2",
        "cp1250",
        "cp1251",
        "koi8-r",
        "iso-8859-5",
        "iso-8859-15",
    )
}
# Characters that show a wrong single-byte guess (C1 controls, box drawing, odd symbols).


def normalise_label(label: str | None) -> str | None:
    """A Python codec name for a mail charset label, or None when unknown/absent."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = ALIASES.get(name, name)
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # unknown, or garbage such as a NUL in the label
        return None


_HINTS: ContextVar[tuple[str, ...]] = ContextVar("declared_charsets", default=())


@contextmanager
def declared_charsets(labels: list[str]) -> Iterator[None]:
    """While parsing one message: its parts' charsets, the first hint for raw 8-bit headers."""
    codecs_: dict[str, None] = {}
    for label in labels:
        codec = normalise_label(label)
        if codec and codec not in ("ascii", "utf-8"):
            codecs_.setdefault(codec)
    token = _HINTS.set(tuple(codecs_))
    try:
        yield
    finally:
        _HINTS.reset(token)


def decode_raw_header(data: bytes) -> str:
    """Raw 8-bit header bytes: UTF-8, else the message's declared charsets, else a guess."""
    if looks_iso2022jp(data):
        return decode_iso2022jp(data)
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = guess_raw_header(data, _HINTS.get())
    if codec is not None:
        return data.decode(codec, "replace")
    return decode_bytes(data, None)[0]


def detect(data: bytes) -> str | None:
    """charset-normalizer's best guess, or None."""
    from charset_normalizer import from_bytes

    try:
        best = from_bytes(data[:65536]).best()
    except Exception:  # noqa: BLE001 - a detector bug must not lose a message
        return None
    return best.encoding if best is not None else None


def decode_bytes(data: bytes, label: str | None = None) -> tuple[str, str | None]:
    """Decode mail bytes; return (text, note) where note says what was guessed, if anything."""
    if not data:
        return "", None
    codec = normalise_label(label)
    if codec in _JIS or codec is None and looks_iso2022jp(data):
        return decode_iso2022jp(data), None
    if data.isascii() and codec not in _STATEFUL:
        return data.decode("ascii"), None
    if codec is not None:
        try:
            text: str | None = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            text = None
        if text is not None and (codec not in SUSPECT or plausible(text)):
            if codec in _WESTERN and _central_european(text, data):
                return data.decode("cp1250"), f"declared {label}, was windows-1250"
            return text, None
    try:
        return data.decode("utf-8"), (f"declared {label}, was utf-8" if label else None)
    except UnicodeDecodeError:
        pass
    guess = _guess_single_byte(data, codec)
    if guess:
        return data.decode(guess, "replace"), f"declared {label or 'nothing'}, was {guess}"
    guess = detect(data)
    if guess:
        try:
            return data.decode(guess), f"declared {label or 'nothing'}, detected {guess}"
        except (UnicodeDecodeError, LookupError):
            pass
    return data.decode(codec or "windows-1252", errors="replace"), (
        f"declared {label or 'nothing'}, undecodable bytes replaced"
    )


_STATEFUL = {
    codecs.lookup(n).name for n in ("utf-7", "iso2022_jp", "iso2022_jp_ext", "utf-16", "hz")
}
_JIS = {
    codecs.lookup(n).name
    for n in (
        "iso2022_jp",
        "iso2022_jp_ext",
        "iso2022_jp_2004",
        "iso2022_jp_1",
        "iso2022_jp_2",
        "iso2022_jp_3",
    )
}
_WESTERN = {codecs.lookup(n).name for n in ("cp1252", "latin-1", "iso-8859-15", "us-ascii")}
# cp1250 letters that, read as cp1252, look Western (ě->ì, č->è, ř->ø, ů->ù, ą->¹, ł->³, …)
_CE_STRONG = set("ěčřůňťďąęłśźżĺľŕĚČŘŮŇŤĎĄĘŁŚŹŻĹĽŔ")
# what a Central European text shows identically in both (š, ž, ý) or only as nonsense in cp1252
_CE_EVIDENCE = set("šžýŠŽÝ¹³œŸ¾¥")
_LATIN2 = ("cp1250", "iso8859-2")


def _central_european(text: str, data: bytes) -> bool:
    """True when Western-labelled text is really windows-1250 (Czech, Polish, Slovak)."""
    if not any(c in _CE_EVIDENCE for c in text):
        return False
    try:
        alt = data.decode("cp1250")
    except UnicodeDecodeError:
        return False
    return any(c in _CE_STRONG for c in alt) and plausible(alt)


def _guess_single_byte(data: bytes, declared: str | None) -> str | None:
    """Cyrillic when the bytes read as Russian; Western when nothing says Central European; else Latin-2."""
    russian = guess_russian(data)
    if russian:
        return russian
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and plausible(western) and not _central_european(western, data):
        return "cp1252"
    order = _LATIN2[::-1] if declared == "cp1250" else _LATIN2
    for codec in order:
        try:
            if plausible(data.decode(codec)):
                return codec
        except UnicodeDecodeError:
            continue
    return None


# Encoded text may hold spaces (``=?UTF-8?Q? Personal=C3=A4nderung?=``): mailers write them.
_ENCODED_WORD = re.compile(rb"=\?([^?\s]{1,80})\?([bBqQ])\?([^?]*)\?=")
_GAP = re.compile(rb"^\s*$")


def decode_header_value(value: str | bytes | None) -> str:
    """An RFC 2047 header (possibly with raw 8-bit bytes, or broken words) to text; never raises.

    Adjacent encoded words in one charset are joined before decoding, so a
    multibyte character split across two words comes out whole.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        if "=?" not in value and value.isascii() and "\x1b" not in value:
            return _unfold(value)
        raw = value.encode("utf-8", "surrogateescape")
    else:
        raw = value
    out: list[str] = []
    run: list[bytes] = []  # decoded bytes of adjacent words in run_label
    run_label = ""
    last, prev_word = 0, False
    for m in _ENCODED_WORD.finditer(raw):
        gap = raw[last : m.start()]
        label = m.group(1).decode("ascii", "replace").split("*")[0].lower()  # RFC 2231 language
        joined = prev_word and _GAP.match(gap) is not None  # space between two words is dropped
        if run and not (joined and label == run_label):
            out.append(_decode_run(run, run_label))
            run = []
        if gap and not joined:
            out.append(decode_raw_header(gap))
        data = _word_bytes(m.group(2), m.group(3))
        if data is None:
            if run:
                out.append(_decode_run(run, run_label))
                run = []
            out.append(m.group(0).decode("ascii", "replace"))
        else:
            run.append(data)
            run_label = label
        last, prev_word = m.end(), True
    if run:
        out.append(_decode_run(run, run_label))
    if last < len(raw):
        out.append(decode_raw_header(raw[last:]))
    return _unfold("".join(out))


def _decode_run(run: list[bytes], label: str) -> str:
    return decode_bytes(b"".join(run), label)[0]


def _word_bytes(encoding: bytes, text: bytes) -> bytes | None:
    try:
        if encoding in b"bB":
            clean = text.translate(None, b" \t\r\n")
            return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
        return quopri.decodestring(text.replace(b"_", b" "), header=True)
    except (binascii.Error, ValueError):
        return None


def _unfold(text: str) -> str:
    """RFC 5322 unfolding (line breaks go, the white space stays); tabs become spaces."""
    if "\n" in text or "\t" in text:
        text = text.replace("\r", "").replace("\n", "").replace("\t", " ")
    return text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogates(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None
