"""Request Tracker as a target, against a real RT: the sample mailbox arrives whole (every
ticket, message and attachment, Czech/Polish/Russian text intact) and nobody is mailed;
verify agrees; a re-run creates nothing; a delta appends to the same ticket; kill -9 during
a push and a re-run create nothing twice; rollback removes exactly what deskmove made."""

from __future__ import annotations

import base64
import hashlib
import itertools
import mailbox
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from deskmove.config import init_project
from deskmove.model import Attachment, Message, Ticket
from deskmove.store import Store
from tests.rt.conftest import rt_spec

REPO = Path(__file__).resolve().parents[2]
MAILBOX = REPO / "examples" / "mailbox.mbox"
_names = itertools.count(1)
ORIGIN = re.compile(r"imported by deskmove, message (\d+)\)")
# Every message is a REST2 call RT answers in 0.1-0.5 s: the sample mailbox takes minutes.
pytestmark = pytest.mark.timeout(1800)


def run(
    project: Path,
    *args: str,
    env: dict[str, str],
    crash: str | None = None,
    log: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """The real deskmove CLI in its own process (so it can be killed like a user's)."""
    full = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    full.pop("DESKMOVE_DATABASE_URL", None)
    for k, v in (("DESKMOVE_CRASH_AT", crash), ("DESKMOVE_CRASH_LOG", log)):
        if v:
            full[k] = str(v)
    return subprocess.run(
        [sys.executable, "-m", "deskmove", "--project", str(project), *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode in (0, 3), (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout + proc.stderr


def open_store(project: Path) -> Store:
    return Store.open(f"sqlite:///{project / 'deskmove.db'}", project / "blobs", create=False)


def rt_tickets(rt, queue: str) -> list[dict]:  # noqa: ANN001
    out, page = [], 1
    while True:
        body = rt.call(
            "GET",
            "/tickets",
            params={
                "query": f"Queue = '{queue}' AND (Status = '__Active__' OR Status = '__Inactive__')",
                "fields": "Subject,Status,RefersTo",
                "per_page": 100,
                "page": page,
            },
        )
        out += body["items"]
        if len(body["items"]) < 100:
            return out
        page += 1


def rt_messages(rt, ticket: str) -> list[tuple[str, str, list[dict]]]:  # noqa: ANN001
    """(type, first text, files) of each Create/Correspond/Comment of one RT ticket."""
    hist = rt.call("GET", f"/ticket/{ticket}/history", params={"fields": "Type", "per_page": 100})
    atts = rt.call(
        "GET",
        f"/ticket/{ticket}/attachments",
        params={"fields": "TransactionId,ContentType,Filename,Content", "per_page": 100},
    )
    out = []
    for txn in hist["items"]:
        if txn["Type"] not in ("Create", "Correspond", "Comment"):
            continue
        mine = [a for a in atts["items"] if a["TransactionId"] == txn["id"]]
        text = next(
            (
                a["Content"]
                for a in mine
                if a["ContentType"].startswith("text/") and not a["Filename"]
            ),
            "",
        )
        out.append((txn["Type"], text, [a for a in mine if a["Filename"]]))
    return out


def file_sha(rt, att_id: str) -> str:  # noqa: ANN001
    body = rt.call("GET", f"/attachment/{att_id}")
    return hashlib.sha256(base64.b64decode(body["Content"])).hexdigest()


@pytest.fixture(scope="module")
def pushed(rt_server, tmp_path_factory):
    """The sample mailbox imported into a store and pushed into a fresh RT queue, once."""
    rt = rt_server
    queue = f"Mailbox{next(_names)}"
    rt.create_queue(queue)
    root = tmp_path_factory.mktemp("rt-target")
    project = root / "project"
    init_project(project)
    env = {"RT_USER": rt.user, "RT_PASSWORD": rt.password}
    mbox = root / "mailbox.mbox"  # a copy: the delta test appends a late reply to it
    shutil.copyfile(MAILBOX, mbox)
    ok(run(project, "import", f"mbox:{mbox}", env=env))
    spec = rt_spec(rt, queue)
    mailed_before = len(rt.outgoing())
    dry = ok(run(project, "export", "--dry-run", spec, env=env))
    first = ok(run(project, "export", spec, env=env, timeout=1200))
    return {
        "queue": queue,
        "project": project,
        "spec": spec,
        "env": env,
        "dry": dry,
        "mbox": mbox,
        "first": first,
        "mailed": len(rt.outgoing()) - mailed_before,
    }


def test_dry_run_says_what_rt_cannot_keep(pushed):
    assert "would push" in pushed["dry"]
    assert "RT cannot set a transaction's original time or creator" in pushed["dry"]
    assert "each ticket and message body starts with the original author and time" in pushed["dry"]
    assert "SquelchMailTo" in pushed["dry"]


def test_every_ticket_message_and_attachment_arrives_and_nobody_is_mailed(rt_server, pushed):
    rt = rt_server
    assert " 0 failed" in pushed["first"], pushed["first"]
    assert pushed["mailed"] == 0  # RT's scrips ran, but every address was squelched
    store = open_store(pushed["project"])
    t, m, a = Ticket.__table__, Message.__table__, Attachment.__table__
    with store.begin() as c:
        tickets = c.execute(sa.select(t.c.id, t.c.subject)).all()
        messages = c.execute(
            sa.select(m.c.id, m.c.ticket_id, m.c.body_text, m.c.body_html, m.c.public)
        ).all()
        files = c.execute(sa.select(a.c.message_id, a.c.sha256, a.c.filename)).all()
    store.close()
    remote = rt_tickets(rt, pushed["queue"])
    assert len(remote) == len(tickets)
    seen_messages: dict[int, str] = {}
    seen_files: set[tuple[int, str]] = set()
    for ticket in remote:
        for kind, text, atts in rt_messages(rt, ticket["id"]):
            marker = ORIGIN.search(text)
            assert marker, f"ticket {ticket['id']}: a body without its origin line: {text[:80]}"
            mid = int(marker.group(1))
            assert mid not in seen_messages, f"message {mid} arrived twice"
            seen_messages[mid] = text
            seen_files |= {(mid, file_sha(rt, x["id"])) for x in atts}
            assert text.startswith("Originally from ") or text.startswith("<p><em>Originally from ")
            assert kind in ("Create", "Correspond", "Comment")
    assert set(seen_messages) == {row.id for row in messages}
    assert seen_files == {(row.message_id, row.sha256) for row in files}
    by_text = "\n".join(seen_messages.values())
    for phrase in ("Dobrý den", "Dzień dobry", "Здравствуйте"):
        assert phrase in by_text, phrase
    for row in messages:  # every stored text body is there, unchanged, after the origin line
        if row.body_text and not row.body_html and len(row.body_text.strip()) > 20:
            assert row.body_text.strip()[:60] in seen_messages[row.id], row.id


def test_verify_says_every_ticket_migrated_and_a_rerun_creates_nothing(pushed):
    verify = run(pushed["project"], "verify", pushed["spec"], env=pushed["env"])
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "migrated" in verify.stdout
    again = ok(run(pushed["project"], "export", pushed["spec"], env=pushed["env"]))
    assert "0 created" in again, again


def _reply(subject: str, msgid: str, body: str) -> bytes:
    m = EmailMessage()
    m["From"] = "Jiří Novák <jiri.novak@example.cz>"
    m["To"] = "podpora@shop.example"
    m["Subject"] = f"Re: {subject}"
    m["Message-ID"] = "<late-reply-1@example.cz>"
    m["In-Reply-To"] = m["References"] = msgid
    m["Date"] = format_datetime(datetime.now(UTC) - timedelta(minutes=5))
    m.set_content(body)
    return m.as_bytes()


def test_delta_sync_appends_to_the_same_ticket(rt_server, pushed, tmp_path):
    rt, project = rt_server, pushed["project"]
    store = open_store(project)
    t, m = Ticket.__table__, Message.__table__
    with store.begin() as c:
        row = c.execute(
            sa.select(t.c.id, t.c.subject, m.c.message_id)
            .join(m, m.c.ticket_id == t.c.id)
            .where(m.c.message_id.is_not(None))
            .order_by(m.c.id)
            .limit(1)
        ).one()
    native = store.id_map(_conn(store), "ticket")[row.id][0]
    store.close()
    before = rt_messages(rt, native)
    box = mailbox.mbox(str(pushed["mbox"]))  # the same mailbox, one mail longer
    box.add(_reply(row.subject, row.message_id, "Ještě jedna otázka: kdy to přijde?"))
    box.close()
    ok(run(project, "import", f"mbox:{pushed['mbox']}", env=pushed["env"]))
    out = ok(run(project, "export", pushed["spec"], env=pushed["env"]))
    assert " 1 updated" in out and " 0 failed" in out, out
    after = rt_messages(rt, native)
    assert len(after) == len(before) + 1
    assert after[-1][0] == "Correspond" and "Ještě jedna otázka: kdy to přijde?" in after[-1][1]


def _conn(store: Store) -> str:
    from deskmove.model import IdMap

    with store.begin() as c:
        return c.execute(sa.select(IdMap.__table__.c.connection).limit(1)).scalar_one()


def _small_mbox(path: Path) -> Path:
    """Two conversations (Czech with a file and a reply, Russian with an internal answer)."""
    box = mailbox.mbox(str(path))
    base = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    for n, (sender, subject, body) in enumerate(
        [
            (
                "Jana Malá <jana.mala@example.cz>",
                "Reklamace č. 7",
                "Dobrý den, posílám fotku vady.",
            ),
            ("Ольга <olga@example.ru>", "Возврат товара", "Здравствуйте, хочу вернуть заказ."),
        ]
    ):
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = sender, "podpora@shop.example", subject
        m["Message-ID"], m["Date"] = (
            f"<small-{n}@example.org>",
            format_datetime(base + timedelta(hours=n)),
        )
        m.set_content(body)
        m.add_attachment(
            bytes(range(256)) * (n + 1),
            maintype="application",
            subtype="pdf",
            filename=f"příloha-{n}.pdf",
        )
        box.add(m.as_bytes())
        r = EmailMessage()
        r["From"], r["To"], r["Subject"] = (
            "Podpora <podpora@shop.example>",
            sender,
            f"Re: {subject}",
        )
        r["Message-ID"], r["In-Reply-To"] = (
            f"<small-{n}-re@shop.example>",
            f"<small-{n}@example.org>",
        )
        r["Date"] = format_datetime(base + timedelta(hours=n, minutes=30))
        r.set_content("Děkujeme, řešíme to." if n == 0 else "Спасибо, оформляем возврат.")
        box.add(r.as_bytes())
    box.close()
    return path


def _checkpoints(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.timeout(1200)
def test_kill_9_during_a_push_then_rerun_creates_nothing_twice(rt_server, tmp_path):
    """Killed after each RT call, before deskmove wrote down what it made: the re-run finds it."""
    rt = rt_server
    env = {"RT_USER": rt.user, "RT_PASSWORD": rt.password}
    template = tmp_path / "template"
    init_project(template)
    ok(run(template, "--quiet", "import", f"mbox:{_small_mbox(tmp_path / 'small.mbox')}", env=env))
    log = tmp_path / "clean.log"
    for n in (1, 2):  # the second clean run matches the users the first made, as all later ones do
        queue = f"Clean{next(_names)}"
        rt.create_queue(queue)
        log.unlink(missing_ok=True)
        ok(
            run(
                _copy(template, tmp_path / f"clean{n}"),
                "export",
                rt_spec(rt, queue),
                env=env,
                log=log,
            )
        )
    # the dangerous points: the RT call is made, its id-map "done" row not yet written
    points = [
        line.split()[0] for line in _checkpoints(log) if "before id map" in line and "done" in line
    ]
    assert len(points) >= 4, _checkpoints(log)
    for point in points:
        queue = f"Killed{next(_names)}"
        rt.create_queue(queue)
        project = _copy(template, tmp_path / f"p-{queue}")
        killed = run(project, "export", rt_spec(rt, queue), env=env, crash=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stdout, killed.stderr)
        ok(run(project, "export", rt_spec(rt, queue), env=env))
        tickets = rt_tickets(rt, queue)
        assert len(tickets) == 2, (point, tickets)
        markers = [
            int(ORIGIN.search(text).group(1))
            for t in tickets
            for _k, text, _f in rt_messages(rt, t["id"])
        ]
        assert sorted(markers) == sorted(set(markers)) and len(markers) == 4, (point, markers)
        verify = run(project, "verify", rt_spec(rt, queue), env=env)
        assert verify.returncode == 0, (point, verify.stdout, verify.stderr)


def _copy(template: Path, dst: Path) -> Path:
    shutil.copytree(template, dst)
    return dst


def test_rollback_removes_exactly_what_was_created(rt_server, tmp_path):
    rt = rt_server
    env = {"RT_USER": rt.user, "RT_PASSWORD": rt.password}
    queue = f"Rollback{next(_names)}"
    rt.create_queue(queue)
    theirs = rt.call(
        "POST",
        "/ticket",
        json={
            "Queue": queue,
            "Subject": "already here",
            "Content": "not ours",
            "ContentType": "text/plain",
        },
    )
    project = tmp_path / "project"
    init_project(project)
    ok(run(project, "--quiet", "import", f"mbox:{_small_mbox(tmp_path / 'small.mbox')}", env=env))
    spec = rt_spec(rt, queue)
    ok(run(project, "export", spec, env=env))
    assert len(rt_tickets(rt, queue)) == 3
    out = ok(run(project, "rollback", spec, "--yes", env=env))
    assert "2" in out
    left = rt_tickets(rt, queue)
    assert [t["id"] for t in left] == [str(theirs["id"])]
    for t in rt.call(
        "GET", "/tickets", params={"query": f"Queue = '{queue}' AND Status = 'deleted'"}
    )["items"]:
        assert t["id"] != str(theirs["id"])


FILES = {  # names in Czech, Polish and Russian: RT 5.0.3 answers 500 to these in JSON
    "faktura č. 5 – Příliš žluťoučký.pdf": bytes(range(256)) * 4,
    "zdjęcie paragonu łódź.png": b"\x89PNG\r\n\x1a\n" + bytes(300),
    "счёт-фактура №7.txt": "Съешь же ещё этих мягких булок".encode("koi8-r"),
}


def _seed_store(project: Path) -> None:
    """One solved ticket: an agent's assignment, a custom field, a reply with three files,
    an internal note; and one assigned to someone RT knows as a customer."""
    from deskmove.records import AttachmentRec, Batch, MessageRec, PersonRef, TicketRec

    store = Store.open(f"sqlite:///{project / 'deskmove.db'}", project / "blobs")
    t0 = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
    who = PersonRef(email="petr.dvorak@example.cz", name="Petr Dvořák")
    agent = PersonRef(email="jana.rt@shop.example", name="Jana Nováková", role="agent")
    customer = PersonRef(email="olga.rt@example.ru", name="Ольга")
    files = [
        AttachmentRec(store.blobs.put(data), len(data), name, "application/octet-stream")
        for name, data in FILES.items()
    ]
    msgs = [
        MessageRec(
            native_id="f1",
            created_at=t0,
            author=who,
            direction="inbound",
            body_text="Dobrý den, faktura nesedí.",
        ),
        MessageRec(
            native_id="f2",
            created_at=t0 + timedelta(hours=1),
            author=agent,
            direction="outbound",
            body_text="Posíláme opravené doklady.",
            attachments=files,
        ),
        MessageRec(
            native_id="f3",
            created_at=t0 + timedelta(hours=2),
            author=agent,
            public=False,
            direction="outbound",
            body_text="interní: dobropis schválen",
        ),
    ]
    batch = Batch(
        tickets=[
            TicketRec(
                native_id="t1",
                subject="Faktura č. 5",
                status="solved",
                requester=who,
                assignee=agent,
                custom_fields={"Order": "ORD-5/ž"},
                created_at=t0,
                updated_at=t0 + timedelta(hours=2),
                messages=msgs,
            ),
            TicketRec(
                native_id="t2",
                subject="Возврат",
                status="open",
                requester=customer,
                assignee=customer,
                created_at=t0,
                updated_at=t0,
                messages=[
                    MessageRec(
                        native_id="f4",
                        created_at=t0,
                        author=customer,
                        direction="inbound",
                        body_text="Здравствуйте!",
                    )
                ],
            ),
        ],
        read=6,
    )
    store.ingestor("seed", None).ingest(batch)
    store.close()


def test_status_owner_custom_fields_comments_and_files(rt_server, tmp_path):
    """Solved stays resolved after its replies; the owner only when privileged; the custom
    field set; the note a Comment; every file byte for byte under its own name; no mail."""
    rt = rt_server
    queue = f"Fields{next(_names)}"
    rt.create_queue(queue)
    rt.create_user("jana.rt", "jana.rt@shop.example", privileged=True, real_name="Jana Nováková")
    rt.grant("jana.rt", queue, ["OwnTicket", "ShowTicket"])
    rt.create_user("olga.rt", "olga.rt@example.ru", privileged=False)
    cf = rt.call(
        "POST",
        "/customfield",
        json={"Name": "Order", "Type": "FreeformSingle", "LookupType": "RT::Queue-RT::Ticket"},
    )
    rt.perl(
        "use RT; RT::LoadConfig(); RT::Init(); my $cf = RT::CustomField->new(RT->SystemUser);"
        "$cf->Load($ARGV[0]); my $q = RT::Queue->new(RT->SystemUser); $q->Load($ARGV[1]);"
        "my ($ok, $m) = $cf->AddToObject($q); die $m unless $ok",
        str(cf["id"]),
        queue,
    )
    project = tmp_path / "project"
    init_project(project)
    _seed_store(project)
    env = {"RT_USER": rt.user, "RT_PASSWORD": rt.password}
    mailed = len(rt.outgoing())
    out = ok(run(project, "export", rt_spec(rt, queue), env=env))
    assert " 0 failed" in out, out
    assert len(rt.outgoing()) == mailed, [m["To"] for m in rt.outgoing()[mailed:]]
    by_subject = {t["Subject"]: t["id"] for t in rt_tickets(rt, queue)}
    solved = rt.call("GET", f"/ticket/{by_subject['Faktura č. 5']}")
    assert solved["Status"] == "resolved"
    assert solved["Owner"]["id"] == "jana.rt"
    assert {c["name"]: c["values"] for c in solved["CustomFields"]}["Order"] == ["ORD-5/ž"]
    assert rt.call("GET", f"/ticket/{by_subject['Возврат']}")["Owner"]["id"] == "Nobody"
    kinds = [
        (k, text.split("\n\n", 1)[-1])
        for k, text, _f in rt_messages(rt, by_subject["Faktura č. 5"])
    ]
    assert kinds == [
        ("Create", "Dobrý den, faktura nesedí."),
        ("Correspond", "Posíláme opravené doklady."),
        ("Comment", "interní: dobropis schválen"),
    ]
    files = rt_messages(rt, by_subject["Faktura č. 5"])[1][2]
    got = {f["Filename"]: file_sha(rt, f["id"]) for f in files}
    assert got == {n: hashlib.sha256(d).hexdigest() for n, d in FILES.items()}
    verify = run(project, "verify", rt_spec(rt, queue), env=env)
    assert verify.returncode == 0 and "2 migrated" in verify.stdout, verify.stdout + verify.stderr
