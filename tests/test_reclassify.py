"""Directions you can fix later: the support-address hint and ``deskmove reclassify``."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from deskmove.config import Project
from deskmove.model import IdMap, Message, Person, PersonEmail, Provenance, Ticket
from deskmove.store import Store
from tests.mailhelp import BASE, mail

SUPPORT = "support@shop.example"


def _mbox(path: Path) -> Path:
    mails = [
        mail(frm="Jan Novák <jan@example.cz>", mid="<c1@example.cz>", subject="Objednávka 17"),
        mail(
            frm=f"Shop Support <{SUPPORT}>",
            to="Jan Novák <jan@example.cz>",
            mid="<a1@shop.example>",
            irt="<c1@example.cz>",
            refs="<c1@example.cz>",
            subject="Re: Objednávka 17",
            date=BASE + timedelta(hours=1),
            body="Dobrý den, posíláme znovu.\n",
        ),
        mail(
            frm="Eva <eva@example.pl>",
            mid="<c2@example.pl>",
            subject="Faktura",
            date=BASE + timedelta(hours=2),
        ),
        mail(
            frm="Petr <petr@example.cz>",
            mid="<c3@example.cz>",
            subject="Reklamace",
            date=BASE + timedelta(hours=3),
            to=f"Info <info@shop.example>, {SUPPORT}",
        ),
        mail(
            frm=f"Shop Support <{SUPPORT}>",
            to="Petr <petr@example.cz>",
            mid="<a3@shop.example>",
            irt="<c3@example.cz>",
            refs="<c3@example.cz>",
            subject="Re: Reklamace",
            date=BASE + timedelta(hours=4),
            body="Reklamaci jsme přijali.\n",
        ),
    ]
    with path.open("wb") as fh:
        for raw in mails:
            fh.write(b"From MAILER-DAEMON Mon Mar  3 09:00:00 2025\n")
            fh.write(raw.replace(b"\r\n", b"\n") + b"\n\n")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, monkeypatch, project_dir):
    """The same run on SQLite and on a real PostgreSQL (after project_dir cleared the variable)."""
    if request.param == "postgres":
        monkeypatch.setenv("DESKMOVE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return request.param


def _state(project_dir: Path) -> dict:
    project = Project.load(project_dir)
    store = Store.open(project.store_url, project.blob_root)
    try:
        with store.begin() as conn:
            m, t, p, e = (
                Message.__table__,
                Ticket.__table__,
                Person.__table__,
                PersonEmail.__table__,
            )
            msgs = conn.execute(
                sa.select(m.c.id, m.c.ticket_id, m.c.direction, e.c.email)
                .outerjoin(e, e.c.person_id == m.c.author_id)
                .order_by(m.c.id)
            ).all()
            tickets = conn.execute(
                sa.select(t.c.id, t.c.status, e.c.email)
                .outerjoin(e, e.c.person_id == t.c.requester_id)
                .order_by(t.c.id)
            ).all()
            roles = dict(
                conn.execute(sa.select(e.c.email, p.c.role).join(p, p.c.id == e.c.person_id)).all()
            )
            idmap = conn.execute(sa.select(IdMap.__table__).order_by(IdMap.__table__.c.id)).all()
            provenance = conn.execute(
                sa.select(Provenance.__table__.c.kind, Provenance.__table__.c.run_id)
                .where(Provenance.__table__.c.kind != "mail-thread")
                .order_by(Provenance.__table__.c.id)
            ).all()
        return {
            "messages": msgs,
            "tickets": tickets,
            "roles": roles,
            "idmap": idmap,
            "provenance": provenance,
        }
    finally:
        store.close()


def _set_support(project_dir: Path) -> None:
    toml = project_dir / "deskmove.toml"
    text = toml.read_text()
    toml.write_text(text.replace("support_addresses = []", f'support_addresses = ["{SUPPORT}"]'))


def test_import_without_support_addresses_names_the_likely_ones(cli, project_dir, tmp_path):
    box = _mbox(tmp_path / "inbox.mbox")
    result = cli("import", f"mbox:{box}")
    assert result.exit_code == 0, result.output
    hints = [line for line in result.stderr.splitlines() if "no support address is set" in line]
    assert len(hints) == 1
    assert f"{SUPPORT} (3 of 5 mails) —" in hints[0]  # the most mail went to it, and only it
    assert "deskmove reclassify" in hints[0]
    result = cli("import", f"mbox:{box}")  # nothing new: the hint is not repeated
    assert result.exit_code == 0, result.output
    assert "no support address is set" not in result.stderr
    _set_support(project_dir)
    result = cli("import", f"mbox:{_mbox(tmp_path / 'again.mbox')}")  # new mail, support set
    assert result.exit_code == 0, result.output
    assert "read 5 = 5 imported" in result.output
    assert "no support address is set" not in result.stderr


def test_reclassify_fixes_directions_without_the_source(cli, project_dir, tmp_path, backend):
    box = _mbox(tmp_path / "inbox.mbox")
    assert cli("import", f"mbox:{box}").exit_code == 0
    before = _state(project_dir)
    assert {m.direction for m in before["messages"]} == {"inbound"}
    assert "agent" not in before["roles"].values()
    box.unlink()  # reclassify reads the raw mail kept in the store, not the source
    _set_support(project_dir)

    dry = cli("--json", "reclassify", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["changed"]["directions"] == 2
    assert _state(project_dir) == before  # a dry run writes nothing

    result = cli("reclassify")
    assert result.exit_code == 0, result.output
    assert "2 directions" in result.stdout
    after = _state(project_dir)
    directions = {m.email: m.direction for m in after["messages"]}
    assert directions == {
        "jan@example.cz": "inbound",
        SUPPORT: "outbound",
        "eva@example.pl": "inbound",
        "petr@example.cz": "inbound",
    }
    assert after["roles"][SUPPORT] == "agent"
    assert after["roles"]["jan@example.cz"] == "customer"
    # same tickets, same messages in them, the customer stays the requester
    assert [(m.id, m.ticket_id) for m in after["messages"]] == [
        (m.id, m.ticket_id) for m in before["messages"]
    ]
    assert [(t.id, t.email) for t in after["tickets"]] == [
        (t.id, t.email) for t in before["tickets"]
    ]
    assert {t.status for t in after["tickets"] if t.email == "eva@example.pl"} == {"open"}
    assert {t.status for t in after["tickets"] if t.email != "eva@example.pl"} == {"pending"}
    again = cli("--json", "reclassify")
    assert json.loads(again.stdout)["changed"] == dict.fromkeys(
        ("directions", "authors", "requesters", "roles", "flags", "statuses", "thread_keys"), 0
    )


def test_reclassify_reports_what_was_pushed_and_pushes_nothing_twice(
    cli, project_dir, tmp_path, backend
):
    box = _mbox(tmp_path / "inbox.mbox")
    assert cli("import", f"mbox:{box}").exit_code == 0
    out = tmp_path / "export"
    assert cli("export", f"csv:{out}").exit_code == 0
    before = _state(project_dir)
    _set_support(project_dir)
    result = cli("--json", "reclassify")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    changed = sorted((p["kind"], p["change"]) for p in report["pushed"] if p["kind"] != "person")
    assert (
        changed
        == [("message", "direction inbound -> outbound")] * 2
        + [("ticket", "status open -> pending")] * 2
    )
    assert {p["target"] for p in report["pushed"]} == {f"csv:{out}"}
    after = _state(project_dir)
    assert after["idmap"] == before["idmap"]  # the id map is untouched
    assert after["provenance"] == before["provenance"]  # no run id moves: no delta to push
    shutil.rmtree(out / "attachments", ignore_errors=True)
    text = cli("reclassify")
    assert text.exit_code == 0
    assert "already in a target" not in text.stdout  # the second run changes nothing


def test_reclassify_uses_the_fixed_parser_for_authors(cli, project_dir, tmp_path, store):
    """A mail whose From holds only a name: the author comes from Reply-To after re-reading."""
    raw = mail(frm="Jan Novák", mid="<n1@example.cz>", extra="Reply-To: jan@example.cz")
    eml = tmp_path / "eml"
    eml.mkdir()
    (eml / "one.eml").write_bytes(raw)
    assert cli("import", f"eml:{eml}").exit_code == 0
    with store.begin() as conn:  # as an older deskmove stored it: no author
        conn.execute(Message.__table__.update().values(author_id=None))
        conn.execute(Ticket.__table__.update().values(requester_id=None))
    result = cli("--json", "reclassify")
    report = json.loads(result.stdout)
    assert report["changed"]["authors"] == 1 and report["changed"]["requesters"] == 1
    state = _state(project_dir)
    assert [m.email for m in state["messages"]] == ["jan@example.cz"]


def test_reclassify_help_has_an_example(cli):
    result = cli("reclassify", "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "--dry-run" in result.stdout


def test_reclassify_derives_the_same_thread_keys_the_import_wrote(cli, project_dir, tmp_path):
    """One rule for thread and subject keys (mail.resolve): right after an import with the
    support address set, reclassify finds every key already there, orphan subject keys too."""
    _set_support(project_dir)
    box = _mbox(tmp_path / "inbox.mbox")
    with box.open("ab") as fh:  # a header-less "Re:" from a customer: subject and orphan keys
        raw = mail(
            frm="Olga <olga@example.ru>",
            mid="<o1@example.ru>",
            subject="Re: Заказ 5",
            date=BASE + timedelta(hours=5),
        )
        fh.write(b"From MAILER-DAEMON Mon Mar  3 09:00:00 2025\n")
        fh.write(raw.replace(b"\r\n", b"\n") + b"\n\n")
    assert cli("import", f"mbox:{box}").exit_code == 0
    project = Project.load(project_dir)
    store = Store.open(project.store_url, project.blob_root)
    try:
        with store.begin() as conn:
            p = Provenance.__table__.c
            keys = set(
                conn.execute(sa.select(p.native_id).where(p.kind == "mail-thread")).scalars()
            )
    finally:
        store.close()
    assert "orphan-subj:olga@example.ru:заказ 5" in keys and "<c1@example.cz>" in keys
    result = cli("--json", "reclassify")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changed"]["thread_keys"] == 0
