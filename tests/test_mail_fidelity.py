"""Real-world mail as mail clients read it: charsets, encoded words, names, dates, structure."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deskmove.mail.addresses import parse_addresses
from deskmove.mail.charsets import decode_header_value
from deskmove.mail.parse import parse_mail
from deskmove.store.blobs import BlobStore

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def _raw(head: str, body: bytes = b"Dobry den\r\n") -> bytes:
    return head.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


def _b64_word(data: bytes, charset: str = "utf-8") -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


# -- 2. encoded words as mailers write them -------------------------------------------------
def test_adjacent_words_that_split_a_character_are_joined() -> None:
    text = "Reklamace zboží č. 1234 — Łódź"
    data = text.encode()
    cut = data.index("ž".encode()) + 1  # in the middle of a two-byte character
    cut2 = data.index("Ł".encode()) + 1
    header = " ".join(_b64_word(p) for p in (data[:cut], data[cut:cut2], data[cut2:]))
    assert decode_header_value(header) == text
    q = "=?utf-8?Q?Objedn=C3?=\r\n =?utf-8?Q?=A1vka?="
    assert decode_header_value(q) == "Objednávka"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("=?us-ascii?Q?ABC / 123?=", "ABC / 123"),
        ("=?UTF-8?Q? Personal=C3=A4nderung?=", " Personaländerung"),
        ("=?unicode-1-1-utf-7?Q?+AMk-cole?=", "École"),
        ("=?utf-8?q?a?= =?iso-8859-2?q?=E8?= =?utf-8?q?b?=", "ačb"),
        ("=?utf-8?q?Nov=C3=A1k?= and =?utf-8?q?Dvo=C5=99=C3=A1k?=", "Novák and Dvořák"),
    ],
    ids=["spaces-ascii", "leading-space", "utf-7", "mixed-charsets", "text-between"],
)
def test_encoded_words_mail_clients_decode(raw: str, text: str) -> None:
    assert decode_header_value(raw) == text


# -- 4. a display name holding an @ --------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "pair"),
    [
        (
            "jan@example.cz via Helpdesk <noreply@helpdesk.example>",
            ("jan@example.cz via Helpdesk", "noreply@helpdesk.example"),
        ),
        ('"jan@example.cz" <real@example.cz>', ("jan@example.cz", "real@example.cz")),
        ("Jan@Novak <jan@example.cz>", ("Jan@Novak", "jan@example.cz")),
        (
            "=?utf-8?Q?Nov=C3=A1k,_Jan_(jan@old.example)?= <jan@example.cz>",
            ("Novák, Jan (jan@old.example)", "jan@example.cz"),
        ),
        ("jan@example.cz (Jan Novák)", ("Jan Novák", "jan@example.cz")),
        ("Jan Novák jan@example.cz", ("Jan Novák", "jan@example.cz")),
    ],
    ids=["via", "quoted", "bare-at", "encoded-with-comma", "comment", "unbracketed"],
)
def test_display_name_with_at_is_the_name(value: str, pair: tuple[str, str]) -> None:
    assert parse_addresses([value]) == [pair]


def test_address_lists_with_groups_and_commas() -> None:
    value = 'Team: "Novák, Jan" <jan@example.cz>, eva@example.pl;, undisclosed-recipients:;'
    assert parse_addresses([value]) == [("Novák, Jan", "jan@example.cz"), ("", "eva@example.pl")]


def test_from_with_at_in_name_gives_the_real_author(blobs: BlobStore) -> None:
    raw = _raw(
        "From: orders@shop.example via Form <form@forms.example>\nSubject: x\nMessage-ID: <a@x>"
    )
    assert parse_mail(raw, blobs, now=NOW).sender == (
        "orders@shop.example via Form",
        "form@forms.example",
    )


# -- 5. dates --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("date", "utc", "tz"),
    [
        ("Tue, 4 Mar 2025 00:19:00 (EDT) -0400", datetime(2025, 3, 4, 4, 19, tzinfo=UTC), -240),
        ("Tue, 4 Mar 2025 12:29:13 AM -0000", datetime(2025, 3, 4, 0, 29, 13, tzinfo=UTC), 0),
        ("Tue, 4 Mar 2025 12:29:13 PM +0100", datetime(2025, 3, 4, 11, 29, 13, tzinfo=UTC), 60),
        ("Tue, 4 Mar 2025 1:05:00 p.m. +0100", datetime(2025, 3, 4, 12, 5, tzinfo=UTC), 60),
        (
            "Tue, 4 Mar 2025 (a comment) 10:00:00 +0200 (CEST)",
            datetime(2025, 3, 4, 8, 0, tzinfo=UTC),
            120,
        ),
    ],
    ids=["comment-before-zone", "midnight-am", "noon-pm", "pm-dots", "comments-anywhere"],
)
def test_dates_with_comments_and_twelve_hour_clock(
    blobs: BlobStore, date: str, utc: datetime, tz: int
) -> None:
    raw = _raw(f"From: jan@example.cz\nSubject: x\nDate: {date}\nMessage-ID: <d@x>")
    parsed = parse_mail(raw, blobs, now=NOW)
    assert (parsed.date, parsed.date_tz) == (utc, tz)


# -- 10. author fallbacks --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "author", "note"),
    [
        (
            "From: Jan Novak\nReply-To: jan@example.cz\nSender: list@lists.example\nReturn-Path: <bounce@mta.example>",
            ("Jan Novak", "jan@example.cz"),
            "author taken from Reply-To (From has no address)",
        ),
        (
            "Sender: Eva <eva@example.pl>\nReturn-Path: <bounce@mta.example>",
            ("Eva", "eva@example.pl"),
            "author taken from Sender (no From header)",
        ),
        (
            "From: =?utf-8?q?Pan_Nov=C3=A1k?=\nReturn-Path: <bounce@mta.example>",
            ("Pan Novák", "bounce@mta.example"),
            "author taken from Return-Path (From has no address)",
        ),
    ],
    ids=["reply-to", "sender", "return-path"],
)
def test_author_fallbacks_in_mail_client_order(
    blobs: BlobStore, headers: str, author: tuple[str, str], note: str
) -> None:
    raw = _raw(f"{headers}\nTo: support@shop.example\nSubject: x\nMessage-ID: <f@x>")
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.sender == author
    assert note in parsed.notes


def test_a_real_from_needs_no_fallback_note(blobs: BlobStore) -> None:
    raw = _raw(
        "From: Jan <jan@example.cz>\nReply-To: other@example.cz\nSubject: x\nMessage-ID: <g@x>"
    )
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.sender == ("Jan", "jan@example.cz")
    assert not any("author taken" in n for n in parsed.notes)


# -- 1. raw 8-bit headers --------------------------------------------------------------------
RAW_8BIT = [
    ("我的订单还没有到", "gb2312"),
    ("关于发票的问题", "gbk"),
    ("请尽快处理退款申请", "gb18030"),
    ("我的訂單還沒有到", "big5"),
    ("關於發票的問題", "big5"),
    ("注文が届きません", "shift_jis"),
    ("会議のお知らせ", "shift_jis"),
    ("お問い合わせ", "euc-jp"),
    ("환불 요청", "euc-kr"),
    ("Заказ номер 15 не пришёл", "koi8-r"),
    ("Возврат товара", "cp1251"),
    ("Příliš žluťoučký kůň", "cp1250"),
    ("Zażółć gęślą jaźń", "iso-8859-2"),
    ("Grüße aus München", "cp1252"),
]


def _raw_8bit(text: str, codec: str, declared: str) -> bytes:
    head = (
        b"From: " + f"Jan {text}".encode(codec) + b" <jan@example.cz>\r\n"
        b"Subject: Re: " + text.encode(codec) + b"\r\nMessage-ID: <r@x>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + declared.encode()
    )
    return head + b"\r\n\r\n" + text.encode(codec) + b"\r\n"


@pytest.mark.parametrize("declared", [True, False], ids=["part-charset", "no-hint"])
@pytest.mark.parametrize(("text", "codec"), RAW_8BIT, ids=[c for _t, c in RAW_8BIT])
def test_raw_8bit_headers_in_the_charset_the_mail_uses(
    blobs: BlobStore, text: str, codec: str, declared: bool
) -> None:
    parsed = parse_mail(_raw_8bit(text, codec, codec if declared else "us-ascii"), blobs, now=NOW)
    assert parsed.subject == f"Re: {text}"
    assert parsed.sender == (f"Jan {text}", "jan@example.cz")


def test_short_ambiguous_header_follows_the_declared_charset(blobs: BlobStore) -> None:
    for text, codec in [("Łódź", "iso-8859-2"), ("ČR", "cp1250"), ("ロ", "shift_jis")]:
        assert parse_mail(_raw_8bit(text, codec, codec), blobs, now=NOW).subject == f"Re: {text}"


# -- 3. ISO-2022-JP with vendor extensions ----------------------------------------------------
JIS_NEC = b"\x1b$B" + bytes([0x2D, 0x21, 0x2D, 0x22, 0x2D, 0x62, 0x24, 0x22]) + b"\x1b(B"


def test_iso2022jp_nec_and_ibm_extensions(blobs: BlobStore) -> None:
    ibm = b"\x1b$B" + bytes([0x79, 0x21]) + b"\x1b(B"  # 纊, an IBM extension kanji
    subject = "=?ISO-2022-JP?B?" + base64.b64encode(JIS_NEC + b" No.1").decode() + "?="
    body = JIS_NEC + b"\r\n" + ibm + b"\r\n"
    raw = _raw(
        f"From: taro@example.jp\nSubject: {subject}\nMessage-ID: <j@x>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=ISO-2022-JP",
        body,
    )
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.subject == "①②№あ No.1"
    assert parsed.body_text.split() == ["①②№あ", "纊"]


def test_iso2022jp_undecodable_pairs_are_replaced_not_raw(blobs: BlobStore) -> None:
    raw = _raw(
        "From: taro@example.jp\nSubject: x\nMessage-ID: <j2@x>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=iso-2022-jp",
        b"\x1b$B\x24\x22\x7f\x21\x24\x24\x1b(B ok\r\n",
    )
    text = parse_mail(raw, blobs, now=NOW).body_text
    assert text.strip() == "あ\ufffdい ok"
    assert "\x1b" not in text


# -- 6. header continuation lines without white space ------------------------------------------
def test_continuation_without_white_space_keeps_the_headers(blobs: BlobStore) -> None:
    raw = _raw(
        "Received: from mx.example.cz by mx.shop.example;\n"
        "Tue, 4 Mar 2025 10:00:00 +0100\n"
        "X-Spam-Report: score=0.1\n"
        "tests=NONE autolearn=no\n"
        "From: Jan Novak <jan@example.cz>\n"
        "To: support@shop.example\n"
        "Subject: Faktura 2025/17\n"
        "Message-ID: <c@example.cz>\n"
        "References: <a@example.cz>\n"
        "In-Reply-To: <a@example.cz>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="B"',
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDobr\xc3\xbd den\r\n"
        b"--B\r\nContent-Type: application/pdf; name=f.pdf\r\n\r\n%PDF-1\r\n--B--\r\n",
    )
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.sender == ("Jan Novak", "jan@example.cz")
    assert parsed.subject == "Faktura 2025/17"
    assert (parsed.message_id, parsed.in_reply_to) == ("<c@example.cz>", "<a@example.cz>")
    assert parsed.body_text.strip() == "Dobrý den"
    assert [a.filename for a in parsed.attachments] == ["f.pdf"]
    assert any("without leading white space" in n for n in parsed.notes)


def test_a_body_without_its_blank_line_stays_body(blobs: BlobStore) -> None:
    raw = b"From: jan@example.cz\r\nSubject: x\r\nDobry den,\r\nNote: this is body text\r\n"
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.subject == "x"
    assert "Dobry den," in parsed.body_text


# -- 7. a BOM or a line before the headers ------------------------------------------------------
@pytest.mark.parametrize(
    "prefix",
    [
        b"\xef\xbb\xbf",
        b"---- Original email message ----\r\n",
        b"\r\nForwarded by Outlook:\r\n\r\n",
    ],
    ids=["bom", "original-message-line", "blank-and-note"],
)
def test_a_bom_or_a_note_before_the_headers(blobs: BlobStore, prefix: bytes) -> None:
    raw = prefix + _raw("From: Jan <jan@example.cz>\nSubject: Faktura\nMessage-ID: <p@x>")
    parsed = parse_mail(raw, blobs, now=NOW)
    assert (parsed.sender, parsed.subject) == (("Jan", "jan@example.cz"), "Faktura")
    assert parsed.body_text.strip() == "Dobry den"


# -- 8. message/* parts other than rfc822 -------------------------------------------------------
def _report(ctype: str, inner: str) -> bytes:
    return _raw(
        "From: MAILER-DAEMON@mx.shop.example\nTo: support@shop.example\nSubject: Undelivered Mail\n"
        'Message-ID: <bounce@mx>\nMIME-Version: 1.0\nContent-Type: multipart/report; boundary="R"',
        b"--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        + f"--R\r\nContent-Type: {ctype}\r\n\r\n{inner}\r\n--R--\r\n".encode(),
    )


DSN = (
    "Reporting-MTA: dns; mx.shop.example\r\n\r\nFinal-Recipient: rfc822; eva@example.pl\r\n"
    "Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 mailbox unknown"
)
ORIGINAL = "From: support@shop.example\r\nTo: eva@example.pl\r\nSubject: Faktura 17\r\nMessage-ID: <o@shop>"


@pytest.mark.parametrize(
    ("ctype", "inner", "shown"),
    [
        (
            "message/delivery-status",
            DSN,
            ["Action: failed", "Diagnostic-Code: smtp; 550 5.1.1 mailbox unknown"],
        ),
        ("message/global-delivery-status", DSN, ["Action: failed"]),
        (
            "message/disposition-notification",
            "Final-Recipient: rfc822; eva@example.pl\r\nDisposition: manual-action/MDN-sent-manually; displayed",
            ["Disposition: manual-action/MDN-sent-manually; displayed"],
        ),
        ("text/rfc822-headers", ORIGINAL, ["Subject: Faktura 17", "To: eva@example.pl"]),
        ("message/global-headers", ORIGINAL, ["Subject: Faktura 17"]),
    ],
    ids=[
        "delivery-status",
        "global-delivery-status",
        "disposition-notification",
        "rfc822-headers",
        "global-headers",
    ],
)
def test_reports_stay_readable_in_the_body(
    blobs: BlobStore, ctype: str, inner: str, shown: list[str]
) -> None:
    parsed = parse_mail(_report(ctype, inner), blobs, now=NOW)
    assert parsed.body_text.startswith("Your message could not be delivered.")
    for line in shown:
        assert line in parsed.body_text
    assert parsed.auto == "bounce"


@pytest.mark.parametrize(
    ("ctype", "name"),
    [
        ("message/global", "Faktura č. 5.eml"),
        ('message/partial; id="p@x"; number=2; total=3', "partial-2-of-3.eml"),
    ],
    ids=["global", "partial"],
)
def test_attached_global_and_partial_messages_are_eml_files(
    blobs: BlobStore, ctype: str, name: str
) -> None:
    inner = "From: jan@example.cz\r\nSubject: Faktura č. 5\r\nMessage-ID: <g@x>\r\n\r\nDobrý den, faktura."
    raw = _raw(
        'From: jan@example.cz\nSubject: Fwd\nMessage-ID: <fw@x>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"',
        b"--M\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        + f"--M\r\nContent-Type: {ctype}\r\n\r\n{inner}\r\n--M--\r\n".encode(),
    )
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.body_text.strip() == "See below."
    [att] = parsed.attachments
    assert att.filename == name
    kept = blobs.get(att.sha256)
    assert kept.startswith(b"From: jan@example.cz") and "Dobrý den".encode() in kept


# -- 9. an inline text part with a filename -----------------------------------------------------
def test_inline_named_text_part_is_the_body(blobs: BlobStore) -> None:
    raw = _raw(
        'From: jan@example.cz\nSubject: x\nMessage-ID: <i@x>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"',
        b"--M\r\nContent-Type: text/plain; charset=utf-8; name=message.txt\r\n"
        b"Content-Disposition: inline; filename=message.txt\r\n\r\nDobr\xc3\xbd den, faktura chyb\xc3\xad.\r\n"
        b"--M\r\nContent-Type: application/pdf; name=f.pdf\r\nContent-Disposition: attachment; filename=f.pdf\r\n\r\n%PDF\r\n--M--\r\n",
    )
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.body_text.strip() == "Dobrý den, faktura chybí."
    assert [a.filename for a in parsed.attachments] == ["f.pdf"]


def test_the_only_text_part_is_the_body_even_when_named(blobs: BlobStore) -> None:
    raw = _raw(
        'From: jan@example.cz\nSubject: x\nMessage-ID: <i2@x>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"',
        b"--M\r\nContent-Type: text/plain; charset=utf-8; name=body.txt\r\n\r\nDobry den\r\n--M--\r\n",
    )
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.body_text.strip() == "Dobry den"


def test_a_named_text_attachment_stays_an_attachment(blobs: BlobStore) -> None:
    raw = _raw(
        'From: jan@example.cz\nSubject: x\nMessage-ID: <i3@x>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"',
        b"--M\r\nContent-Type: text/plain\r\n\r\nSee the log.\r\n"
        b"--M\r\nContent-Type: text/plain; name=log.txt\r\nContent-Disposition: attachment; filename=log.txt\r\n\r\nerror 42\r\n--M--\r\n",
    )
    parsed = parse_mail(raw, blobs, now=NOW)
    assert parsed.body_text.strip() == "See the log."
    assert [a.filename for a in parsed.attachments] == ["log.txt"]


# -- 11. copies of a large mail --------------------------------------------------------------------
def test_copies_of_a_large_mail_differing_in_white_space_are_one(blobs: BlobStore) -> None:
    lines = [f"Radek {i}: objednavka cislo {i * 7} nedorazila." for i in range(4000)]  # ~170 KB
    head = "From: jan@example.cz\nSubject: Velka objednavka\nDate: Tue, 4 Mar 2025 10:00:00 +0100\nMessage-ID: <big@x>"
    one = _raw(head, "\r\n".join(lines).encode() + b"\r\n")
    two = _raw(head, "\r\n".join(line + "  " for line in lines).encode() + b"\r\n\r\n\r\n")
    three = _raw(head, "\r\n".join(lines[:-1] + ["Radek 3999: jina zprava."]).encode() + b"\r\n")
    prints = [parse_mail(raw, blobs, now=NOW).fingerprint for raw in (one, two, three)]
    assert prints[0] == prints[1]
    assert prints[0] != prints[2]


def test_a_forward_quoted_right_after_the_headers_stays_body(blobs: BlobStore) -> None:
    raw = (
        b"From: Jan <jan@example.cz>\r\nTo: support@shop.example\r\nSubject: Fwd: faktura\r\n"
        b"Message-ID: <fq@x>\r\nPlease see below.\r\n-----Original Message-----\r\n"
        b"From: Eva <eva@example.pl>\r\nTo: jan@example.cz\r\nSubject: faktura\r\n\r\nDobry den\r\n"
    )
    parsed = parse_mail(raw, blobs, now=NOW)
    assert (parsed.sender, parsed.subject) == (("Jan", "jan@example.cz"), "Fwd: faktura")
    assert "Please see below." in parsed.body_text
    assert "From: Eva <eva@example.pl>" in parsed.body_text
