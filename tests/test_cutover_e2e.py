"""A cutover end to end, with real parts: a Dovecot mailbox -> the store -> a Zendesk-style API.

``deskmove sync`` runs as a real process (as cron runs it; forked from a parent
with deskmove imported, tests/launch.py) against a real IMAP
server and a Zendesk-shaped HTTP server in its own process; customers keep
writing between the runs, and one run is killed (SIGKILL) half way through its
push, another half way through its import. At the end the helpdesk holds every
conversation once with every message once, and `deskmove verify` agrees.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.launch import Launcher
from tests.zendesk_server import Running

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def mail(
    sender: str,
    subject: str,
    body: str,
    n: int,
    *,
    reply_to: str | None = None,
    attach: bytes | None = None,
) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@shop.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(T0 + timedelta(hours=n))
    mid = make_msgid(domain="zakaznik.example")
    msg["Message-ID"] = mid
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(body, charset="iso-8859-2" if n % 2 else "utf-8")
    if attach:
        msg.add_attachment(attach, maintype="application", subtype="pdf", filename="faktura.pdf")
    return msg.as_bytes().replace(b"\n", b"\r\n"), mid


@pytest.fixture
def zendesk() -> Any:
    server = Running()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def launcher() -> Any:
    runs = Launcher()
    yield runs
    runs.close()


@pytest.fixture
def cutover(tmp_path: Path, dovecot, zendesk, launcher) -> dict[str, Any]:
    root = tmp_path / "project"
    user = quote(dovecot.user, safe="")
    (root).mkdir()
    (root / "deskmove.toml").write_text(
        f"""
[mail]
support_addresses = ["support@shop.example"]
support_domains = ["shop.example"]

[connections.old-inbox]
spec = "imap://{user}@127.0.0.1:{dovecot.port}/INBOX?tls=none"
password = {{ env = "OLD_INBOX_PASSWORD" }}

[connections.new-desk]
spec = "{zendesk.spec}"
email = {{ env = "ZENDESK_EMAIL" }}
token = {{ env = "ZENDESK_API_TOKEN" }}

[sync]
sources = ["old-inbox"]
targets = ["new-desk"]
""",
        encoding="utf-8",
    )
    return {"root": root, "imap": dovecot, "desk": zendesk, "launcher": launcher}


def deskmove(
    c: dict[str, Any], *args: str, crash: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OLD_INBOX_PASSWORD": c["imap"].password,
        "ZENDESK_EMAIL": "admin@shop.example",
        "ZENDESK_API_TOKEN": "t0ken-for-tests",
    }
    env.pop("DESKMOVE_DATABASE_URL", None)
    if crash:
        env["DESKMOVE_CRASH_AT"] = crash
    return c["launcher"].run(["--project", str(c["root"]), *args], env=env, timeout=120)


def comments_by_subject(desk: Running) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in desk.call("/__dump__")["tickets"]:
        assert t["subject"] not in out, f"ticket twice: {t['subject']}"
        out[t["subject"]] = [c[3] for c in t["comments"]]
    return out


def test_cron_cutover_with_mail_arriving_and_a_killed_sync(cutover) -> None:
    imap, desk = cutover["imap"], cutover["desk"]
    first, first_id = mail(
        "Jiří Černý <jiri@zakaznik.example>",
        "Reklamace – žluťoučký kůň",
        "Dobrý den, zboží je poškozené.",
        1,
        attach=b"%PDF-1.4 faktura",
    )
    other, _ = mail(
        "Łucja Żak <lucja@klient.example>", "Zamówienie 17", "Dzień dobry, gdzie jest paczka?", 2
    )
    imap.append("INBOX", [first, other])

    run = deskmove(cutover, "sync")
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("\n") == 1 and "old-inbox +2 new" in run.stdout
    assert set(comments_by_subject(desk)) == {"Reklamace – žluťoučký kůň", "Zamówienie 17"}

    quiet = deskmove(cutover, "--quiet", "sync")  # nothing new: says nothing, changes nothing
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""

    # The customer answers in the old thread, a new customer writes; cron's run is killed mid-push.
    reply, _ = mail(
        "Jiří Černý <jiri@zakaznik.example>",
        "Re: Reklamace – žluťoučký kůň",
        "Posílám fotky, děkuji.",
        3,
        reply_to=first_id,
    )
    new, _ = mail(
        "Иван Петров <ivan@klient.example>",
        "Возврат заказа",
        "Здравствуйте, хочу вернуть заказ.",
        4,
    )
    imap.append("INBOX", [reply, new])
    killed = deskmove(cutover, "sync", crash="push:3")
    assert killed.returncode == -signal.SIGKILL
    after = deskmove(cutover, "sync")
    assert after.returncode == 0, after.stderr

    # More mail; this time the run dies half way through its import.
    late, _ = mail("Łucja Żak <lucja@klient.example>", "Zamówienie 18", "Jeszcze jedno pytanie.", 5)
    imap.append("INBOX", [late])
    assert deskmove(cutover, "sync", crash="ingest:1").returncode == -signal.SIGKILL
    assert deskmove(cutover, "sync").returncode == 0

    tickets = comments_by_subject(desk)
    assert set(tickets) == {
        "Reklamace – žluťoučký kůň",
        "Zamówienie 17",
        "Возврат заказа",
        "Zamówienie 18",
    }
    thread = tickets["Reklamace – žluťoučký kůň"]
    assert len(thread) == 2 and "poškozené" in thread[0] and "fotky" in thread[1]  # appended once
    assert all(len(v) == 1 for k, v in tickets.items() if k != "Reklamace – žluťoučký kůň")

    verify = deskmove(cutover, "--json", "verify", "new-desk")
    report = json.loads(verify.stdout)
    assert verify.returncode == 0, report
    assert report["counts"] == {"migrated": 4, "changed": 0, "missing": 0, "failed": 0}
    status = json.loads(deskmove(cutover, "--json", "status", "--active-days", "100000").stdout)
    assert status["cutover"]["connections"]["new-desk"]["pending_tickets"] == 0
    assert status["cutover"]["active_conversations"] == 4
    assert imap.flags("INBOX") and all("\\Seen" not in f for f in imap.flags("INBOX").values())
