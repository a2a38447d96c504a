"""Search text folding: the one-pass table gives what the rule says, on any text."""

from __future__ import annotations

import random

from deskmove.textfold import _normalise_by_definition, normalise


def test_known_words_fold():
    assert normalise("Žluťoučký kůň") == "zlutoucky kun"
    assert normalise("ŁÓDŹ, Kraków!") == "lodz krakow"
    assert normalise("Straße ﬁle ½ Æsir") == "strasse file 1 2 aesir"
    assert (
        normalise("Здравствуйте! Заказ № 5") == "здравствуите заказ No 5"
    )  # NFKD after case folding, as always
    assert normalise("a__b _x_ , ") == "a  b  x "
    assert normalise("") == ""
    assert normalise("  \t\n ") == ""


def test_table_matches_the_definition_on_any_text():
    rng = random.Random(16)
    ranges = [(0, 0x80), (0x80, 0x250), (0x250, 0x3000), (0x300, 0x370), (0, 0x110000)]
    samples = [
        "ǅ Σς ΐ İı ﬀ Ⅻ ① ² \u0301a\u0301 x\x1fy\x1c z 한국어 日本語 a\u200bb \u00a0",
        "Dobrý den, objednávka č. 12 — «£1,250.50» _ok_",
    ]
    for _ in range(5000):
        lo, hi = rng.choice(ranges)
        samples.append("".join(chr(rng.randrange(lo, hi)) for _ in range(rng.randrange(40))))
    for _twice in range(2):  # the second time, many words come from the cache
        for text in samples:
            assert normalise(text) == _normalise_by_definition(text), repr(text)


def test_the_word_cache_stays_bounded(monkeypatch) -> None:  # noqa: ANN001
    from deskmove import textfold

    monkeypatch.setattr(textfold, "_TOKENS", {})
    monkeypatch.setattr(textfold, "_TOKEN_CACHE", 100)
    words = [f"čísla{i}" for i in range(500)] + ["ž" * 41]
    text = " ".join(words)
    assert normalise(text) == _normalise_by_definition(text)
    assert len(textfold._TOKENS) == 100  # noqa: SLF001
    assert "ž" * 41 not in textfold._TOKENS  # noqa: SLF001
    assert normalise(text) == _normalise_by_definition(text)  # past the bound, still folded


def test_a_text_of_known_and_new_words(monkeypatch) -> None:  # noqa: ANN001
    """Words from the cache and words folded for the first time, in one text, in order."""
    from deskmove import textfold

    monkeypatch.setattr(textfold, "_TOKENS", {})
    normalise("Žluťoučký kůň — ÚPĚL")
    text = "kůň nový Žluťoučký — ďábelské ÚPĚL nový ódy ---"
    assert (
        normalise(text)
        == _normalise_by_definition(text)
        == ("kun novy zlutoucky dabelske upel novy ody")
    )
    assert textfold._TOKENS["nový"] == "novy"  # noqa: SLF001
