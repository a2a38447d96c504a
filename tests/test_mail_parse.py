"""MIME parsing: charsets, HTML, attachments, dates, auto-detection and hostile input."""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deskmove.mail.charsets import decode_bytes, decode_header_value
from deskmove.mail.parse import MailParseError, parse_mail
from deskmove.store.blobs import BlobStore
from tests.mailhelp import mail

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        ("Dobrý den, nefunguje mi objednávka. Děkuji, Jan Novák", "cp1250", "windows-1250"),
        ("Dobrý den, nefunguje mi objednávka. Děkuji, Jan Novák", "cp1250", "iso-8859-1"),
        ("Dobrý den, nefunguje mi objednávka. Děkuji, Jan Novák", "iso-8859-2", None),
        (
            "Dzień dobry, proszę o pomoc z zamówieniem, płatność nie przeszła",
            "iso-8859-2",
            "iso-8859-2",
        ),
        ("Dzień dobry, proszę o pomoc z zamówieniem, płatność nie przeszła", "cp1250", "us-ascii"),
        ("Здравствуйте, у меня не работает заказ номер 15", "koi8-r", "koi8-r"),
        ("Здравствуйте, у меня не работает заказ номер 15", "koi8-r", "windows-1251"),
        ("Здравствуйте, у меня не работает заказ номер 15", "cp1251", "koi8-r"),
        ("Здравствуйте, у меня не работает заказ номер 15", "cp1251", None),
        ("Hi, the café is +open+ today", "utf-7", "utf-7"),
        ("注文が届きません。確認をお願いします。", "iso-2022-jp", "iso-2022-jp"),
        ("我的订单还没有到，请帮忙查询。", "gb2312", "gb2312"),
        ("Zażółć gęślą jaźń", "utf-8", "iso-8859-2"),
        ("Grüße aus München", "cp1252", "iso-8859-1"),
    ],
)
def test_body_charsets_including_mislabelled(text: str, codec: str, label: str | None) -> None:
    assert decode_bytes(text.encode(codec), label)[0] == text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("=?utf-8?q?Jan_Nov=C3=A1k?=", "Jan Novák"),
        ("=?iso-8859-2?Q?Objedn=E1vka_=E8=2E_12?=", "Objednávka č. 12"),
        (
            f"=?windows-1250?B?{base64.b64encode('Příliš žluťoučký'.encode('cp1250')).decode()}?=",
            "Příliš žluťoučký",
        ),
        (f"=?utf-8?B?{base64.b64encode('Příliš'.encode()).decode().rstrip('=')}?=", "Příliš"),
        ("=?unknown-8bit?Q?Dobr=C3=BD?= den", "Dobrý den"),
        ("=?utf-8?Q?broken", "=?utf-8?Q?broken"),
        ("=?koi8-r?B?9MXT1A==?=", "Тест"),
        ("=?utf-8?b?0J/RgNC40LLQtdGC?= =?utf-8?b?INC80LjRgA==?=", "Привет мир"),
        (
            "Re: =?UTF-8?Q?Reklamace?= zboží".encode().decode("ascii", "surrogateescape"),
            "Re: Reklamace zboží",
        ),
    ],
)
def test_rfc2047_and_raw_8bit_headers(raw: str, text: str) -> None:
    assert decode_header_value(raw) == text


def test_html_is_sanitised_with_a_text_version_and_inline_images(blobs: BlobStore) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    raw = (
        b"From: Eva <eva@example.pl>\r\nTo: support@shop.example\r\nSubject: Zdj\xc4\x99cie\r\n"
        b"Date: Mon, 3 Mar 2025 10:00:00 +0100\r\nMessage-ID: <h@example.pl>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>Dzie\xc5\x84 dobry<script>alert(1)</script></p><p onclick="x()">'
        b'<img src="cid:img1@example.pl"></p><a href="javascript:evil()">link</a>\r\n'
        b"--R\r\nContent-Type: image/png\r\nContent-ID: <img1@example.pl>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(png) + b"\r\n--R--\r\n"
    )
    p = parse_mail(raw, blobs, now=NOW)
    assert p.subject == "Zdjęcie"
    assert "<script" not in p.body_html and "onclick" not in p.body_html
    assert "javascript:" not in p.body_html and 'src="cid:img1@example.pl"' in p.body_html
    assert p.body_text.startswith("Dzień dobry") and "alert" not in p.body_text
    [img] = p.attachments
    assert img.inline and img.content_id == "img1@example.pl" and img.content_type == "image/png"
    assert blobs.get(img.sha256) == png
    assert blobs.get(p.raw_sha256) == raw


def test_attachment_names_rfc2231_and_encoded(blobs: BlobStore) -> None:
    raw = (
        b"From: a@example.cz\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
        b"--B\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''faktura%20%C4%8D.12.pdf\r\n\r\n%PDF\r\n"
        b"--B\r\nContent-Type: text/plain; name==?utf-8?B?xb5hZG9zdC50eHQ=?=\r\n"
        b"Content-Disposition: attachment\r\n\r\ntext\r\n--B--\r\n"
    )
    p = parse_mail(raw, blobs, now=NOW)
    assert [a.filename for a in p.attachments] == ["faktura č.12.pdf", "žadost.txt"]
    assert p.body_text.strip() == "hi"


def test_dates_fall_back_and_future_dates_are_clamped(blobs: BlobStore) -> None:
    received = "Received: from mx by mx.shop.example; Tue, 4 Mar 2025 08:00:00 +0000"
    p = parse_mail(mail(date=None, extra=received), blobs, now=NOW)
    assert p.date == datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
    internal = datetime(2025, 2, 1, 12, 0, tzinfo=UTC)
    p = parse_mail(mail(date=None), blobs, fallback_date=internal, now=NOW)
    assert p.date == internal
    future = mail(date=NOW + timedelta(days=400), extra=received)
    p = parse_mail(future, blobs, now=NOW)
    assert p.date == datetime(2025, 3, 4, 8, 0, tzinfo=UTC)
    assert (
        p.headers["original-date"][0].startswith("Tue, 02 Jun 2026") or p.headers["original-date"]
    )
    p = parse_mail(
        mail(extra="").replace(b"Date: ", b"Date: garbage "), blobs, fallback_date=internal, now=NOW
    )
    assert p.date == internal and any("unreadable Date" in n for n in p.notes)
    p = parse_mail(
        mail(date=datetime(2025, 3, 3, 9, 0, tzinfo=UTC).astimezone(UTC)), blobs, now=NOW
    )
    assert p.date_tz == 0


@pytest.mark.parametrize(
    ("extra", "subject", "kind"),
    [
        ("Auto-Submitted: auto-replied", "Re: x", "auto-reply"),
        ("X-Autoreply: yes", "x", "auto-reply"),
        ("Precedence: bulk", "Newsletter", "bulk"),
        ("Auto-Submitted: auto-generated", "Your review", "bulk"),
        ("", "Automatická odpověď: Objednávka", "auto-reply"),
        ("", "Out of Office: order", "auto-reply"),
        ("List-Unsubscribe: <https://news.example/u>", "Sale", "bulk"),
        ("Precedence: list\nList-Unsubscribe: <mailto:x@googlegroups.com>", "Help", None),
        ("", "Objednávka", None),
    ],
)
def test_auto_replies_bounces_bulk_are_flagged(blobs, extra: str, subject: str, kind) -> None:
    p = parse_mail(mail(subject=subject, extra=extra), blobs, now=NOW)
    assert p.auto == kind


def test_bounce_from_mailer_daemon_and_multipart_report(blobs: BlobStore) -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.shop.example>\r\nTo: support@shop.example\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="Z"\r\n\r\n'
        b"--Z\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--Z\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; x@y.cz\r\nStatus: 5.1.1\r\n--Z--\r\n"
    )
    assert parse_mail(raw, blobs, now=NOW).auto == "bounce"


def test_ten_thousand_headers(blobs: BlobStore) -> None:
    extra = "\n".join(f"X-Spam-{i}: {'v' * 20}" for i in range(10_000))
    p = parse_mail(mail(extra=extra), blobs, now=NOW)
    assert p.subject == "Objednávka" and p.sender == ("Jan Novák", "jan@example.cz")


def test_broken_boundary_keeps_the_parts(blobs: BlobStore) -> None:
    raw = (
        b"From: a@example.cz\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed;\r\n boundary=----=_Part_1_2.3\r\n\r\n"
        b"------=_Part_1_2.3\r\nContent-Type: text/plain\r\n\r\nthe text\r\n"
        b"------=_Part_1_2.3\r\nContent-Type: application/zip; name=a.zip\r\n\r\nPK\r\n"
        b"------=_Part_1_2.3--\r\n"
    )
    p = parse_mail(raw, blobs, now=NOW)
    assert "the text" in p.body_text
    assert [a.filename for a in p.attachments] == ["a.zip"]


def test_unterminated_multipart_and_no_headers(blobs: BlobStore) -> None:
    raw = b'From: a@example.cz\r\nSubject: cut\r\nContent-Type: multipart/mixed; boundary="Q"\r\n\r\n--Q\r\nContent-Type: text/plain\r\n\r\nhalf a mess'
    assert "half a mess" in parse_mail(raw, blobs, now=NOW).body_text
    with pytest.raises(MailParseError, match="not an email"):
        parse_mail(b"just some text\nwithout headers\n", blobs, now=NOW)
    with pytest.raises(MailParseError, match="empty"):
        parse_mail(b"\r\n\r\n", blobs, now=NOW)


def test_fifty_megabyte_attachment_goes_to_the_blob_store(blobs: BlobStore) -> None:
    payload = hashlib.sha256(b"seed").digest() * (50 * 1024 * 1024 // 32)
    encoded = base64.encodebytes(payload)
    raw = (
        b"From: a@example.cz\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n'
        b"--B\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + encoded
        + b"--B--\r\n"
    )
    del encoded
    tracemalloc.start()
    p = parse_mail(raw, blobs, now=NOW)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    [att] = p.attachments
    assert att.size == len(payload) and att.sha256 == hashlib.sha256(payload).hexdigest()
    assert blobs.path(att.sha256).stat().st_size == len(payload)
    assert peak < 6 * len(raw), f"parsing a {len(raw) >> 20} MB mail peaked at {peak >> 20} MB"


def test_thread_index_and_gmail_thread_id_become_keys(blobs: BlobStore) -> None:
    root = base64.b64encode(bytes(range(22))).decode()
    child = base64.b64encode(bytes(range(22)) + b"\x01\x02\x03\x04\x05").decode()
    a = parse_mail(mail(extra=f"Thread-Index: {root}"), blobs, now=NOW)
    b = parse_mail(
        mail(mid="<other@x.cz>", extra=f"Thread-Index: {child}\nX-GM-THRID: 42"), blobs, now=NOW
    )
    [ti] = [k for k in a.secondary_keys if k.startswith("ti:")]
    assert ti in b.secondary_keys and "gm:42" in b.secondary_keys
    c = parse_mail(mail(subject="Re: [Ticket#991] Faktura"), blobs, now=NOW)
    assert "tn:#991" in c.secondary_keys


def test_cyrillic_count_is_the_blocks_count() -> None:
    """The byte count that finds Cyrillic letters gives what matching the block gives."""
    import random
    import re

    from deskmove.mail.guess import _cyrillic_count, _looks_like_swapped_cyrillic

    block = re.compile("[\u0400-\u04ff]")
    rng = random.Random(4)
    spans = [(0, 0x80), (0x380, 0x540), (0x3FF, 0x401), (0x4FF, 0x501), (0xD700, 0xE100)]
    for _ in range(3000):
        lo, hi = rng.choice(spans)
        text = "".join(chr(rng.randrange(lo, hi)) for _ in range(rng.randrange(30)))
        if rng.random() < 0.3:
            text += "".join(chr(rng.randrange(0, 0x110000)) for _ in range(5))
        assert _cyrillic_count(text) == len(block.findall(text)), repr(text)
    russian = "Здравствуйте, заказ до сих пор не пришёл. Пожалуйста, проверьте посылку."
    swapped = russian.encode("koi8-r").decode("cp1251")
    assert not _looks_like_swapped_cyrillic(russian)
    assert _looks_like_swapped_cyrillic(swapped)
    assert not _looks_like_swapped_cyrillic("Dobrý den, objednávka ještě nedorazila.")
