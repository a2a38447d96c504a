"""The scan decides each rule once per distinct key and searches bodies from the first run of
digits: neither may change what the audit finds."""

from __future__ import annotations

import random

from deskmove.audit import phones, render, run_audit, scan
from deskmove.store import audit as store_audit
from tests.test_audit_data import at, fill

NOW = at(12, 12)


def test_forgetting_every_decision_at_once_changes_nothing(project, any_store, monkeypatch):
    fill(any_store)
    expected = render(run_audit(project, any_store, now=NOW), "json")
    monkeypatch.setattr(scan._Memo, "LIMIT", 1)
    monkeypatch.setattr(store_audit._Decoded, "LIMIT", 1)
    monkeypatch.setattr(phones, "_SHAPES_LIMIT", 1)
    phones._SHAPES.clear()
    assert render(run_audit(project, any_store, now=NOW), "json") == expected


def plain_candidates(text: str) -> list[str]:
    """What candidates() gave before it skipped to the first run of digits."""
    found: list[str] = []
    for m in phones._CANDIDATE.finditer(text):
        raw = m.group(0).strip()
        if raw not in found and phones._plausible(raw, text[max(0, m.start() - 24) : m.start()]):
            found.append(raw)
    return found


TEXTS = [
    "",
    "no digits at all",
    "00(420) 602 123 456",
    "(602) 123-456 and +48 22 123 45 11",
    "+(420) 602 123 456",
    "x00420602123456 a/602 123 456 -602 123 456 .602.123.456 +420 222 333 444",
    "tel.\n602123456",
    "objednávka č. 12345 · 2024-03-01 · Tel.: 602 123 456",
    "٦٠٢ ١٢٣ ٤٥٦ 0048 22 123 45 11",
    "1234567890123456789012345 602 123 456",
]


def test_candidates_are_those_of_the_plain_search():
    rng = random.Random(5)
    alphabet = "0123456789 +-()./\u00a0\nabcTel:0"
    texts = TEXTS + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(60))) for _ in range(3000)
    ]
    for text in texts:
        assert phones.candidates(text) == plain_candidates(text), text
