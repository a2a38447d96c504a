"""UI languages: gettext catalogues (locale/LANG/LC_MESSAGES/deskmove.po) read with Babel.

The .po files ship in the wheel and are compiled in memory on first use, so a
fresh clone needs no build step. The language is the account's setting, else
the best match of the browser's Accept-Language, else English.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "cs": "Čeština", "pl": "Polski", "ru": "Русский"}
DEFAULT = "en"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "deskmove.po"
    if lang == DEFAULT or not path.exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def negotiate(accept_language: str | None, preferred: str | None = None) -> str:
    """The account's language if set, else the best Accept-Language match, else English."""
    if preferred in LANGUAGES:
        return preferred  # type: ignore[return-value]
    wanted: list[tuple[float, str]] = []
    for i, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            wanted.append((-q, f"{i:03d}{tag.lower()}"))
    for _q, key in sorted(wanted):
        base = key[3:].split("-")[0]
        if base in LANGUAGES:
            return base
    return DEFAULT
