"""A throwaway Request Tracker 5 on 127.0.0.1 for the tests (Debian's request-tracker5).

Everything lives in a temporary folder: an ``RT_SiteConfig.pm`` that points RT
at its own SQLite database there (``RT_SITE_CONFIG`` / ``RT_SITE_CONFIG_DIR``
keep the machine's /etc/request-tracker5 out of it), the database made from the
packaged schema by ``rt-setup-database --action init``, Mason's cache, and a
``sendmail`` stand-in that appends every mail RT sends to ``outgoing.mbox`` so
a test can prove that nobody was mailed. ``rt-server --port N`` runs in its own
process group; :meth:`start` waits for REST2 to answer, with a deadline.

RT checks the password of every REST2 request that logs in with one, by bcrypt at
the cost ``$BcryptCost`` says: RT's default of 12 takes a third of a second of CPU a
request on these machines, so the throwaway server uses bcrypt's lowest cost, 4. The
password is still checked on every request; only the key stretching is shorter.

RT reads dates in TicketSQL in its own time zone; the server runs in
``Europe/Prague`` on purpose, so the adapter's cursors are tested against a
zone that is not UTC.
"""

from __future__ import annotations

import mailbox
import os
import shutil
import signal
import subprocess
import tempfile
import time
from email.message import Message
from pathlib import Path
from typing import Any

import httpx

from tests.servers.postgres import free_port

RT_HOME = Path("/usr/share/request-tracker5")
RT_SERVER = RT_HOME / "libexec" / "rt-server"
USER, PASSWORD = "root", "password"  # the fresh database's administrator (RT's initialdata)

SITE_CONFIG = """\
Set($rtname, 'deskmove-test');
Set($Organization, 'deskmove.test');
Set($Timezone, '{timezone}');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{dir}/rt.db');
Set($DatabaseHost, 'localhost');
Set($DatabaseUser, '');
Set($DatabasePassword, '');
Set($WebDomain, '127.0.0.1');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:{port}');
Set($MasonDataDir, '{dir}/mason');
Set($LogToSyslog, undef);
Set($LogToSTDERR, 'error');
Set($CorrespondAddress, 'rt@deskmove.test');
Set($CommentAddress, 'rt-comment@deskmove.test');
Set($MailCommand, 'sendmailpipe');
Set($SendmailPath, '{dir}/sendmail');
Set($SendmailArguments, '');
Set($DisableGraphViz, 1);
Set($DisableGD, 1);
Set($BcryptCost, 4);
1;
"""

SENDMAIL = """\
#!/bin/sh
# RT's outgoing mail, kept for the tests instead of being sent.
{{ echo "From rt@deskmove.test Thu Jan  1 00:00:00 1970"; sed 's/^From />From /'; echo; }} >> '{dir}/outgoing.mbox'
"""


def rt_setup_database() -> str | None:
    for name in ("rt-setup-database-5", "rt-setup-database"):
        found = shutil.which(name) or (
            f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
        )
        if found:
            return found
    return None


class RTServer:
    """``rt-server`` over a fresh SQLite database; REST2 at :attr:`api`."""

    def __init__(self, timezone: str = "Europe/Prague") -> None:
        self.setup_db = rt_setup_database()
        if not RT_SERVER.exists() or not self.setup_db:
            raise RuntimeError(
                "Request Tracker 5 not found (apt-get install request-tracker5 rt5-db-sqlite)"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="deskmove-rt-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.url}/REST/2.0"
        self.user, self.password = USER, PASSWORD
        self.proc: subprocess.Popen[bytes] | None = None
        (self.dir / "siteconfig.d").mkdir()
        (self.dir / "mason").mkdir()
        (self.dir / "RT_SiteConfig.pm").write_text(
            SITE_CONFIG.format(dir=self.dir, port=self.port, timezone=timezone), "utf-8"
        )
        sendmail = self.dir / "sendmail"
        sendmail.write_text(SENDMAIL.format(dir=self.dir), "utf-8")
        sendmail.chmod(0o755)
        self.env = {
            **os.environ,
            "RT_SITE_CONFIG": str(self.dir / "RT_SiteConfig.pm"),
            "RT_SITE_CONFIG_DIR": str(self.dir / "siteconfig.d"),
        }

    # -- setup --------------------------------------------------------------------
    def init_database(self, timeout: float = 300) -> None:
        """Schema, ACLs, core data and initial data, from the packaged files."""
        assert self.setup_db
        done = subprocess.run(
            [self.setup_db, "--action", "init", "--skip-create"],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0 or not (self.dir / "rt.db").exists():
            raise RuntimeError(
                "rt-setup-database failed: " + done.stderr.decode("utf-8", "replace")[-800:]
            )
        # customers write in by mail: Everyone may create tickets and reply (RT's usual setup)
        self.perl(
            "use RT; RT::LoadConfig(); RT::Init();"
            "my $g = RT::Group->new(RT->SystemUser); $g->LoadSystemInternalGroup('Everyone');"
            "for my $r (qw(CreateTicket ReplyToTicket)) { my ($ok, $m) = $g->PrincipalObj"
            "->GrantRight(Right => $r, Object => RT->System); die $m unless $ok }"
        )

    # -- process ------------------------------------------------------------------
    def start(self, timeout: float = 90) -> None:
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115 - kept for the process's life
        self.proc = subprocess.Popen(
            [str(RT_SERVER), "--port", str(self.port), "--host", "127.0.0.1", "--max-workers", "3"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rt-server exited: {self.log_tail()}")
            try:
                r = httpx.get(f"{self.api}/queues/all", auth=(self.user, self.password), timeout=5)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"rt-server did not answer within {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n: int = 20) -> str:
        path = self.dir / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-n:])

    # -- what RT sent ---------------------------------------------------------------
    def outgoing(self) -> list[Message]:
        """Every mail RT handed to sendmail since the server was made."""
        path = self.dir / "outgoing.mbox"
        if not path.exists():
            return []
        return list(mailbox.mbox(str(path)))

    def recipients(self) -> set[str]:
        out: set[str] = set()
        for m in self.outgoing():
            for h in ("To", "Cc", "Bcc"):
                for part in m.get_all(h) or []:
                    out |= {a.strip().lower() for a in str(part).split(",") if "@" in a}
        return out

    # -- REST2 as the administrator (seeding and checking) ------------------------
    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, auth=(self.user, self.password), timeout=60)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        with self.client() as c:
            r = c.request(method, path, **kw)
        if r.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else None

    def mail(
        self,
        raw: bytes,
        *,
        queue: str = "General",
        ticket: str | None = None,
        action: str = "correspond",
    ) -> None:
        """Deliver a mail the way rt-mailgate does (a new ticket, or onto ``ticket``)."""
        data = {"queue": queue, "action": action, **({"ticket": ticket} if ticket else {})}
        r = httpx.post(
            f"{self.url}/REST/1.0/NoAuth/mail-gateway",
            data=data,
            files={"message": (None, raw)},
            timeout=60,
        )
        if not r.text.startswith("ok"):
            raise AssertionError(f"mail-gateway: {r.text[:200]} {self.log_tail(3)}")

    def create_queue(self, name: str) -> str:
        return str(self.call("POST", "/queue", json={"Name": name})["id"])

    def create_user(self, name: str, email: str, *, privileged: bool, real_name: str = "") -> str:
        body = {
            "Name": name,
            "EmailAddress": email,
            "Privileged": 1 if privileged else 0,
            "RealName": real_name or name,
        }
        return str(self.call("POST", "/user", json=body)["id"])

    def grant(self, user: str, queue: str, rights: list[str]) -> None:
        """Rights for one user on one queue, through RT's own Perl API (REST2 has no ACL writes)."""
        script = (
            "use RT; RT::LoadConfig(); RT::Init();"
            "my $u = RT::User->new(RT->SystemUser); $u->Load($ARGV[0]) or die 'no user';"
            "my $q = RT::Queue->new(RT->SystemUser); $q->Load($ARGV[1]) or die 'no queue';"
            "for my $r (@ARGV[2..$#ARGV]) { my ($ok, $m) = $u->PrincipalObj->GrantRight("
            "Right => $r, Object => $q); die $m unless $ok or $m =~ /already/i }"
        )
        self.perl(script, user, queue, *rights)

    def auth_token(self, user: str = USER) -> str:
        """An RT auth token for ``user`` (what RT_TOKEN holds), made with RT's Perl API."""
        script = (
            "use RT; RT::LoadConfig(); RT::Init(); use RT::AuthToken;"
            "my $u = RT::CurrentUser->new(RT->SystemUser); $u->Load($ARGV[0]) or die 'no user';"
            "my $t = RT::AuthToken->new($u);"
            "my ($ok, $msg, $auth) = $t->Create(Owner => $u->Id, Description => 'deskmove tests');"
            "die $msg unless $ok; print $auth;"
        )
        return self.perl(script, user).strip()

    def perl(self, script: str, *args: str) -> str:
        done = subprocess.run(
            ["perl", f"-I{RT_HOME / 'lib'}", "-e", script, *args],
            env=self.env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(done.stderr.decode("utf-8", "replace")[-500:])
        return done.stdout.decode("utf-8")
