"""ISO-2022-JP as Japanese mailers write it, vendor extensions included.

Windows and many phones send ISO-2022-JP holding NEC special characters
(circled digits ①, ``№``, ``㈱``) and IBM extensions that the strict codecs
refuse. Mail clients read such mail through Shift_JIS (cp932), which has all
of them: each JIS X 0208 pair is moved to its Shift_JIS code and decoded as
cp932; whatever is still undecodable becomes U+FFFD instead of the whole text
falling back to raw escape codes.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(rb"\x1b(\$[@B]|\$\(D|\$\(Q|\$\(O|\([BJI]|\$A|\$\(C)")
_TWO_BYTE = {b"$@", b"$B", b"$(Q", b"$(O"}


def looks_iso2022jp(data: bytes) -> bool:
    return b"\x1b$" in data


def decode_iso2022jp(data: bytes) -> str:
    """Strict ``iso2022_jp_ext`` when it can, else the cp932 route with replacement."""
    for codec in ("iso2022_jp_ext", "iso2022_jp_2004"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    out: list[str] = []
    mode = b"(B"
    last = 0
    for m in _ESCAPE.finditer(data):
        out.append(_segment(data[last : m.start()], mode))
        mode, last = m.group(1), m.end()
    out.append(_segment(data[last:], mode))
    return "".join(out)


def _segment(chunk: bytes, mode: bytes) -> str:
    if not chunk:
        return ""
    if mode in _TWO_BYTE:
        return _jis_to_text(chunk)
    if mode == b"$(D":  # JIS X 0212 through EUC-JP's 0x8F prefix
        pairs = bytes(b | 0x80 for b in chunk)
        eucjp = b"".join(b"\x8f" + pairs[i : i + 2] for i in range(0, len(pairs) - 1, 2))
        return eucjp.decode("euc_jp", "replace")
    if mode == b"(I":  # half-width katakana
        return bytes(b | 0x80 if 0x21 <= b <= 0x5F else b for b in chunk).decode("cp932", "replace")
    return chunk.decode("ascii", "replace")


def _jis_to_text(chunk: bytes) -> str:
    """JIS X 0208 pairs through their Shift_JIS codes to cp932 text; bad pairs become U+FFFD."""
    text: list[str] = []
    out = bytearray()
    i, n = 0, len(chunk)
    while i < n:
        j1 = chunk[i]
        if j1 in (0x0A, 0x0D) or i + 1 >= n:  # a line break ends a line in any mode
            out.append(j1 if j1 < 0x80 else 0x3F)
            i += 1
            continue
        j2 = chunk[i + 1]
        if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
            text += [out.decode("cp932", "replace"), "\ufffd"]
            out.clear()
            i += 2
            continue
        s1 = (j1 + 1) // 2 + (0x70 if j1 < 0x5F else 0xB0)
        s2 = j2 + (0x1F + (j2 >= 0x60) if j1 % 2 else 0x7E)
        out += bytes((s1, s2))
        i += 2
    text.append(out.decode("cp932", "replace"))
    return "".join(text)
