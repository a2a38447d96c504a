"""The NUL rule's record walk: every field of every kind, the quick check and the slow one."""

from __future__ import annotations

import copy
import random
from collections import Counter
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from deskmove.records import (
    AttachmentRec,
    Batch,
    MessageRec,
    PersonRef,
    QuarantineRec,
    TicketRec,
)
from deskmove.textclean import _clean, strip_nul


def by_definition(batch: Batch) -> Counter[str]:
    """What strip_nul must do, spelled out: every field of every record, one by one."""
    found: Counter[str] = Counter()

    def walk(rec: Any, kind: str) -> None:
        for f in fields(rec):
            if f.name in ("messages", "attachments"):
                continue
            value = getattr(rec, f.name)
            if isinstance(value, PersonRef):
                walk(value, kind)
                continue
            cleaned, changed = _clean(value)
            if changed:
                setattr(rec, f.name, cleaned)
                found[f"{kind}.{f.name}"] += 1

    for t in batch.tickets:
        walk(t, "ticket")
        for m in t.messages:
            walk(m, "message")
            for a in m.attachments:
                walk(a, "attachment")
    for q in batch.quarantined:
        walk(q, "quarantine")
    return found


def dirty(rng: random.Random, text: str) -> str:
    if rng.random() < 0.15:
        i = rng.randrange(len(text) + 1)
        return text[:i] + "\x00" + text[i:]
    return text


def a_batch(rng: random.Random) -> Batch:
    batch = Batch()
    when = datetime(2024, 3, 4, 10, tzinfo=UTC)
    for n in range(60):
        ref = PersonRef(email=dirty(rng, f"p{n}@example.cz"), name=dirty(rng, "Jana Nováková"))
        msg = MessageRec(
            native_id=f"m{n}",
            created_at=when,
            author=ref if rng.random() < 0.8 else None,
            subject=dirty(rng, "Re: objednávka") if rng.random() < 0.9 else None,
            body_text=dirty(rng, "Dobrý den,\nzásilka nedorazila."),
            to=[dirty(rng, "support@shop.example")] if rng.random() < 0.7 else [],
            references=[dirty(rng, "<a@x>"), "<b@x>"] if rng.random() < 0.5 else [],
            headers={dirty(rng, "X-Key"): dirty(rng, "hodnota")} if rng.random() < 0.5 else {},
            folded=(dirty(rng, "re objednavka"), "dobry den") if rng.random() < 0.5 else None,
            attachments=[
                AttachmentRec(sha256="0" * 64, size=5, filename=dirty(rng, "faktura.pdf"))
            ],
        )
        odd = rng.random()
        if odd < 0.05:
            msg.subject = 42  # type: ignore[assignment] - a source's mistake: not text at all
        elif odd < 0.1:
            msg.is_auto = dirty(rng, "yes")  # type: ignore[assignment] - text in a flag
        elif odd < 0.15:
            msg.to = ["a@x", 7]  # type: ignore[list-item]
        elif odd < 0.2:
            msg.cc = None  # type: ignore[assignment] - no list at all
        elif odd < 0.25:
            msg.author = dirty(rng, "jana@example.cz")  # type: ignore[assignment] - not a ref
        ticket = TicketRec(
            native_id=f"t{n}",
            subject=dirty(rng, "Objednávka"),
            requester=ref,
            tags=[dirty(rng, "vip")],
            custom_fields={"order": dirty(rng, "č. 12")},
            messages=[msg],
        )
        batch.tickets.append(ticket)
    batch.quarantined.append(
        QuarantineRec(native_ref=dirty(rng, "line 5"), reason=dirty(rng, "broken"), raw=b"a\x00b")
    )
    return batch


def test_strip_nul_does_what_the_rule_says_on_every_kind_of_field() -> None:
    rng = random.Random(7)
    for _ in range(30):
        batch = a_batch(rng)
        expected = copy.deepcopy(batch)
        assert strip_nul(batch) == by_definition(expected)
        assert batch == expected


def test_a_batch_without_nul_is_left_as_it_is() -> None:
    batch = a_batch(random.Random(1))
    by_definition(batch)
    before = copy.deepcopy(batch)
    assert strip_nul(batch) == Counter()
    assert batch == before
