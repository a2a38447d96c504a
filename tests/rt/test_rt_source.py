"""Request Tracker as a source, against a real RT: mail in Czech, Polish and Russian charsets,
attachments byte for byte, watchers, owner, queue, statuses, custom fields, merged tickets,
re-runs that change nothing, and the time zone TicketSQL reads its dates in."""

from __future__ import annotations

import csv
import itertools
import json
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from deskmove.model import Attachment, Group, Message, Person, PersonEmail, Ticket
from tests.rt.conftest import rt_spec

_queues = itertools.count(1)
PDF = bytes(range(256)) * 3  # every byte value: nothing may be re-encoded on the way
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


def _mail(
    sender: str,
    subject: str,
    body: str,
    charset: str,
    *,
    msgid: str,
    attach: bytes | None = None,
    reply_to: str | None = None,
) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, "rt@deskmove.test", subject, msgid
    if reply_to:
        m["In-Reply-To"] = reply_to
    m.set_content(body, charset=charset)
    if attach is not None:
        m.add_attachment(attach, maintype="application", subtype="pdf", filename="faktura č.1.pdf")
    return m.as_bytes()


def _ticket_id(rt, queue: str, subject: str) -> str:
    body = rt.call(
        "GET", "/tickets", params={"query": f"Queue = '{queue}' AND Subject = '{subject}'"}
    )
    return str(body["items"][0]["id"])


@pytest.fixture(scope="module")
def seeded(rt_server):
    """A queue with a Czech mail ticket (reply, agent answer with a file, a note), a Polish
    ticket merged into it, a Russian ticket, and a resolved and a rejected one."""
    rt = rt_server
    q = f"Podpora{next(_queues)}"
    rt.create_queue(q)
    rt.create_user("jana", "jana@shop.example", privileged=True, real_name="Jana Nováková")
    rt.grant("jana", q, ["OwnTicket", "ShowTicket", "ReplyToTicket", "CommentOnTicket"])
    cf = rt.call(
        "POST",
        "/customfield",
        json={"Name": f"Order {q}", "Type": "FreeformSingle", "LookupType": "RT::Queue-RT::Ticket"},
    )
    rt.perl(
        "use RT; RT::LoadConfig(); RT::Init(); my $cf = RT::CustomField->new(RT->SystemUser);"
        "$cf->Load($ARGV[0]); my ($ok, $m) = $cf->AddToObject(RT::Queue->new(RT->SystemUser));"
        "die $m unless $ok",
        str(cf["id"]),
    )
    rt.mail(
        _mail(
            "Jiří Novák <jiri@example.cz>",
            "Objednávka č. 5 nepřišla",
            "Dobrý den, zásilka nedorazila. Příliš žluťoučký kůň úpěl ďábelské ódy.",
            "iso-8859-2",
            msgid="<cz-1@example.cz>",
            attach=PDF,
        ),
        queue=q,
    )
    cz = _ticket_id(rt, q, "Objednávka č. 5 nepřišla")
    rt.mail(
        _mail(
            "Jiří Novák <jiri@example.cz>",
            f"Re: [deskmove-test #{cz}] Objednávka",
            "Ещё раз: посылка не пришла, съешь же ещё этих мягких французских булок.",
            "koi8-r",
            msgid="<cz-2@example.cz>",
            reply_to="<cz-1@example.cz>",
        ),
        queue=q,
        ticket=cz,
    )
    # multipart: RT 5.0.3 answers 500 to a non-ASCII FileName in a JSON body
    rt.call(
        "POST",
        f"/ticket/{cz}/correspond",
        data={
            "JSON": json.dumps(
                {"Content": "<p>Omlouváme se, posíláme znovu.</p>", "ContentType": "text/html"}
            )
        },
        files=[("Attachments", ("štítek.png", PNG, "image/png"))],
    )
    rt.call(
        "POST",
        f"/ticket/{cz}/comment",
        json={"Content": "interní: dopravce PPL", "ContentType": "text/plain"},
    )
    rt.call(
        "PUT",
        f"/ticket/{cz}",
        json={
            "Owner": "jana",
            "Cc": "ola@example.pl",
            "AdminCc": "boss@shop.example",
            "Status": "stalled",
            "CustomFields": {f"Order {q}": "ORD-5/ž"},
        },
    )
    rt.mail(
        _mail(
            "Ola Kowalska <ola@example.pl>",
            "Zamówienie nie dotarło",
            "Dzień dobry, zażółć gęślą jaźń, paczka nie dotarła.",
            "iso-8859-2",
            msgid="<pl-1@example.pl>",
        ),
        queue=q,
    )
    pl = _ticket_id(rt, q, "Zamówienie nie dotarło")
    rt.call("PUT", f"/ticket/{pl}", json={"MergeInto": int(cz)})
    rt.mail(
        _mail(
            "Иван Петров <ivan@example.ru>",
            "Не работает вход",
            "Здравствуйте! Не могу войти в личный кабинет.",
            "windows-1251",
            msgid="<ru-1@example.ru>",
        ),
        queue=q,
    )
    ru = _ticket_id(rt, q, "Не работает вход")
    rt.call(
        "POST",
        f"/ticket/{ru}/correspond",
        json={"Content": "Проверьте пароль.", "ContentType": "text/plain", "Status": "resolved"},
    )
    spam = str(
        rt.call(
            "POST",
            "/ticket",
            json={
                "Queue": q,
                "Subject": "spam",
                "Requestor": "x@spam.example",
                "Content": "buy",
                "ContentType": "text/plain",
            },
        )["id"]
    )
    rt.call("PUT", f"/ticket/{spam}", json={"Status": "rejected"})
    return {"queue": q, "cz": cz, "pl": pl, "ru": ru, "spam": spam}


def _rows(store, table, **where):  # noqa: ANN001, ANN003
    t = table.__table__
    q = sa.select(t)
    for k, v in where.items():
        q = q.where(t.c[k] == v)
    with store.begin() as c:
        return [dict(r) for r in c.execute(q.order_by(t.c.id)).mappings()]


def _ticket(store, native: str) -> dict:  # noqa: ANN001
    from deskmove.model import Provenance

    p = Provenance.__table__.c
    with store.begin() as c:
        eid = c.execute(
            sa.select(p.entity_id).where(p.kind == "ticket", p.native_id == native)
        ).scalar_one()
    return _rows(store, Ticket, id=eid)[0]


def test_import_keeps_every_message_attachment_and_field(cli, store, rt_server, rt_env, seeded):
    spec = rt_spec(rt_server, seeded["queue"])
    r = cli("import", spec)
    assert r.exit_code == 0, r.output
    assert "read 11 = 11 imported" in r.output  # 3 tickets + 8 messages (the merged one follows)
    cz = _ticket(store, seeded["cz"])
    assert (cz["subject"], cz["status"], cz["channel"]) == (
        "Objednávka č. 5 nepřišla",
        "pending",
        "email",
    )
    assert _rows(store, Group, id=cz["group_id"])[0]["name"] == seeded["queue"]
    fields = cz["custom_fields"]
    assert fields[f"Order {seeded['queue']}"] == "ORD-5/ž"
    assert (fields["rt.cc"], fields["rt.admincc"]) == (["ola@example.pl"], ["boss@shop.example"])
    people = {e["person_id"]: e["email"] for e in _rows(store, PersonEmail)}
    assert people[cz["requester_id"]] == "jiri@example.cz"
    assert people[cz["assignee_id"]] == "jana@shop.example"
    assert _rows(store, Person, id=cz["assignee_id"])[0]["role"] == "agent"
    msgs = _rows(store, Message, ticket_id=cz["id"])
    texts = [m["body_text"] or m["body_html"] for m in sorted(msgs, key=lambda m: m["created_at"])]
    assert "Příliš žluťoučký kůň úpěl ďábelské ódy." in texts[0]
    assert "съешь же ещё этих мягких французских булок" in texts[1]
    assert any("Omlouváme se" in t for t in texts)
    assert any("zażółć gęślą jaźń" in t for t in texts)  # the merged ticket's mail came along
    assert [m["public"] for m in msgs].count(False) == 1
    inbound = {m["direction"] for m in msgs if "example.cz" in (people.get(m["author_id"]) or "")}
    assert inbound == {"inbound"}
    jana_or_root = [m for m in msgs if m["direction"] == "outbound"]
    assert len(jana_or_root) == 2  # the answer and the note
    files = {a["filename"]: a for m in msgs for a in _rows(store, Attachment, message_id=m["id"])}
    assert set(files) == {"faktura č.1.pdf", "štítek.png"}
    assert store.blobs.get(files["faktura č.1.pdf"]["sha256"]) == PDF
    assert files["štítek.png"]["content_type"] == "image/png"
    ru = _ticket(store, seeded["ru"])
    assert ru["status"] == "solved" and ru["solved_at"] is not None
    ru_text = _rows(store, Message, ticket_id=ru["id"])[0]["body_text"]
    assert "Не могу войти в личный кабинет" in ru_text
    spam = _ticket(store, seeded["spam"])
    assert spam["status"] == "closed" and "rt-rejected" in spam["tags"]


def test_rerun_changes_nothing_and_a_reply_is_picked_up_alone(
    cli, store, rt_server, rt_env, seeded
):
    spec = rt_spec(rt_server, seeded["queue"])
    assert cli("import", spec).exit_code == 0
    again = cli("import", spec)
    assert again.exit_code == 0 and "read 0 = 0 imported" in again.output, again.output
    rt_server.call(
        "POST",
        f"/ticket/{seeded['ru']}/correspond",
        json={"Content": "Ещё один ответ", "ContentType": "text/plain"},
    )
    delta = cli("import", spec)
    assert delta.exit_code == 0
    # the one ticket is read again, with its history: one new message, the ticket changed
    assert "read 4 = 2 imported (1 new, 1 changed) + 2 unchanged" in delta.output, delta.output
    ru = _ticket(store, seeded["ru"])
    assert any(
        "Ещё один ответ" in (m["body_text"] or "")
        for m in _rows(store, Message, ticket_id=ru["id"])
    )


def test_wrong_time_zone_is_refused_before_anything_is_read(cli, store, rt_server, rt_env, seeded):
    r = cli("import", rt_spec(rt_server, seeded["queue"], timezone="UTC"))
    assert r.exit_code == 2
    assert "RT reads TicketSQL dates at UTC+01:00, not in UTC" in r.output
    assert "?timezone=" in r.output
    assert _rows(store, Ticket) == []


def test_token_auth_and_missing_queue(cli, store, rt_server, seeded, monkeypatch):
    monkeypatch.delenv("RT_USER", raising=False)
    monkeypatch.delenv("RT_PASSWORD", raising=False)
    monkeypatch.setenv("RT_TOKEN", rt_server.auth_token())
    r = cli("import", rt_spec(rt_server, seeded["queue"]))
    assert r.exit_code == 0 and "+ 0 quarantined" in r.output, r.output
    r = cli("import", f"rt://127.0.0.1:{rt_server.port}/?tls=none")
    assert r.exit_code == 2 and "names no queue" in r.output
    monkeypatch.delenv("RT_TOKEN")
    r = cli("import", rt_spec(rt_server, seeded["queue"]))
    assert r.exit_code == 2 and "RT_TOKEN" in r.output and "RT_USER" in r.output


def test_rt_to_store_to_csv(cli, store, rt_server, rt_env, seeded, tmp_path):
    assert cli("import", rt_spec(rt_server, seeded["queue"])).exit_code == 0
    out = tmp_path / "csv"
    r = cli("export", f"csv:{out}")
    assert r.exit_code == 0, r.output
    tickets = list(csv.DictReader((out / "tickets.csv").open(encoding="utf-8")))
    assert sorted(t["subject"] for t in tickets) == sorted(
        ["Objednávka č. 5 nepřišla", "Не работает вход", "spam"]
    )
    cz = next(t for t in tickets if t["subject"].startswith("Objednávka"))
    assert cz["message_count"] == "5" and cz["group"] == seeded["queue"]
    assert json.loads(cz["custom_fields"])["rt.cc"] == ["ola@example.pl"]
    messages = (out / "messages.csv").read_text(encoding="utf-8")
    assert "zażółć gęślą jaźń" in messages and "мягких французских булок" in messages
    assert (out / "attachments.csv").read_text(encoding="utf-8").count("faktura č.1.pdf") == 1


def test_adapters_list_shows_rt(cli):
    r = cli("adapters", "list")
    assert r.exit_code == 0
    rows = [line.split()[:3] for line in r.output.splitlines()]
    assert ["source", "rt", "rest"] in rows
    assert "Request Tracker 5" in r.output
