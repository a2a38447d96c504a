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


# Messages that reach ``_()`` through a variable (statuses, notices, error titles …);
# tests/test_web_i18n.py checks that each catalogue translates these and every
# literal gettext call in the templates.
DYNAMIC = (
    "unsolved",
    "new",
    "open",
    "pending",
    "hold",
    "solved",
    "closed",
    "all",
    "low",
    "normal",
    "high",
    "urgent",
    "email",
    "web",
    "phone",
    "chat",
    "social",
    "forum",
    "review",
    "api",
    "other",
    "recently updated",
    "least recently updated",
    "newest",
    "oldest",
    "highest number",
    "lowest number",
    "Saved.",
    "The ticket is yours.",
    "Note added.",
    "Reply sent.",
    "Your reply is held: read what arrived meanwhile, then send or discard it.",
    "The reply could not be sent; it is kept as a draft below.",
    "This reply was already submitted; it was not sent again.",
    "Draft discarded.",
    "held until you confirm",
    "sending failed",
    "sending was interrupted: check your sent mail before sending again",
    "This page is for admins.",
    "Not found.",
    "Refused.",
    "The request was refused.",
    "The form is not right.",
    "The store is busy; try again in a moment.",
    "Something went wrong.",
    "The form's security token is missing or stale: reload the page and try again.",
    "The form's security token is missing or stale: try again.",
    "Too many failed logins. Wait {minutes} minutes and try again.",
    "Wrong e-mail or password.",
    "Only the agent who wrote this reply can send it.",
    "Only the agent who wrote this reply can discard it.",
    "There is no such draft.",
    "This message has no HTML body.",
    "The original mail of this message is not in the store.",
    "This attachment is not in the store.",
    "The current password is wrong.",
)
PLURALS = (
    ("%(num)d message", "%(num)d messages"),
    ("%(num)d remote image blocked", "%(num)d remote images blocked"),
)
