"""The shared threading corpus (RFC 5256 / JWZ cases) run through deskmove's threading.

deskmove threads for a helpdesk, so subject fallback is stricter than a mail
client's: a mail joins by subject only when it has no threading headers, its
subject carries a reply/forward marker, it comes from the same customer, and
within a time window. Each case where that makes deskmove differ is listed in
DIFFERENCES with the reason, and the test checks deskmove's own expectation.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from deskmove.mail.ids import normalise_id, parse_ids
from deskmove.mail.threading import ThreadItem, thread

# case name -> (why deskmove differs, deskmove's expected threads as lists of caller ids).
# Empty today: the corpus gives no sender, so every message counts as one customer, and all
# its subject-fallback cases carry a reply marker within minutes. The stricter helpdesk rules
# (other customer, no marker, outside the window) are tested in tests/test_mail_threading.py.
DIFFERENCES: dict[str, tuple[str, list[list[str]]]] = {}


def _cases() -> list[Path]:
    import os

    root = os.environ.get("DESKMOVE_CORPORA")
    folder = Path(root) / "threading" / "conformance" if root else None
    return sorted(folder.glob("*.json")) if folder and folder.is_dir() else []


def _item(raw: dict) -> ThreadItem:
    mid = normalise_id(raw["message_id"]) if raw.get("message_id") else None
    irt = parse_ids(raw.get("in_reply_to") or "")
    refs = [r for ref in raw.get("references", []) for r in parse_ids(ref)]
    return ThreadItem(
        id=raw["id"],
        message_id=mid,
        in_reply_to=irt[0] if irt else None,
        references=refs,
        subject=raw["subject"],
        date=datetime.fromisoformat(raw["date"].replace("Z", "+00:00")),
    )


def _run(case: dict) -> list[dict]:
    opts = case.get("options", {})
    threads = thread(
        [_item(m) for m in case["input"]],
        subject_merge=opts.get("subject_merge", True),
        prune_phantoms=opts.get("prune_phantoms", True),
        prefixes=opts.get("subject_prefixes", ()),
    )
    return [{"root": t.root, "messages": [i.id for i in t.items]} for t in threads]


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_threading_case(path: Path, corpora) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    got = _run(case)
    if case["name"] in DIFFERENCES:
        _reason, ours = DIFFERENCES[case["name"]]
        assert [t["messages"] for t in got] == ours
        return
    assert got == case["expected"]["threads"]


def test_corpus_is_present(corpora) -> None:
    assert len(_cases()) >= 30, "the threading corpus looks incomplete"
