"""The faster path a mail import takes gives exactly what the stdlib parser gives.

``mime.parse_bytes`` builds a one-part mail's tree without the stdlib feed parser. It
is checked against that parser on the inputs where their rules could differ: line
ends, defects, ``From `` lines, multiparts, 8-bit headers.
"""

from __future__ import annotations

import random
from email.message import Message

import pytest

from deskmove.mail import mime

PLAIN = (
    b"From: =?utf-8?q?Jan_Nov=C3=A1k?= <jan@example.cz>\r\n"
    b"To: support@shop.example\r\n"
    b"Subject: =?iso-8859-2?q?Reklamace_zbo=BE=ED?=\r\n"
    b"Content-Type: text/plain; charset=iso-8859-2\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Dobr\xfd den,\r\nzbo\xbe\xed je po\xb9kozen\xe9.\r\n"
)

CASES = {
    "plain crlf": PLAIN,
    "plain lf": PLAIN.replace(b"\r\n", b"\n"),
    "folded header": b"Subject: one\n two\n\tthree\nFrom: a@b.cz\n\nbody\n",
    "whitespace-only line in the header": b"Subject: one\n \nFrom: a@b.cz\n\nbody",
    "8-bit header": b"Subject: Zam\xf3wienie\nFrom: a@b.pl\n\nTre\xb6\xe6\n",
    "no body": b"Subject: x\nFrom: a@b.cz\n\n",
    "no blank line": b"Subject: x\nFrom: a@b.cz\n",
    "body line without separator": b"Subject: x\nThis is the body\n\nmore\n",
    "first line a continuation": b" folded\nSubject: x\n\nbody\n",
    "empty field name": b"Subject: x\n: nameless\n\nbody\n",
    "unix from line": b"From someone Mon Jan  1 10:00:00 2024\nSubject: x\n\nbody\n",
    "misplaced from line": b"Subject: x\nFrom someone Mon Jan  1 10:00:00 2024\nTo: a@b\n\nb\n",
    "bare cr in the header": b"Subject: x\rFrom: a@b.cz\n\nbody\n",
    "bare cr blank line": b"Subject: x\r\rbody\n",
    "mixed line ends": b"Subject: x\r\nFrom: a@b.cz\n\r\nbody\r\n\nmore",
    "blank first line": b"\nSubject: x\n\nbody\n",
    "crlf blank first line": b"\r\nSubject: x\r\n\r\nbody\r\n",
    "space before the colon": b"Subject : x\nFrom: a@b.cz\n\nbody\n",
    "nul in a header": b"Subject: a\x00b\nFrom: a@b.cz\n\nbody\n",
    "form feed in a header": b"Subject: a\x0cb\x0bc\x1cd\nFrom: a@b.cz\n\nbody\n",
    "multipart": (
        b'Content-Type: multipart/mixed; boundary="xx"\n\n--xx\nContent-Type: text/plain\n\n'
        b"hi\n--xx\nContent-Type: application/pdf\n\nAAAA\n--xx--\n"
    ),
    "multipart without boundary": b"Content-Type: multipart/mixed\n\nbody\n",
    "message/rfc822": b"Content-Type: message/rfc822\n\nSubject: inner\n\ninner body\n",
    "delivery status": (
        b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: a\n"
    ),
    "upper-case multipart": b"Content-Type: MULTIPART/alternative; boundary=b\n\n--b\n\nx\n--b--\n",
    "broken content type": b"Content-Type: text\nSubject: x\n\nbody\n",
}


def _tree(msg: Message) -> tuple:
    state = {k: v for k, v in vars(msg).items() if k not in ("policy", "defects", "_payload")}
    payload = msg._payload  # noqa: SLF001 - the tree itself is what is compared
    if isinstance(payload, list):
        payload = [_tree(part) for part in payload]
    defects = [(type(d), str(d)) for d in msg.defects]
    return type(msg), sorted(state.items()), defects, payload


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_bytes_builds_the_tree_the_stdlib_parser_builds(name: str) -> None:
    data = CASES[name]
    assert _tree(mime.parse_bytes(data)) == _tree(mime.PARSER.parsebytes(data))


def test_one_part_mails_take_the_fast_path() -> None:
    """The fast path is really taken where it applies (else the test above proves nothing)."""
    for name in ("plain crlf", "plain lf", "folded header", "8-bit header", "no body"):
        assert mime._parse_single(CASES[name].decode("ascii", "surrogateescape")) is not None
    for name in ("multipart", "message/rfc822", "unix from line", "bare cr in the header"):
        assert mime._parse_single(CASES[name].decode("ascii", "surrogateescape")) is None


def test_parse_bytes_on_random_header_blocks() -> None:
    """Random lines of fields, continuations, odd characters and line ends, both ways."""
    rng = random.Random(16)
    pieces = [
        b"Subject: x",
        b"From: a@b.cz",
        b" cont",
        b"\tcont",
        b"X-A:b",
        b": nameless",
        b"no colon",
        b"From x",
        b"Content-Type: multipart/mixed; boundary=q",
        b"Content-Type: text/plain; charset=koi8-r",
        b"Subject: \xf0\xd2\xc9\xd7\xc5\xd4",
        b"",
        b"--q",
        b"a\x0bb",
    ]
    for _ in range(3000):
        lines = [rng.choice(pieces) for _ in range(rng.randrange(0, 8))]
        data = b"".join(line + rng.choice([b"\n", b"\r\n", b"\r"]) for line in lines) + b"body"
        assert _tree(mime.parse_bytes(data)) == _tree(mime.PARSER.parsebytes(data)), data
