"""Helpers for mail tests: build raw mails and run them through the batcher into a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

BASE = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def mail(
    *,
    frm: str = "Jan Novák <jan@example.cz>",
    to: str = "support@shop.example",
    subject: str = "Objednávka",
    mid: str | None = "<m1@example.cz>",
    irt: str | None = None,
    refs: str | None = None,
    date: datetime | None = BASE,
    body: str = "Dobrý den,\nobjednávka nedorazila.\n",
    extra: str = "",
    charset: str = "utf-8",
) -> bytes:
    lines = [f"From: {frm}", f"To: {to}", f"Subject: {subject}"]
    if mid:
        lines.append(f"Message-ID: {mid}")
    if irt:
        lines.append(f"In-Reply-To: {irt}")
    if refs:
        lines.append(f"References: {refs}")
    if date is not None:
        lines.append(f"Date: {format_datetime(date)}")
    lines += [
        "MIME-Version: 1.0",
        f"Content-Type: text/plain; charset={charset}",
        "Content-Transfer-Encoding: 8bit",
    ]
    if extra:
        lines.append(extra.strip("\n"))
    head = "\r\n".join(lines).encode("utf-8")
    return head + b"\r\n\r\n" + body.replace("\n", "\r\n").encode(charset)


def at(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)
