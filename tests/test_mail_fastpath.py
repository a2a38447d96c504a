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
    "multipart crlf": (
        b'Content-Type: multipart/alternative; boundary="=_a1"\r\n\r\n--=_a1\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nDobr\xc3\xbd den\r\n\r\n--=_a1\r\n"
        b"Content-Type: text/html\r\n\r\n<p>Dobr\xc3\xbd den</p>\r\n--=_a1--\r\n"
    ),
    "preamble and epilogue": (
        b"Content-Type: multipart/mixed; boundary=b\n\nThis is MIME.\n\n--b\nX-A: 1\n\none\n"
        b"--b  \t\nX-B: 2\n\ntwo\n--b-- \nafter\n\nthe end"
    ),
    "close boundary without a line end": b"Content-Type: multipart/mixed; boundary=b\n\n--b\nA: 1\n\nx\n--b--",
    "boundary look-alikes": (
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nA: 1\n\n--bb\n --b\n--b x\n--b---\n"
        b"--b\nA: 2\n\ny\n--b--\n--b\nafter\n"
    ),
    "empty part body": b"Content-Type: multipart/mixed; boundary=b\n\n--b\nA: 1\n\n--b--\n",
    "part without headers": b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nbare\n--b--\n",
    "part without a blank line": b"Content-Type: multipart/mixed; boundary=b\n\n--b\nA: 1\n--b--\n",
    "two boundaries in a row": b"Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\nA: 1\n\nx\n--b--\n",
    "no closing boundary": b"Content-Type: multipart/mixed; boundary=b\n\n--b\nA: 1\n\nx\n",
    "closing boundary first": b"Content-Type: multipart/mixed; boundary=b\n\n--b--\n--b\nA: 1\n\nx\n--b--\n",
    "no start boundary": b"Content-Type: multipart/mixed; boundary=b\n\njust text\n",
    "nested multipart": (
        b"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative;"
        b" boundary=i\n\n--i\nA: 1\n\nx\n--i--\n--o--\n"
    ),
    "message part": (
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n"
        b"Subject: in\n\nbody\n--b--\n"
    ),
    "digest": b"Content-Type: multipart/digest; boundary=b\n\n--b\nSubject: in\n\nx\n--b--\n",
    "base64 multipart": (
        b"Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n"
        b"--b\nA: 1\n\nx\n--b--\n"
    ),
    "bare cr in a part": b"Content-Type: multipart/mixed; boundary=b\n\n--b\nA: 1\n\nx\ry\n--b--\n",
    "bare cr in a one-part body": b"Subject: x\r\nFrom: a@b.cz\r\n\r\nbody\rmore\r\n",
    "bare cr in a part's head": (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nA: 1\rB: 2\r\n\r\nx\r\n--b--\r\n"
    ),
    "regex characters in the boundary": (
        b'Content-Type: multipart/mixed; boundary="a.b*c+(d)"\n\n--a.b*c+(d)\nA: 1\n\nx\n'
        b"--aXb*c+(d)\n--a.b*c+(d)--\n"
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
    fast = ("plain crlf", "plain lf", "folded header", "8-bit header", "no body", "multipart")
    for name in (
        *fast,
        "multipart crlf",
        "preamble and epilogue",
        "boundary look-alikes",
        "bare cr in a one-part body",
    ):
        assert mime._parse_single(CASES[name].decode("ascii", "surrogateescape")) is not None
    for name in (
        "nested multipart",
        "message/rfc822",
        "unix from line",
        "bare cr in the header",
        "bare cr in a part's head",
    ):
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
        b"Content-Type: multipart/mixed; boundary=q",
        b"Content-Type: message/rfc822",
        b"--q--",
        b"--q ",
        b"--qq",
        b"Subject: \xf0\xd2\xc9\xd7\xc5\xd4",
        b"",
        b"--q",
        b"a\x0bb",
    ]
    for _ in range(6000):
        lines = [rng.choice(pieces) for _ in range(rng.randrange(0, 16))]
        data = b"".join(line + rng.choice([b"\n", b"\r\n", b"\r"]) for line in lines) + b"body"
        assert _tree(mime.parse_bytes(data)) == _tree(mime.PARSER.parsebytes(data)), data


def test_parse_bytes_on_random_multiparts() -> None:
    """Random one-level multiparts: preambles, epilogues, boundary look-alikes, line ends."""
    rng = random.Random(2046)
    body_lines = [b"text", b"", b"--b", b"--b--", b"--b \t", b"--bx", b" --b", b"A: 1", b"\xe8"]
    taken = 0
    for _ in range(3000):
        eol = rng.choice([b"\n", b"\r\n"])

        def block(lines: list[bytes], end: bytes = eol) -> bytes:
            return b"".join(
                line + (rng.choice([b"\n", b"\r\n"]) if rng.random() < 0.05 else end)
                for line in lines
            )

        out = block([b"Subject: x", b'Content-Type: multipart/mixed; boundary="b"', b""])
        out += block([rng.choice(body_lines) for _ in range(rng.randrange(0, 3))])
        for _ in range(rng.randrange(1, 4)):
            out += block([rng.choice([b"--b", b"--b  "])])
            out += block([rng.choice([b"Content-Type: text/plain", b"X-A: 1", b" cont"])])
            out += block([b""] if rng.random() < 0.95 else [])
            out += block([rng.choice(body_lines) for _ in range(rng.randrange(0, 5))])
        if rng.random() < 0.9:
            out += b"--b--" + (eol if rng.random() < 0.8 else b"")
            out += block([rng.choice(body_lines) for _ in range(rng.randrange(0, 3))])
        taken += mime._parse_single(out.decode("ascii", "surrogateescape")) is not None
        assert _tree(mime.parse_bytes(out)) == _tree(mime.PARSER.parsebytes(out)), out
    assert taken > 500  # the fast path itself was tested, not only the parser


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (b"Content-Type: application/pdf\nContent-Disposition: attachment", None),
        (b'Content-Type: application/pdf; NAME="Faktura.pdf"', "Faktura.pdf"),
        (
            b"Content-Type: application/pdf\nContent-Disposition: attachment; FILENAME=a.pdf",
            "a.pdf",
        ),
        (
            b"Content-Type: application/pdf\nContent-Disposition: attachment;\n"
            b" filename*0*=utf-8''%C5%BD%C3%A1dost; filename*1*=.pdf",
            "Žádost.pdf",
        ),
        (b"Content-Type: application/pdf; name==?koi8-r?b?8NLJ18XU?=", "Привет"),
    ],
)
def test_attachment_names_in_every_spelling(headers: bytes, expected: str | None) -> None:
    """A part's name is looked for only where a name or filename parameter is written."""
    part = mime.parse_bytes(headers + b"\n\nAAAA\n")
    assert mime._filename(part) == expected
