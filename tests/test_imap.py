"""IMAP source against a real Dovecot on 127.0.0.1 (tests/servers/dovecot.py)."""

from __future__ import annotations

import base64
import imaplib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from deskmove.errors import AuthError, FatalRemoteError, RemoteUnavailable, RetriableError
from deskmove.sources.imap import fingerprint, header_section, plan_batches
from deskmove.sources.imap_client import (
    ImapClient,
    decode_mailbox,
    encode_mailbox,
    parse_internaldate,
)

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
        return (
            head + "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + text
        ).encode()
    blob = base64.encodebytes(bytes(range(256)) * (size // 256 + 1))[:size]
    return (
        (
            head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + text
            + '--b1\r\nContent-Type: application/pdf; name="faktura.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + blob.replace(b"\n", b"\r\n")
        + b"\r\n--b1--\r\n"
    )


# `dovecot` (an account of the test's own on the module's server) and `own_dovecot`
# (a server for one test, which it may kill or pause) come from tests/conftest.py.


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
    raws = [
        mail(1),
        mail(2, size=5000),
        b"From: a@b\r\nSubject: no id\r\n\r\nhi\r\n",
        folded.encode() + b"\r\nbody\r\n",
        b"no header at all",
    ]
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
    assert f"refused the login for {dovecot.user}" in str(err.value)
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


# -- the source, end to end through the CLI ------------------------------------------------
READ_ONLY_COMMANDS = {
    "CAPABILITY",
    "AUTHENTICATE",
    "LOGIN",
    "LIST",
    "STATUS",
    "EXAMINE",
    "UID FETCH",
    "LOGOUT",
    "STARTTLS",
}


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every IMAP command any client sends, as (command, arguments)."""
    sent: list[tuple[str, str]] = []
    original = imaplib.IMAP4.send

    def send(self, data: bytes) -> None:
        m = re.match(rb"[A-Z]{4}\d+ (UID [A-Z]+|[A-Z]+) ?(.*)", data)
        if m:
            sent.append((m.group(1).decode(), m.group(2).decode("utf-8", "replace").strip()))
        return original(self, data)

    monkeypatch.setattr(imaplib.IMAP4, "send", send)
    return sent


def spec(server, folders: str = "INBOX", **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"tls": "none", **params}.items())
    return f"imap://{quote(server.user, safe='')}@127.0.0.1:{server.port}/{folders}?{query}"


def run(cli, server, source: str, *, password: str | None = None):
    result = cli(
        "--json", "import", source, env={"DESKMOVE_IMAP_PASSWORD": password or server.password}
    )
    report = json.loads(result.stdout) if result.exit_code in (0, 3) else None
    return result, report


def message_count(project) -> int:
    from deskmove.model import Message
    from deskmove.store import Store

    store = Store.open(project.store_url, project.blob_root)
    try:
        with store.begin() as conn:
            return conn.execute(
                sa.select(sa.func.count()).select_from(Message.__table__)
            ).scalar_one()
    finally:
        store.close()


def test_import_is_read_only_on_the_server(dovecot, cli, project, wire) -> None:
    dovecot.create("Sent")
    dovecot.create(CZECH)
    dovecot.append("INBOX", [mail(i) for i in range(4)])
    dovecot.append("INBOX", [mail(10)], flags="(\\Seen \\Answered)")
    dovecot.append("INBOX", [mail(11)], flags="(\\Flagged $Label1)")
    dovecot.append("Sent", [mail(i, subject="Re: Objednávka") for i in range(3)], flags="(\\Seen)")
    dovecot.append(CZECH, [mail(i, subject=CZECH) for i in range(2)])
    folders = ["INBOX", "Sent", CZECH]
    before = {f: dovecot.flags(f) for f in folders}, dovecot.maildir_files()
    wire.clear()

    result, report = run(cli, dovecot, spec(dovecot, "INBOX,Sent," + CZECH))
    sent = list(wire)

    assert result.exit_code == 0, result.stderr
    assert report["read"] == 11 and report["quarantined"] == 0
    assert message_count(project) == 11
    assert ({f: dovecot.flags(f) for f in folders}, dovecot.maildir_files()) == before
    assert {cmd for cmd, _ in sent} <= READ_ONLY_COMMANDS
    fetches = [args for cmd, args in sent if cmd == "UID FETCH"]
    assert fetches and all("BODY[" not in a and "RFC822 " not in a + " " for a in fetches)
    assert sorted(args for cmd, args in sent if cmd == "EXAMINE") == sorted(
        f'"{encode_mailbox(f)}"' for f in folders
    )


def test_internaldate_is_the_fallback_date(dovecot, cli, project) -> None:
    when = datetime(2023, 5, 4, 3, 2, 1, tzinfo=UTC)
    dovecot.append(
        "INBOX", [b"From: a@zakaznik.example\r\nSubject: no date\r\n\r\nhi\r\n"], dates=[when]
    )
    result, _ = run(cli, dovecot, spec(dovecot))
    assert result.exit_code == 0, result.stderr
    from deskmove.model import Message
    from deskmove.store import Store

    store = Store.open(project.store_url, project.blob_root)
    with store.begin() as conn:
        created = conn.execute(sa.select(Message.__table__.c.created_at)).scalar_one()
    store.close()
    assert created.replace(tzinfo=created.tzinfo or UTC) == when


def test_rerun_with_nothing_new_costs_one_status_per_folder(dovecot, cli, wire) -> None:
    dovecot.create("Sent")
    dovecot.append("INBOX", [mail(i) for i in range(3)])
    dovecot.append("Sent", [mail(9)])
    assert run(cli, dovecot, spec(dovecot, "INBOX,Sent"))[0].exit_code == 0
    wire.clear()
    result, report = run(cli, dovecot, spec(dovecot, "INBOX,Sent"))
    assert result.exit_code == 0 and report["read"] == 0
    assert [cmd for cmd, _ in wire if cmd not in ("AUTHENTICATE", "CAPABILITY", "LOGOUT")] == [
        "STATUS",
        "STATUS",
    ]


def test_new_mail_is_fetched_in_batched_uid_ranges(dovecot, cli, project, store, wire) -> None:
    dovecot.append("INBOX", [mail(i) for i in range(7)])
    result, report = run(cli, dovecot, spec(dovecot, batch="3"))
    assert result.exit_code == 0 and report["read"] == 7
    bodies = [a.split()[0] for c, a in wire if c == "UID FETCH" and "BODY.PEEK[]" in a]
    assert bodies == ["1:3", "4:6", "7:7"]
    dovecot.append("INBOX", [mail(i) for i in range(7, 9)])
    wire.clear()
    result, report = run(cli, dovecot, spec(dovecot, batch="3"))
    assert result.exit_code == 0 and report["read"] == 2
    assert [a.split()[0] for c, a in wire if c == "UID FETCH"] == ["8:*", "8:9"]
    cursor = store.get_state(next(iter(_connections(store))))["INBOX"]
    assert cursor["last_uid"] == 9 and cursor["uidnext"] == 10 and cursor["highestmodseq"]
    assert message_count(project) == 9


def _connections(store) -> list[str]:
    from deskmove.model import SyncState

    with store.begin() as conn:
        return list(conn.execute(sa.select(SyncState.__table__.c.connection).distinct()).scalars())


def test_expunged_messages_and_a_small_server_line_limit(tmp_path, cli, project, wire) -> None:
    from tests.servers.dovecot import DovecotServer

    server = DovecotServer(max_line=1000)
    try:
        server.start()
        server.deliver("INBOX", [mail(i) for i in range(600)])
        with server.session() as imap:  # every third message goes: UIDs are far from contiguous
            imap.select("INBOX")
            imap.uid(
                "STORE", ",".join(str(u) for u in range(1, 601, 3)), "+FLAGS.SILENT (\\Deleted)"
            )
            imap.expunge()
        wire.clear()
        result, report = run(cli, server, spec(server, batch="150"))
        assert result.exit_code == 0, result.stderr
        assert report["read"] == 400 and message_count(project) == 400
        ranges = [a.split()[0] for c, a in wire if c == "UID FETCH" and "BODY.PEEK[]" in a]
        assert ranges == ["2:225", "227:450", "452:600"]
    finally:
        server.cleanup()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_uidvalidity_change_rematches_instead_of_reimporting(
    dovecot, cli, project, wire, backend, request, monkeypatch
) -> None:
    if backend == "postgres":  # the re-match reads the store: both databases
        monkeypatch.setenv("DESKMOVE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    dovecot.create("Support")
    old = [mail(i, subject="Reklamace") for i in range(4)] + [b"garbage, not a mail\r\n"]
    dovecot.append("Support", old)
    result, report = run(cli, dovecot, spec(dovecot, "Support"))
    assert result.exit_code == 3 and report["quarantined"] == 1  # kept, and matched later too
    before = dovecot.status_of("Support")
    dovecot.delete("Support")  # the folder is recreated (a restore, a server move)
    dovecot.create("Support")
    dovecot.append("Support", [*old, mail(99, subject="Reklamace")])
    assert dovecot.status_of("Support")[0] != before[0]
    wire.clear()

    result, report = run(cli, dovecot, spec(dovecot, "Support"))

    assert result.exit_code == 0, result.stderr
    assert report["read"] == 1 and message_count(project) == 5
    assert "UIDVALIDITY changed" in " ".join(report["notes"])
    assert [a.split()[0] for c, a in wire if c == "UID FETCH" and "BODY.PEEK[]" in a] == ["6:6"]
    wire.clear()
    assert run(cli, dovecot, spec(dovecot, "Support"))[1]["read"] == 0
    assert [c for c, _ in wire if c in ("EXAMINE", "UID FETCH")] == []


def kill_mid_response(server, imap: imaplib.IMAP4) -> None:
    """SIGKILL the server while ``imap`` reads a FETCH response, and lose the rest of it here.

    What the killed server had already written into the socket still arrives (how much
    depends on how far ahead of the client it had got); it is read and dropped, as if it
    had been lost with the server, so the client always fails inside this response.
    """
    server.kill()
    try:
        while imap.sock.recv(1 << 20):
            pass
    except OSError:
        pass  # reset instead of closed: nothing more will come either way


def test_server_killed_mid_fetch_then_rerun_finishes(
    own_dovecot, cli, project, monkeypatch
) -> None:
    dovecot = own_dovecot
    dovecot.deliver("INBOX", [mail(i, size=20_000) for i in range(30)])
    literals = 0
    original = imaplib.IMAP4.read

    def read(self, size: int) -> bytes:
        nonlocal literals
        literals += 1
        if literals == 13:  # the third message of the second UID FETCH of bodies
            kill_mid_response(dovecot, self)
        return original(self, size)

    monkeypatch.setattr(imaplib.IMAP4, "read", read)
    result, _ = run(cli, dovecot, spec(dovecot, batch="10", retries="0"))
    assert result.exit_code == 1
    assert "Error: lost the connection to 127.0.0.1:" in result.stderr
    assert "run the same command again" in result.stderr and "Traceback" not in result.stderr
    assert message_count(project) == 10  # the first batch was committed and stays

    monkeypatch.setattr(imaplib.IMAP4, "read", original)
    dovecot.start()
    result, report = run(cli, dovecot, spec(dovecot, batch="10"))
    assert result.exit_code == 0, result.stderr
    assert report["read"] == 20 and message_count(project) == 30


def test_missing_folder_names_the_folders_that_exist(dovecot, cli) -> None:
    dovecot.create("Sent")
    dovecot.create(CZECH)
    result, _ = run(cli, dovecot, spec(dovecot, "INBOX,Archiv"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: the folder 'Archiv' does not exist on 127.0.0.1:{dovecot.port} "
        f"— folders there: INBOX, Sent (\\Sent), {CZECH}"
    )


def test_wrong_password_exits_1_without_printing_it(dovecot, cli) -> None:
    result, _ = run(cli, dovecot, spec(dovecot), password="Hunter2-wrong")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: the IMAP server 127.0.0.1:{dovecot.port} refused the login for "
        f"{dovecot.user} — check the user and the password in DESKMOVE_IMAP_PASSWORD"
    )
    assert "Hunter2" not in result.stdout + result.stderr


def test_missing_password_names_the_variable(dovecot, cli, monkeypatch) -> None:
    monkeypatch.delenv("DESKMOVE_IMAP_PASSWORD", raising=False)
    result = cli("import", spec(dovecot))
    assert result.exit_code == 2
    assert "set the environment variable DESKMOVE_IMAP_PASSWORD" in result.stderr


def test_named_connection_over_tls_with_its_own_password_variable(
    dovecot, cli, project_dir, project
) -> None:
    dovecot.append("INBOX", [mail(1)])
    dovecot.create("Sent, 2023")  # a comma: only the project file's folder list can name it
    dovecot.append("Sent, 2023", [mail(2)])
    toml = project_dir / "deskmove.toml"
    toml.write_text(
        toml.read_text("utf-8") + "\n[connections.old-inbox]\n"
        f'spec = "imaps://{quote(dovecot.user, safe="")}@localhost:{dovecot.tls_port}"\n'
        'folders = ["INBOX", "Sent, 2023"]\n'
        'password = { env = "OLD_INBOX_PASSWORD" }\n'
        f'cafile = "{dovecot.cafile}"\n',
        "utf-8",
    )
    result = cli(
        "import",
        "old-inbox",
        env={"OLD_INBOX_PASSWORD": dovecot.password, "DESKMOVE_IMAP_PASSWORD": ""},
    )
    assert result.exit_code == 0, result.stderr
    assert "read 2 = 2 imported" in result.stdout
    assert message_count(project) == 2


def test_unreachable_server_is_a_clear_error(cli) -> None:
    from tests.servers.postgres import free_port

    port = free_port()
    result = cli(
        "import", f"imap://u@127.0.0.1:{port}/INBOX?tls=none", env={"DESKMOVE_IMAP_PASSWORD": "x"}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot reach the IMAP server 127.0.0.1:{port}")


@pytest.mark.parametrize(
    "source,message",
    [
        ("imap://127.0.0.1/INBOX", "names no user"),
        ("imap://u@127.0.0.1/INBOX?tls=ssl", "?tls=ssl is not a TLS mode"),
        ("imap://u@127.0.0.1/INBOX?batch=0", "?batch=0 is not a positive whole number"),
        ("imap://u@127.0.0.1/INBOX?retries=-1", "?retries=-1 is not a whole number from 0 up"),
        (
            "imaps://u@127.0.0.1/INBOX?cafile=/nonexistent.pem",
            "cannot read the CA file /nonexistent.pem",
        ),
    ],
    ids=["no-user", "bad-tls", "bad-batch", "bad-retries", "missing-cafile"],
)
def test_bad_specs_are_usage_errors(cli, source: str, message: str) -> None:
    result = cli("import", source, env={"DESKMOVE_IMAP_PASSWORD": "x"})
    assert result.exit_code == 2 and message in result.stderr


def test_untrusted_certificate_through_the_cli(dovecot, cli) -> None:
    source = f"imaps://{quote(dovecot.user, safe='')}@localhost:{dovecot.tls_port}/INBOX"
    result = cli("import", source, env={"DESKMOVE_IMAP_PASSWORD": dovecot.password})
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: the TLS certificate of localhost:{dovecot.tls_port} is not trusted"
    )
    assert "?cafile=PATH" in result.stderr


def test_empty_folder_then_first_mail(dovecot, cli, project, wire) -> None:
    dovecot.create("Prázdná")
    source = spec(dovecot, "Prázdná", tls="starttls", cafile=str(dovecot.cafile))
    result, report = run(cli, dovecot, source)
    assert result.exit_code == 0, result.stderr
    assert report["read"] == 0
    wire.clear()
    assert run(cli, dovecot, source)[1]["read"] == 0
    assert [c for c, _ in wire if c in ("EXAMINE", "UID FETCH")] == []
    dovecot.append("Prázdná", [mail(1)])
    assert run(cli, dovecot, source)[1]["read"] == 1 and message_count(project) == 1


def test_a_server_that_stops_answering_times_out(own_dovecot) -> None:
    dovecot = own_dovecot
    dovecot.append("INBOX", [mail(1)])
    c = client_for(dovecot)  # connects and logs in with time to spare on a busy machine …
    c.examine("INBOX")
    assert c.imap is not None
    c.imap.sock.settimeout(1)  # … and waits 1 s for the answer that will not come
    dovecot.pause()
    try:
        with pytest.raises(
            RetriableError,
            match=r"lost the connection .* while fetching INBOX \(UIDs 1:1\) \(timed out\)",
        ):
            c.fetch_bodies("INBOX", 1, 1)
    finally:
        dovecot.resume()
    c.close()


def test_a_lost_connection_is_reopened_and_the_folder_resumed(
    own_dovecot, cli, project, monkeypatch
) -> None:
    dovecot = own_dovecot
    dovecot.deliver("INBOX", [mail(i, size=20_000) for i in range(30)])
    literals = 0
    original = imaplib.IMAP4.read

    def read(self, size: int) -> bytes:
        nonlocal literals
        literals += 1
        if literals == 13:  # the server restarts in the middle of the second batch
            kill_mid_response(dovecot, self)
            dovecot.start()
        return original(self, size)

    monkeypatch.setattr(imaplib.IMAP4, "read", read)
    result, report = run(cli, dovecot, spec(dovecot, batch="10"))
    assert result.exit_code == 0, result.stderr
    assert report["read"] == 30 and report["new"] == 30 and message_count(project) == 30
    assert any(
        "INBOX: lost the connection" in n and "reconnected and resumed" in n
        for n in report["notes"]
    )


def test_folders_share_one_set_of_parsing_workers(dovecot, cli, project, monkeypatch) -> None:
    """Worker processes start once per run, not once per folder (each start costs an import)."""
    from deskmove.mail import parallel
    from deskmove.sources import imap

    dovecot.create("Sent")
    dovecot.create(CZECH)
    dovecot.append("INBOX", [mail(i) for i in range(6)])
    dovecot.append("Sent", [mail(i, subject="Re: Objednávka") for i in range(4)])
    dovecot.append(CZECH, [mail(i, subject=CZECH) for i in range(3)])
    started = []
    original = parallel.WorkerPool.__init__

    def init(self, workers, root) -> None:
        started.append(workers)
        original(self, workers, root)

    monkeypatch.setattr(parallel.WorkerPool, "__init__", init)
    monkeypatch.setattr(imap, "PARALLEL_FROM", 0)
    monkeypatch.setenv("DESKMOVE_WORKERS", "2")
    result, report = run(cli, dovecot, spec(dovecot, "INBOX,Sent," + CZECH, batch="4"))
    assert result.exit_code == 0, result.stderr
    assert report["read"] == 13 and message_count(project) == 13
    assert started == [2]


def test_a_lost_connection_in_a_later_folder_resumes_there(
    own_dovecot, cli, project, store, monkeypatch
) -> None:
    dovecot = own_dovecot
    dovecot.deliver("INBOX", [mail(i, size=20_000) for i in range(12)])
    dovecot.deliver("Sent", [mail(100 + i, size=20_000) for i in range(12)])
    literals = 0
    original = imaplib.IMAP4.read

    def read(self, size: int) -> bytes:
        nonlocal literals
        literals += 1
        if literals == 12 + 8:  # INBOX's 12 bodies, then the third of Sent's second batch
            kill_mid_response(dovecot, self)
            dovecot.start()
        return original(self, size)

    monkeypatch.setattr(imaplib.IMAP4, "read", read)
    result, report = run(cli, dovecot, spec(dovecot, "INBOX,Sent", batch="5"))
    assert result.exit_code == 0, result.stderr
    assert report["read"] == 24 and report["new"] == 24 and message_count(project) == 24
    assert any(
        n.startswith("Sent: lost the connection") and "reconnected and resumed" in n
        for n in report["notes"]
    ), report["notes"]
    cursors = store.get_state(next(iter(_connections(store))))
    assert cursors["INBOX"]["last_uid"] == 12 and cursors["Sent"]["last_uid"] == 12


def _log_fetches(monkeypatch, log) -> None:
    """Each UID FETCH of mail, as ``fetch a:b``, into the crash log beside the checkpoints."""
    original = imaplib.IMAP4.send

    def send(self, data: bytes) -> None:
        m = re.match(rb"[A-Z]{4}\d+ UID FETCH (\S+) \(UID RFC822\.SIZE INTERNALDATE BODY", data)
        if m:
            with log.open("a") as fh:
                fh.write(f"fetch {m.group(1).decode()}\n")
        return original(self, data)

    monkeypatch.setattr(imaplib.IMAP4, "send", send)


def test_the_next_batch_is_on_the_wire_before_this_one_is_written(
    dovecot, cli, project, monkeypatch, tmp_path
) -> None:
    """Fetching overlaps parsing and writing: batch k+1's UID FETCH goes out before batch k
    is committed (and its errors still surface in order, see the kill tests)."""
    log = tmp_path / "order.log"
    monkeypatch.setenv("DESKMOVE_CRASH_LOG", str(log))
    _log_fetches(monkeypatch, log)
    # Batch k waits before its commit (at most 10 s) until batch k+1's FETCH was sent: which
    # thread runs first is the machine's choice, and on a busy one the writer can reach its
    # commit before the fetcher gets to send. A fetch that only starts once the batch is
    # committed never comes while it waits, and the order below still fails.
    import deskmove.sync

    original_checkpoint = deskmove.sync.checkpoint
    befores = 0

    def checkpoint(name: str, detail: str = "") -> None:
        nonlocal befores
        if name == "ingest" and detail.startswith("before") and befores < 2:
            befores += 1
            wanted = re.compile(rf"^fetch {3 * befores + 1}[:\n]", re.MULTILINE)  # "fetch 4:6"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not wanted.search(log.read_text()):
                time.sleep(0.01)
        original_checkpoint(name, detail)

    monkeypatch.setattr(deskmove.sync, "checkpoint", checkpoint)
    dovecot.append("INBOX", [mail(i) for i in range(9)])
    result, report = run(cli, dovecot, spec(dovecot, batch="3"))
    assert result.exit_code == 0 and report["read"] == 9
    events = [
        line.split()[0] + " " + line.split()[1].split(":")[0]
        for line in log.read_text().splitlines()
    ]
    assert events[:2] == ["fetch 1", "fetch 4"]
    assert events.index("fetch 4") < events.index("ingest:1 before")
    assert events.index("fetch 7") < events.index("ingest:3 before")
    assert message_count(project) == 9


def test_the_next_folder_is_opened_while_the_last_batch_of_one_is_written(
    dovecot, cli, project, store, monkeypatch, tmp_path
) -> None:
    """From one folder to the next the wire does not go quiet: the next folder's EXAMINE,
    UID listing and first FETCH go out while the previous folder's last batch is written
    (they waited for its commit before, and the parsing workers with them)."""
    log = tmp_path / "order.log"
    monkeypatch.setenv("DESKMOVE_CRASH_LOG", str(log))
    original_send = imaplib.IMAP4.send

    def send(self, data: bytes) -> None:
        m = re.match(
            rb"[A-Z]{4}\d+ (EXAMINE \S+|UID FETCH \S+ \(UID RFC822\.SIZE INTERNALDATE BODY)", data
        )
        if m:
            with log.open("a") as fh:
                fh.write(" ".join(m.group(1).decode().split()[:3]).lower() + "\n")
        return original_send(self, data)

    monkeypatch.setattr(imaplib.IMAP4, "send", send)
    import deskmove.sync

    original_checkpoint = deskmove.sync.checkpoint
    befores = 0

    def checkpoint(name: str, detail: str = "") -> None:
        nonlocal befores
        if name == "ingest" and detail.startswith("before"):
            befores += 1
            if befores == 2:  # INBOX's last batch waits (10 s at most) for Sent's first FETCH
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and log.read_text().count("uid fetch 1:") < 2:
                    time.sleep(0.01)
        original_checkpoint(name, detail)

    monkeypatch.setattr(deskmove.sync, "checkpoint", checkpoint)
    dovecot.create("Sent")
    dovecot.append("INBOX", [mail(i) for i in range(6)])
    dovecot.append("Sent", [mail(10 + i, subject="Re: Objednávka") for i in range(4)])
    result, report = run(cli, dovecot, spec(dovecot, "INBOX,Sent", batch="3"))
    assert result.exit_code == 0, result.stderr
    assert report["read"] == 10 and message_count(project) == 10
    lines = log.read_text().splitlines()
    befores_at = [
        k for k, line in enumerate(lines) if line.startswith("ingest:") and "before" in line
    ]
    assert [line for line in lines if not line.startswith("ingest:")] == [
        'examine "inbox"',
        "uid fetch 1:3",
        "uid fetch 4:6",
        'examine "sent"',
        "uid fetch 1:3",
        "uid fetch 4:4",
    ]
    assert lines.index('examine "sent"') < befores_at[1]  # before INBOX's last batch is written
    cursors = store.get_state(next(iter(_connections(store))))
    assert cursors["INBOX"]["last_uid"] == 6 and cursors["Sent"]["last_uid"] == 4


def test_a_folder_first_batch_is_not_held_once_handed_on(dovecot, project, monkeypatch) -> None:
    """The first batch, fetched with the folder's opening, is let go like any other batch:
    the source keeps no reference to its mails while the later batches go through."""
    import sys

    from deskmove.config import parse_spec
    from deskmove.sources.imap import ImapSource

    monkeypatch.setenv("DESKMOVE_IMAP_PASSWORD", dovecot.password)
    dovecot.append("INBOX", [mail(i) for i in range(6)])
    src = ImapSource(parse_spec(spec(dovecot, batch="3")), project)
    client = src._session()
    try:
        status = client.status("INBOX")
        batches = src._folder(client, None, None, "INBOX", status, None, [])
        first = next(batches).mails
        assert len(first) == 3
        second = next(batches)
        assert len(second.mails) == 3
        assert sys.getrefcount(first) == 2  # this test's name for it, and the call's argument
    finally:
        src.close()


def test_the_batch_fetched_ahead_is_one_of_the_batches_read_ahead(
    dovecot, cli, project, monkeypatch, tmp_path
) -> None:
    """With parsing workers, the batch on the wire is one of the pipeline's read-ahead, not
    one more: while batch 1 is written, batch 2 is parsed and batch 3 fetched; batch 4's
    FETCH waits until batch 1 is committed (it went out at once before, so a fourth
    batch's mail was held while the first was written)."""
    from deskmove.sources import imap

    log = tmp_path / "order.log"
    monkeypatch.setenv("DESKMOVE_CRASH_LOG", str(log))
    monkeypatch.setattr(imap, "PARALLEL_FROM", 0)
    monkeypatch.setenv("DESKMOVE_WORKERS", "2")
    _log_fetches(monkeypatch, log)
    import deskmove.sync

    original_checkpoint = deskmove.sync.checkpoint
    waited = False

    def checkpoint(name: str, detail: str = "") -> None:
        nonlocal waited
        if name == "ingest" and detail.startswith("before") and not waited:
            waited = True  # give a fourth FETCH every chance to go out before batch 1's commit
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and "fetch 10:" not in log.read_text():
                time.sleep(0.01)
        original_checkpoint(name, detail)

    monkeypatch.setattr(deskmove.sync, "checkpoint", checkpoint)
    dovecot.append("INBOX", [mail(i) for i in range(15)])
    result, report = run(cli, dovecot, spec(dovecot, batch="3"))
    assert result.exit_code == 0 and report["read"] == 15
    lines = log.read_text().splitlines()
    # the checkpoints' numbers go on from earlier imports in this process: count them here
    ingests = [k for k, line in enumerate(lines) if line.startswith("ingest:")]
    befores, afters = ingests[::2], ingests[1::2]
    fetches = {line.split()[1].split(":")[0]: k for k, line in enumerate(lines) if "fetch" in line}
    assert fetches["7"] < befores[0]  # still fetched ahead while batch 1 is written
    assert fetches["10"] > afters[0]  # but not a fourth batch
    assert fetches["13"] > afters[1]
    assert message_count(project) == 15


CONTENTS = {
    "messages": "SELECT ticket_id, message_id, direction, body_text, raw_sha256 FROM messages ORDER BY id",
    "tickets": "SELECT id, subject, status FROM tickets ORDER BY id",
    "state": "SELECT connection, stream, cursor FROM sync_state ORDER BY stream",
    "search": "SELECT rowid, doc FROM search_fts ORDER BY rowid",
}


def _contents(root) -> dict[str, list]:
    engine = sa.create_engine(f"sqlite:///{root / 'deskmove.db'}")
    with engine.connect() as c:
        out = {k: [tuple(r) for r in c.execute(sa.text(q))] for k, q in CONTENTS.items()}
    engine.dispose()
    return out


@pytest.mark.timeout(600)
def test_killed_while_fetching_ahead_and_parsing_then_rerun_equals_one_clean_run(
    dovecot, tmp_path
) -> None:
    """kill -9 at commit points of a two-folder import with worker processes and the fetch
    run ahead: the re-run resumes from the saved UIDs and leaves the store a clean run leaves."""
    import os
    import signal

    from deskmove.config import init_project
    from tests.launch import Launcher

    dovecot.deliver("INBOX", [mail(i) for i in range(36)])
    dovecot.deliver("Sent", [mail(100 + i, subject="Re: Objednávka") for i in range(24)])
    source = spec(dovecot, "INBOX,Sent", batch="8")
    env = {**os.environ, "DESKMOVE_IMAP_PASSWORD": dovecot.password, "DESKMOVE_WORKERS": "2"}
    env.pop("DESKMOVE_DATABASE_URL", None)
    runs = Launcher(preload="import deskmove.sources.imap as i; i.PARALLEL_FROM = 0")
    try:

        def project(name: str):
            root = tmp_path / name
            init_project(root)
            return root

        clean = project("clean")
        log = tmp_path / "clean.log"
        done = runs.run(
            ["--project", str(clean), "--json", "import", source],
            env={**env, "DESKMOVE_CRASH_LOG": str(log)},
        )
        assert done.returncode == 0, done.stderr
        want = _contents(clean)
        assert len(want["messages"]) == 60
        points = [k for k, line in enumerate(log.read_text().splitlines(), 1) if " before " in line]
        assert len(points) >= 8
        for k in (points[1], points[len(points) // 2], points[-1]):
            root = project(f"kill-{k}")
            killed = runs.run(
                ["--project", str(root), "import", source],
                env={**env, "DESKMOVE_CRASH_AT": f"ingest:{k}"},
            )
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            again = runs.run(["--project", str(root), "--json", "import", source], env=env)
            assert again.returncode == 0, again.stderr
            assert json.loads(again.stdout)["read"] < 60  # resumed from the committed UIDs
            assert _contents(root) == want, f"killed at ingest:{k}"
    finally:
        runs.close()
