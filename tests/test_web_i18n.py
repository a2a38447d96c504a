"""The workspace's languages: every message has a Czech, Polish and Russian translation,
the catalogues load from the .po files as shipped, and pages follow Accept-Language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deskmove.web import i18n

TEMPLATES = Path(i18n.__file__).parent / "templates"
LITERAL = re.compile(r"""\b_\((?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\)""")
PLURAL = re.compile(r'ngettext\("([^"]+)", "([^"]+)"')


def template_messages() -> set[str]:
    found = set()
    for path in TEMPLATES.glob("*.html"):
        for m in LITERAL.finditer(path.read_text(encoding="utf-8")):
            found.add((m.group(1) if m.group(1) is not None else m.group(2)).replace("\\'", "'"))
    for path in Path(i18n.__file__).parent.glob("*.py"):
        found |= {
            m.group(1)
            for m in re.finditer(r'\b_\("((?:[^"\\]|\\.)*)"\)', path.read_text(encoding="utf-8"))
        }
    return found


def test_templates_use_messages():
    assert len(template_messages()) > 80


@pytest.mark.parametrize("lang", ["cs", "pl", "ru"])
def test_every_message_is_translated(lang):
    from babel.messages.pofile import read_po

    with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "deskmove.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(template_messages() | set(i18n.DYNAMIC) - translated)
    missing = [m for m in missing if m not in translated]
    assert missing == []
    tr = i18n.translations(lang)
    assert tr.gettext("Tickets") != "Tickets"
    for one, many in set(i18n.PLURALS) | {
        m.groups()
        for p in TEMPLATES.glob("*.html")
        for m in PLURAL.finditer(p.read_text(encoding="utf-8"))
    }:
        forms = {tr.ngettext(one, many, n) % {"num": n} for n in (1, 2, 5)}
        assert len(forms) == 3, (one, forms)  # three plural forms in cs, pl and ru
    assert "{minutes}" in tr.gettext(
        "Too many failed logins. Wait {minutes} minutes and try again."
    )


def test_plural_forms_follow_the_language():
    cs, ru = i18n.translations("cs"), i18n.translations("ru")
    assert [
        cs.ngettext("%(num)d message", "%(num)d messages", n) % {"num": n} for n in (1, 3, 5)
    ] == ["1 zpráva", "3 zprávy", "5 zpráv"]
    assert [
        ru.ngettext("%(num)d message", "%(num)d messages", n) % {"num": n}
        for n in (1, 2, 5, 21, 11)
    ] == ["1 сообщение", "2 сообщения", "5 сообщений", "21 сообщение", "11 сообщений"]


@pytest.mark.parametrize(
    ("header", "preferred", "expected"),
    [
        ("cs-CZ,cs;q=0.9,en;q=0.8", None, "cs"),
        ("de-DE,pl;q=0.7,ru;q=0.5", None, "pl"),
        ("en;q=0.2,ru;q=0.9", None, "ru"),
        ("fr-FR", None, "en"),
        ("", None, "en"),
        ("cs", "ru", "ru"),
        ("garbage;;q=x,,", None, "en"),
    ],
    ids=[
        "czech",
        "skips-unknown",
        "by-quality",
        "unsupported",
        "none",
        "account-setting-wins",
        "garbage",
    ],
)
def test_language_negotiation(header, preferred, expected):
    assert i18n.negotiate(header, preferred) == expected
