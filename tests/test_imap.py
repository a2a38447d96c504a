"""IMAP source against a real Dovecot on 127.0.0.1 (tests/servers/dovecot.py)."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deskmove.errors import AuthError, FatalRemoteError, RemoteUnavailable
from deskmove.sources.imap import fingerprint, header_section, plan_batches
from deskmove.sources.imap_client import (
    ImapClient,
    decode_mailbox,
    encode_mailbox,
    parse_internaldate,
)
from tests.conftest import unavailable

pytestmark = pytest.mark.imap

CZECH = "Čeština"
RUSSIAN = "Отправленные"


def mail(i: int, *, subject: str = "Objednávka", size: int = 0, extra: str = "") -> bytes:
    """A small realistic message; ``size`` pads the body with a base64 attachment."""
    date = (datetime(2024, 3, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=i)).strftime(
        "%a, %d %b %Y %H:%M:%S +0000"
    )
    subj = "=?utf-8?b?" + base64.b64encode(f"{subject} č. {i}".encode()).decode() + "?="
    head = (
        f"From: Jana Nováková <jana{i % 7}@zakaznik.example>\r\n"
        "To: support@shop.example\r\n"
        f"Subject: {subj}\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <m{i}.{subject.encode().hex()[:8]}@zakaznik.example>\r\n{extra}"
        "MIME-Version: 1.0\r\n"
    )
    text = f"Dobrý den,\r\nposílám dotaz číslo {i}. Žluťoučký kůň.\r\n"
    if not size:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n" + text).encode()  # fmt: skip
    blob = base64.encodebytes(bytes(range(256)) * (size // 256 + 1))[:size]
    return (
        head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text + "--b1\r\nContent-Type: application/pdf; name=\"faktura.pdf\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + blob.replace(b"\n", b"\r\n") + b"\r\n--b1--\r\n"  # fmt: skip


@pytest.fixture
def dovecot():
    from tests.servers.dovecot import DovecotServer

    if not (shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists()):
        unavailable("dovecot is not installed (apt-get install dovecot-imapd)")
    server = None
    try:
        server = DovecotServer()
        server.start()
    except Exception as exc:  # noqa: BLE001
        if server:
            server.cleanup()
        unavailable(f"cannot start Dovecot: {exc}")
    yield server
    server.cleanup()


def client_for(server, tls: str = "none", **kw) -> ImapClient:
    port = server.tls_port if tls == "implicit" else server.port
    kw.setdefault("cafile", str(server.cafile))
    c = ImapClient("127.0.0.1", port, tls=tls, timeout=kw.pop("timeout", 10), **kw)
    c.connect()
    c.login(server.user, server.password, "DESKMOVE_IMAP_PASSWORD")
    return c


# -- pure helpers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,wire",
    [
        ("INBOX", "INBOX"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("A&B", "A&-B"),
        (CZECH, "&AQw-e&AWE-tina"),
    ],
    ids=["ascii", "german", "rfc3501-example", "ampersand", "czech"],
)
def test_modified_utf7_round_trip(name: str, wire: str) -> None:
    assert encode_mailbox(name) == wire
    assert decode_mailbox(wire) == name


def test_internaldate_is_parsed_to_utc() -> None:
    meta = b'1 (UID 7 INTERNALDATE " 3-Mar-2024 10:15:00 +0100" RFC822.SIZE 5'
    assert parse_internaldate(meta) == datetime(2024, 3, 3, 9, 15, tzinfo=UTC)
    assert parse_internaldate(b"1 (UID 7)") is None


def test_batches_are_ranges_cut_by_count_and_size() -> None:
    items = [(1, 10), (2, 10), (5, 10), (9, 500), (10, 10), (11, 10)]
    chunks = list(plan_batches(items, count=3, max_bytes=100))
    assert [[u for u, _ in c] for c in chunks] == [[1, 2, 5], [9], [10, 11]]


def test_fingerprint_ignores_folding_and_body() -> None:
    a = b"Message-ID: <x@y>\r\nSubject: Hello\r\n  world\r\n\r\nbody one"
    b = b"Subject: Hello world\r\nMessage-ID:  <x@y>\r\n"
    assert fingerprint(header_section(a), 10) == fingerprint(b, 10)
    assert fingerprint(header_section(a), 10) != fingerprint(b, 11)


# -- the wire layer against Dovecot ------------------------------------------------------
@pytest.mark.parametrize("tls", ["none", "starttls", "implicit"])
def test_connects_in_every_tls_mode(dovecot, tls: str) -> None:
    dovecot.append("INBOX", [mail(1)])
    c = client_for(dovecot, tls)
    try:
        st = c.status("INBOX")
        assert st is not None and st.messages == 1 and st.uidnext == 2
        assert c.condstore and st.highestmodseq
    finally:
        c.close()


def test_fetch_is_read_only_and_batched(dovecot) -> None:
    dovecot.append("INBOX", [mail(i) for i in range(5)])
    dovecot.append("INBOX", [mail(99)], flags="(\\Flagged)")
    before_flags, before_files = dovecot.flags("INBOX"), dovecot.maildir_files()
    c = client_for(dovecot)
    try:
        assert c.examine("INBOX") == c.status("INBOX").uidvalidity
        sizes = c.uid_sizes("INBOX", 0)
        assert [u for u, _ in sizes] == [1, 2, 3, 4, 5, 6]
        assert c.uid_sizes("INBOX", 6) == []  # `7:*` returns UID 6; it is filtered out
        got = c.fetch_bodies("INBOX", 2, 4)
    finally:
        c.close()
    assert [f.uid for f in got] == [2, 3, 4]
    assert got[0].data == mail(1) and got[0].size == len(mail(1))
    assert got[0].internaldate and got[0].internaldate.tzinfo is not None
    assert dovecot.flags("INBOX") == before_flags
    assert before_flags[6] == "\\Flagged" and "\\Seen" not in " ".join(before_flags.values())
    assert dovecot.maildir_files() == before_files


def test_non_ascii_folder_names(dovecot) -> None:
    for name in (CZECH, RUSSIAN):
        dovecot.create(name)
        dovecot.append(name, [mail(1, subject=name)])
    c = client_for(dovecot)
    try:
        names = {f.name for f in c.folders()}
        assert {CZECH, RUSSIAN, "INBOX"} <= names
        c.examine(RUSSIAN)
        [f] = c.fetch_bodies(RUSSIAN, 1, 1)
    finally:
        c.close()
    assert f.data == mail(1, subject=RUSSIAN)


def test_header_fingerprint_matches_the_full_message(dovecot) -> None:
    folded = "X-Note: a\r\nSubject: =?utf-8?q?Dlouh=C3=BD?=\r\n =?utf-8?q?_p=C5=99edm=C4=9Bt?=\r\n"
    raws = [mail(1), mail(2, size=5000), b"From: a@b\r\nSubject: no id\r\n\r\nhi\r\n", folded.encode() + b"\r\nbody\r\n", b"no header at all"]  # fmt: skip
    dovecot.append("INBOX", raws)
    c = client_for(dovecot)
    try:
        c.examine("INBOX")
        bodies = c.fetch_bodies("INBOX", 1, 5)
        heads = c.fetch_fingerprints("INBOX", 1, 5)
    finally:
        c.close()
    full = [fingerprint(header_section(f.data), f.size) for f in bodies]
    assert full == [fingerprint(f.data, f.size) for f in heads]
    assert len(set(full)) == 5


def test_large_message_and_long_lines(dovecot) -> None:
    big = mail(1, size=12 * 2**20, extra="X-Long: " + "x" * 200_000 + "\r\n")
    dovecot.append("INBOX", [big])
    c = client_for(dovecot)
    try:
        c.examine("INBOX")
        [f] = c.fetch_bodies("INBOX", 1, 1)
    finally:
        c.close()
    assert f.data == big


def test_wrong_password_is_an_auth_error_without_the_password(dovecot) -> None:
    c = ImapClient("127.0.0.1", dovecot.port, tls="none", timeout=10)
    c.connect()
    with pytest.raises(AuthError) as err:
        c.login(dovecot.user, "wrong-Secret-123", "OLD_INBOX_PASSWORD")
    c.close()
    assert "refused the login for support@shop.example" in str(err.value)
    assert "OLD_INBOX_PASSWORD" in str(err.value)
    assert "wrong-Secret-123" not in str(err.value)


def test_unreachable_port_is_remote_unavailable(dovecot) -> None:
    from tests.servers.postgres import free_port

    c = ImapClient("127.0.0.1", free_port(), tls="none", timeout=5)
    with pytest.raises(RemoteUnavailable, match="cannot reach the IMAP server 127.0.0.1:"):
        c.connect()


def test_untrusted_certificate_is_refused(dovecot) -> None:
    c = ImapClient("127.0.0.1", dovecot.tls_port, tls="implicit", timeout=5)
    with pytest.raises(FatalRemoteError, match="TLS certificate of 127.0.0.1:.* is not trusted"):
        c.connect()


def test_tls_against_a_plain_port_fails_clearly(dovecot) -> None:
    c = ImapClient("127.0.0.1", dovecot.port, tls="implicit", timeout=5, cafile=str(dovecot.cafile))
    with pytest.raises(FatalRemoteError, match="TLS handshake with 127.0.0.1:.* failed"):
        c.connect()


def test_plain_client_on_a_tls_port_times_out(dovecot) -> None:
    c = ImapClient("127.0.0.1", dovecot.tls_port, tls="none", timeout=1)
    with pytest.raises(RemoteUnavailable, match="did not answer within 1s"):
        c.connect()
