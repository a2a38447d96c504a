"""MailBatcher: raw mails to tickets, people and quarantine, through the real store."""

from __future__ import annotations

import sqlalchemy as sa

from deskmove.config import Project
from deskmove.mail.batcher import MailBatcher, RawMail
from deskmove.store import Store
from tests.mailhelp import at, mail

CONN = "mbox:/tmp/test.mbox"


def _project(project_dir) -> Project:
    (project_dir / "deskmove.toml").write_text(
        '[mail]\nsupport_addresses = ["support@shop.example", "info@shop.example"]\n'
        'support_domains = ["shop.example"]\n',
        encoding="utf-8",
    )
    return Project.load(project_dir)


def _ingest(project: Project, store: Store, *mails: RawMail):
    batch = MailBatcher(project, store, CONN).batch(list(mails))
    return store.ingestor(CONN, None).ingest(batch)


def _rows(store: Store, sql: str) -> list:
    with store.engine.connect() as c:
        return list(c.execute(sa.text(sql)))


def test_reply_joins_ticket_and_directions_and_people(project_dir, store):
    project = _project(project_dir)
    question = mail(mid="<q@example.cz>", date=at(0))
    answer = mail(
        frm="Podpora <support@shop.example>",
        to="jan@example.cz",
        subject="Re: Objednávka",
        mid="<a@shop.example>",
        irt="<q@example.cz>",
        refs="<q@example.cz>",
        date=at(30),
        body="Dobrý den, posíláme znovu.\n",
    )
    counts = _ingest(project, store, RawMail(question, "offset:0"), RawMail(answer, "offset:900"))
    assert counts.new["message"] == 2 and counts.read == 2
    tickets = _rows(store, "select id, subject, channel, status, requester_id from tickets")
    assert len(tickets) == 1
    assert tickets[0].subject == "Objednávka" and tickets[0].channel == "email"
    assert tickets[0].status == "pending"  # the agent answered last
    msgs = _rows(
        store,
        "select m.direction, p.role, pe.email from messages m join people p on p.id = m.author_id "
        "join person_emails pe on pe.person_id = p.id order by m.created_at",
    )
    assert [(m.direction, m.role, m.email) for m in msgs] == [
        ("inbound", "customer", "jan@example.cz"),
        ("outbound", "agent", "support@shop.example"),
    ]
    requester = _rows(
        store, f"select email from person_emails where person_id = {tickets[0].requester_id}"
    )
    assert requester[0].email == "jan@example.cz"
    names = dict(
        _rows(
            store,
            "select pe.email, p.name from people p join person_emails pe on pe.person_id = p.id",
        )
    )
    assert names["jan@example.cz"] == "Jan Novák"


def test_unparseable_mail_is_quarantined_with_reason(project_dir, store):
    project = _project(project_dir)
    counts = _ingest(
        project, store, RawMail(b"\x00\xff garbage \xfe", "offset:0"), RawMail(mail(), "offset:50")
    )
    assert counts.read == 2 and counts.quarantined == 1 and counts.new["message"] == 1
    q = _rows(store, "select native_ref, reason, raw_sha256 from quarantine")
    assert q[0].native_ref == "offset:0" and "not an email" in q[0].reason
    assert store.blobs.get(q[0].raw_sha256) == b"\x00\xff garbage \xfe"


def test_same_mail_twice_is_one_message_and_balanced(project_dir, store):
    project = _project(project_dir)
    raw = mail()
    counts = _ingest(
        project,
        store,
        RawMail(raw, "INBOX/1/1", folder="INBOX"),
        RawMail(b"Received: by mx\r\n" + raw, "Sent/1/7", folder="Sent"),
    )
    assert counts.read == 2
    assert counts.new["message"] + counts.unchanged["message"] == 2
    assert _rows(store, "select count(*) from messages")[0][0] == 1
    again = _ingest(project, store, RawMail(raw, "INBOX/1/1", folder="INBOX"))
    assert again.unchanged["message"] == 1 and again.new["message"] == 0


def test_same_id_different_content_is_two_messages(project_dir, store):
    project = _project(project_dir)
    a = mail(body="first text\n")
    b = mail(body="another text\n", date=at(60))
    counts = _ingest(project, store, RawMail(a, "1"), RawMail(b, "2"))
    assert counts.new["message"] == 2
    assert _rows(store, "select count(*) from messages")[0][0] == 2


def test_reply_before_parent_across_runs_ends_in_one_ticket(project_dir, store):
    project = _project(project_dir)
    reply = mail(
        frm="support@shop.example",
        to="jan@example.cz",
        subject="Re: Objednávka",
        mid="<r@shop.example>",
        irt="<p@example.cz>",
        refs="<p@example.cz>",
        date=at(30),
    )
    _ingest(project, store, RawMail(reply, "2"))
    other = mail(frm="eva@example.pl", subject="Faktura", mid="<x@example.pl>", date=at(5))
    _ingest(project, store, RawMail(other, "3"))
    parent = mail(mid="<p@example.cz>", date=at(0))
    _ingest(project, store, RawMail(parent, "1"))
    rows = _rows(
        store,
        "select t.subject, count(m.id) from tickets t join messages m on m.ticket_id = t.id group by t.id order by t.subject",
    )
    assert [(r[0], r[1]) for r in rows] == [("Faktura", 1), ("Objednávka", 2)]
    ticket = _rows(
        store,
        "select thread_key, requester_id, created_at from tickets where subject = 'Objednávka'",
    )[0]
    assert ticket.thread_key == "<p@example.cz>"


def test_two_stored_tickets_merge_when_a_mail_links_them(project_dir, store):
    project = _project(project_dir)
    a = mail(mid="<a@example.cz>", subject="Dotaz A", date=at(0))
    b = mail(mid="<b@example.cz>", subject="Dotaz B", date=at(10))
    _ingest(project, store, RawMail(a, "1"))
    _ingest(project, store, RawMail(b, "2"))
    assert _rows(store, "select count(*) from tickets")[0][0] == 2
    link = mail(
        frm="support@shop.example",
        to="jan@example.cz",
        subject="Re: Dotaz A",
        mid="<c@shop.example>",
        refs="<a@example.cz> <b@example.cz>",
        date=at(20),
    )
    _ingest(project, store, RawMail(link, "3"))
    tickets = _rows(store, "select id, subject from tickets")
    assert [t.subject for t in tickets] == ["Dotaz A"]
    assert _rows(store, "select count(distinct ticket_id) from messages")[0][0] == 1
    prov = _rows(store, "select distinct entity_id from provenance where kind = 'ticket'")
    assert [p[0] for p in prov] == [tickets[0].id]
    # re-reading the moved mail lands in the merged ticket: recorded once as moved, then unchanged
    again = _ingest(project, store, RawMail(b, "2"))
    assert again.new["message"] == 0 and again.new["ticket"] == 0
    assert _rows(store, "select count(*) from tickets")[0][0] == 1
    third = _ingest(project, store, RawMail(b, "2"))
    assert third.unchanged["message"] == 1


def test_subject_fallback_across_runs_is_per_customer_and_windowed(project_dir, store):
    project = _project(project_dir)
    _ingest(project, store, RawMail(mail(mid="<o1@example.cz>", subject="Pomalé doručení"), "1"))
    near = mail(mid="<o2@example.cz>", subject="RE: Pomalé doručení", date=at(60 * 24 * 3))
    other = mail(
        frm="eva@example.pl", mid="<o3@example.pl>", subject="Re: Pomalé doručení", date=at(60)
    )
    far = mail(mid="<o4@example.cz>", subject="Re: Pomalé doručení", date=at(60 * 24 * 90))
    for i, raw in enumerate((near, other, far)):
        _ingest(project, store, RawMail(raw, f"{i + 2}"))
    rows = _rows(
        store,
        "select m.message_id, m.ticket_id from messages m order by m.created_at",
    )
    ticket = {r.message_id: r.ticket_id for r in rows}
    assert ticket["<o2@example.cz>"] == ticket["<o1@example.cz>"]  # same customer, 3 days later
    assert ticket["<o3@example.pl>"] != ticket["<o1@example.cz>"]  # another customer
    assert ticket["<o4@example.cz>"] != ticket["<o1@example.cz>"]  # 90 days: outside the window


def test_cross_run_merge_on_sqlite_and_postgresql(project_dir, any_store):
    project = _project(project_dir)
    store = any_store
    reply = mail(
        frm="support@shop.example",
        to="jan@example.cz",
        subject="Re: Dotaz",
        mid="<pg-r@shop.example>",
        refs="<pg-a@example.cz> <pg-b@example.cz>",
        date=at(30),
    )
    _ingest(project, store, RawMail(mail(mid="<pg-a@example.cz>", subject="Dotaz"), "1"))
    _ingest(
        project, store, RawMail(mail(mid="<pg-b@example.cz>", subject="Dotaz 2", date=at(5)), "2")
    )
    _ingest(project, store, RawMail(reply, "3"))
    assert _rows(store, "select count(*) from tickets")[0][0] == 1
    assert _rows(store, "select count(distinct ticket_id) from messages")[0][0] == 1
    again = _ingest(project, store, RawMail(reply, "3"))
    assert again.unchanged["message"] == 1 and again.new["ticket"] == 0


def test_headerless_reply_imported_before_its_root_is_joined_later(project_dir, store):
    project = _project(project_dir)
    reply = mail(mid="<late-r@example.cz>", subject="Odp: Vrácení peněz", date=at(120))
    _ingest(project, store, RawMail(reply, "2"))
    root = mail(mid="<late-root@example.cz>", subject="Vrácení peněz", date=at(0))
    _ingest(project, store, RawMail(root, "1"))
    tickets = _rows(store, "select id, subject, created_at from tickets")
    assert len(tickets) == 1 and tickets[0].subject == "Vrácení peněz"
    assert _rows(store, "select count(distinct ticket_id) from messages")[0][0] == 1


def test_mangled_mails_never_raise_and_are_all_accounted(project_dir, store):
    import io
    import random
    from pathlib import Path

    from deskmove.mail.mboxfile import iter_mbox

    project = _project(project_dir)
    sample = Path(__file__).resolve().parents[1] / "examples" / "mailbox.mbox"
    entries = list(iter_mbox(io.BytesIO(sample.read_bytes())))[:120]
    rng = random.Random(5)
    mangled = []
    for i, e in enumerate(entries):
        raw = bytearray(e.raw)
        how = i % 4
        if how == 0:
            raw = raw[: rng.randint(0, len(raw))]  # truncated anywhere
        elif how == 1:
            for _ in range(20):
                raw[rng.randrange(len(raw))] = rng.randrange(256)  # flipped bytes
        elif how == 2:
            lines = bytes(raw).split(b"\n")
            rng.shuffle(lines)  # headers and body scrambled
            raw = bytearray(b"\n".join(lines))
        else:
            raw = bytearray(bytes(raw).replace(b"boundary=", b"boundary=x"))  # broken boundaries
        mangled.append(RawMail(bytes(raw), f"offset:{e.start}"))
    counts = _ingest(project, store, *mangled)
    assert counts.read == 120
    assert counts.new["message"] + counts.unchanged["message"] + counts.quarantined == 120
    reasons = {r[0] for r in _rows(store, "select reason from quarantine")}
    assert all(reason for reason in reasons)


def _partition(store: Store) -> set[tuple[frozenset[str], str, str]]:
    """Each ticket as (its Message-IDs, its subject, its requester's address)."""
    groups: dict[int, set[str]] = {}
    for mid, tid in _rows(store, "select message_id, ticket_id from messages"):
        groups.setdefault(tid, set()).add(mid)
    heads = _rows(
        store,
        "select t.id, t.subject, pe.email from tickets t "
        "left join person_emails pe on pe.person_id = t.requester_id",
    )
    return {(frozenset(groups[tid]), subject, email) for tid, subject, email in heads}


def test_sample_threads_the_same_whatever_the_arrival_order(project_dir, tmp_path):
    import io
    import random
    from pathlib import Path

    from deskmove.mail.mboxfile import iter_mbox

    project = _project(project_dir)
    sample = Path(__file__).resolve().parents[1] / "examples" / "mailbox.mbox"
    mails = [
        RawMail(e.raw, f"offset:{e.start}", e.date)
        for e in iter_mbox(io.BytesIO(sample.read_bytes()))
    ]
    one = Store.open(f"sqlite:///{tmp_path / 'one.db'}", tmp_path / "blobs")
    _ingest(project, one, *mails)
    expected = _partition(one)
    assert len(expected) > 50
    shuffled = list(mails)
    random.Random(11).shuffle(shuffled)
    many = Store.open(f"sqlite:///{tmp_path / 'many.db'}", tmp_path / "blobs")
    for i in range(0, len(shuffled), 40):  # twelve runs, replies often before their parents
        _ingest(project, many, *shuffled[i : i + 40])
    assert _partition(many) == expected
    assert _rows(many, "select count(*) from tickets")[0][0] == len(expected)
    one.close()
    many.close()
