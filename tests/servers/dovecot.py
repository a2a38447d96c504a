"""A throwaway Dovecot IMAP server on 127.0.0.1 for the tests (Debian's dovecot-imapd).

Everything lives in a temporary folder: the config, a passwd-file per user,
the Maildir, a self-signed certificate (made with the ``openssl`` CLI) and the
log. ``dovecot -F -c CONF`` runs in its own process group so :meth:`kill` can
take the whole server down mid-fetch, and :meth:`start` can bring it back on
the same ports over the same mail.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from deskmove.sources.imap_client import encode_mailbox, quote
from tests.servers.postgres import free_port

USER = "support@shop.example"
PASSWORD = "correct horse ✓ battery"  # non-ASCII on purpose: AUTHENTICATE PLAIN must carry it

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 0
first_valid_gid = 0
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain login
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
mail_location = maildir:{dir}/mail/%n
mail_uid = {mail_uid}
mail_gid = {mail_gid}
mail_privileged_group =
mail_fsync = never
imap_max_line_length = {max_line}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users/%n
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={dir}/home/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service stats {{
  chroot =
}}
"""


_CERT_DIR: Path | None = None


def _certificate() -> Path:
    """One self-signed certificate for localhost per test process (a P-256 key: made in ms)."""
    global _CERT_DIR
    if _CERT_DIR is None or not (_CERT_DIR / "key.pem").exists():
        folder = Path(tempfile.mkdtemp(prefix="deskmove-cert-"))
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
                str(folder / "key.pem"),
                "-out",
                str(folder / "cert.pem"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _CERT_DIR = folder
    return _CERT_DIR


class DovecotServer:
    """``dovecot -F`` in a temporary folder; plain IMAP on :attr:`port`, implicit TLS on :attr:`tls_port`."""

    def __init__(self, max_line: int = 65536) -> None:
        self.binary = shutil.which("dovecot") or (
            "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None
        )
        if not self.binary:
            raise RuntimeError("dovecot not found (apt-get install dovecot-imapd)")
        if not shutil.which("openssl"):
            raise RuntimeError("openssl not found (apt-get install openssl)")
        self.dir = Path(tempfile.mkdtemp(prefix="deskmove-dovecot-"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.tls_port = free_port()
        self.max_line = max_line
        self.user, self.password = USER, PASSWORD
        self._accounts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- setup --------------------------------------------------------------------
    def _write_config(self) -> None:
        me = pwd.getpwuid(os.geteuid())
        root = os.geteuid() == 0
        internal = "dovecot" if root else me.pw_name
        login = "dovenull" if root else me.pw_name
        # Dovecot never reads mail as root: as root, the mail belongs to the `dovecot` user.
        mail_user = pwd.getpwnam("dovecot") if root else me
        for sub in ("run", "state", "mail", "home"):
            (self.dir / sub).mkdir()
        for sub in ("mail", "home"):
            os.chown(self.dir / sub, mail_user.pw_uid, mail_user.pw_gid)
        self.conf = self.dir / "dovecot.conf"
        self.conf.write_text(
            CONFIG.format(
                dir=self.dir,
                internal=internal,
                internal_group=internal,
                login=login,
                mail_uid=mail_user.pw_uid,
                mail_gid=mail_user.pw_gid,
                port=self.port,
                tls_port=self.tls_port,
                max_line=self.max_line,
            ),
            encoding="utf-8",
        )
        (self.dir / "users").mkdir()
        self._add_user(self.user)
        for name in ("cert.pem", "key.pem"):
            shutil.copyfile(_certificate() / name, self.dir / name)
        self.cafile = self.dir / "cert.pem"

    @property
    def maildir(self) -> Path:
        """The user's Maildir (INBOX is its top level; folder ``X`` is ``.X`` or ``X``)."""
        return self.dir / "mail" / self.user.split("@")[0]

    # -- process ------------------------------------------------------------------
    def start(self, timeout: float = 30) -> None:
        log = open(self.dir / "stdout.log", "ab")  # noqa: SIM115 - kept for the process's life
        self.proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dovecot did not start within {timeout}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the server and its children at once (the 'server gone' case)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        self.kill()  # a throwaway server needs no graceful shutdown (that takes a second)
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def new_account(self) -> str:
        """Switch to a new, empty account on this server (its own Maildir, UIDs from 1).

        Tests that share one server each get an account of their own instead of a
        new server. Each user has its own passwd-file (``users/%n``), read by Dovecot
        when that user first logs in.
        """
        self._accounts += 1
        self.user = f"support{self._accounts}@shop.example"
        self._add_user(self.user)
        return self.user

    def _add_user(self, user: str) -> None:
        path = self.dir / "users" / user.split("@")[0]
        path.write_text(f"{user}:{{PLAIN}}{self.password}\n", "utf-8")

    def log_tail(self, n: int = 20) -> str:
        lines: list[str] = []
        for name in ("dovecot.log", "stdout.log"):
            path = self.dir / name
            if path.exists():
                lines += path.read_text("utf-8", "replace").splitlines()[-n:]
        return "\n".join(lines)

    # -- seeding and inspection (a second, independent connection) ------------------
    def connect(self) -> imaplib.IMAP4:
        """A logged-in plain connection, for seeding and for checking what the server holds."""
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        cred = f"\0{self.user}\0{self.password}".encode()
        imap.authenticate("PLAIN", lambda _: cred)
        return imap

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))

    def create(self, folder: str) -> None:
        with self.session() as imap:
            typ, data = imap.create(quote(encode_mailbox(folder)))
            assert typ == "OK", data

    def delete(self, folder: str) -> None:
        with self.session() as imap:
            typ, data = imap.delete(quote(encode_mailbox(folder)))
            assert typ == "OK", data

    def append(
        self,
        folder: str,
        messages: list[bytes],
        *,
        flags: str | None = None,
        dates: list[datetime] | None = None,
    ) -> None:
        """APPEND each message (CRLF line ends), with optional flags and INTERNALDATEs."""
        with self.session() as imap:
            for i, raw in enumerate(messages):
                date = dates[i] if dates else None
                typ, data = imap.append(quote(encode_mailbox(folder)), flags, date, raw)
                assert typ == "OK", data

    def deliver(self, folder: str, messages: list[bytes]) -> None:
        """Put messages straight into the folder's Maildir, in this order (UIDs follow it).

        For seeding many at once: each APPEND costs Dovecot a rewrite of the folder's
        UID list. Dovecot finds the files at the next session's EXAMINE/SELECT/STATUS;
        they carry no flags.
        """
        box = self.maildir if folder == "INBOX" else self.maildir / ("." + encode_mailbox(folder))
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        if folder != "INBOX":
            (box / "maildirfolder").touch()
        stamp = int(time.time())
        for i, raw in enumerate(messages):  # Dovecot sorts new files by time, then by M<usecs>
            name = f"{stamp}.M{i:06d}P{os.getpid()}.deskmove-tests"
            (box / "tmp" / name).write_bytes(raw)
            os.rename(box / "tmp" / name, box / "new" / name)
        if os.geteuid() == 0:  # as root, Dovecot reads the mail as the `dovecot` user
            owner = pwd.getpwnam("dovecot")
            for path in [self.maildir, *self.maildir.rglob("*")]:
                os.chown(path, owner.pw_uid, owner.pw_gid)

    def flags(self, folder: str) -> dict[int, str]:
        """uid -> the server's flags, read after EXAMINE (which changes nothing)."""
        with self.session() as imap:
            typ, _ = imap.select(quote(encode_mailbox(folder)), readonly=True)
            assert typ == "OK"
            typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS)")
        out = {}
        for line in data:
            if isinstance(line, bytes):
                uid = re.search(rb"UID (\d+)", line)
                flags = re.search(rb"FLAGS \(([^)]*)\)", line)
                if uid and flags:
                    kept = [f for f in flags.group(1).decode().split() if f != "\\Recent"]
                    out[int(uid.group(1))] = " ".join(kept)  # \Recent is per session
        return out

    def maildir_files(self) -> list[str]:
        """Every message file name under the Maildir (their `:2,FLAGS` suffix included)."""
        return sorted(
            p.name
            for p in self.maildir.rglob("*")
            if p.is_file() and p.parent.name in ("cur", "new")
        )

    @contextmanager
    def session(self) -> Iterator[imaplib.IMAP4]:
        imap = self.connect()
        try:
            yield imap
        finally:
            imap.logout()

    def status_of(self, folder: str) -> tuple[int, int]:
        """(UIDVALIDITY, UIDNEXT) as the server reports them."""
        with self.session() as imap:
            typ, data = imap.status(quote(encode_mailbox(folder)), "(UIDVALIDITY UIDNEXT)")
        assert typ == "OK", data
        v = re.search(rb"UIDVALIDITY (\d+)", data[0])
        n = re.search(rb"UIDNEXT (\d+)", data[0])
        assert v and n
        return int(v.group(1)), int(n.group(1))

    def pause(self) -> None:
        """SIGSTOP the server and its children: it stops answering but keeps its sockets."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)
