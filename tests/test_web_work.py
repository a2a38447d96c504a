"""Working tickets over HTTP: the ticket view, mail bodies, attachments, notes, field changes,
replies through a real SMTP server, held replies, failed sends, presence."""

from __future__ import annotations

import re
import warnings

import pytest
import sqlalchemy as sa

from deskmove.config import Project
from deskmove.store import delta
from deskmove.store import workspace as ws
from deskmove.web.auth import hash_password
from tests.smtpserver import SmtpServer, free_port
from tests.webhelp import PASSWORD, PNG, RAW_MAIL, seed

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def write_smtp(project_dir, port: int) -> Project:
    (project_dir / "deskmove.toml").write_text(
        '[mail]\nsupport_addresses = ["support@shop.example"]\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\ntimeout = 5\n'
        'from = "Shop Support <support@shop.example>"\n',
        encoding="utf-8",
    )
    return Project.load(project_dir)


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def ids(store):
    out = seed(store)
    ws.add_user(
        store,
        email="eva@shop.example",
        password_hash=hash_password(PASSWORD),
        role="admin",
        name="Eva Nováková",
    )
    ws.add_user(
        store, email="petr@shop.example", password_hash=hash_password(PASSWORD), name="Petr Svoboda"
    )
    return out


def make_client(project, store, email="eva@shop.example") -> TestClient:
    from deskmove.web.app import create_app

    c = TestClient(create_app(project, store))
    page = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf": token}, follow_redirects=False
    )
    assert r.status_code == 303
    return c


@pytest.fixture
def client(project_dir, store, ids, smtp):
    return make_client(write_smtp(project_dir, smtp.port), store)


def form_fields(html: str, action: str) -> dict[str, str]:
    form = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S
    ).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    return fields


def reply(client, tid: int, body: str, page: str | None = None, **extra):
    page = page or client.get(f"/tickets/{tid}").text
    data = {
        **form_fields(page, f"/tickets/{tid}/reply"),
        "to": "jana@zakaznik.cz",
        "body": body,
        **extra,
    }
    return client.post(f"/tickets/{tid}/reply", data=data, follow_redirects=False), page


def ticket_status(store, tid):
    with store.begin() as conn:
        return conn.execute(
            sa.text("SELECT status, priority, tags, assignee_id FROM tickets WHERE id = :i"),
            {"i": tid},
        ).one()


# -- the ticket view ---------------------------------------------------------------------
def test_ticket_view_shows_the_conversation_in_order(client, ids):
    html = client.get(f"/tickets/{ids['t-cz']}").text
    order = [html.index(f'id="m{ids[m]}"') for m in ("m1", "m2", "m3")]
    assert order == sorted(order)
    assert "koupila jsem žluťoučkého koně" in html
    assert 'class="msg outbound"' in html and 'class="msg inbound"' in html
    # quoted history of the plain-text reply is folded
    assert re.search(
        r'<details class="quoted"><summary>Quoted text</summary><div class="text">Dne 2\. 11\. 2026 Jana napsal\(a\):',
        html,
    )
    # times: the viewer's zone (UTC here), the sender's own clock in the title
    assert "2026-11-02T09:30+01:00" in html


def test_times_follow_the_viewer_zone(client, ids):
    client.cookies.set("tz", "Europe/Prague")
    html = client.get(f"/tickets/{ids['t-cz']}").text
    assert "Nov 2, 2026, 9:30:00" in html  # 08:30 UTC is 09:30 in Prague
    client.cookies.set("tz", "Asia/Tokyo")
    assert "Nov 2, 2026, 5:30:00" in client.get(f"/tickets/{ids['t-cz']}").text


def test_missing_ticket_is_a_404_page(client):
    r = client.get("/tickets/999999")
    assert r.status_code == 404 and "There is no ticket #999999." in r.text and "<html" in r.text
    assert client.get("/tickets/not-a-number").status_code == 400


def test_html_body_is_sanitised_and_framed(client, ids):
    page = client.get(f"/tickets/{ids['t-cz']}").text
    assert (
        f'<iframe class="body" src="/messages/{ids["m3"]}/body" sandbox="allow-same-origin' in page
    )
    assert "allow-scripts" not in page
    r = client.get(f"/messages/{ids['m3']}/body")
    body = r.text
    for bad in (
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "expression(",
        "<svg",
        "<iframe",
        "<form",
        "tracker.example",
    ):
        assert bad not in body.lower(), bad
    csp = r.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "img-src 'self' data:;" in csp and "sandbox" in csp
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert "1 remote image blocked" in body
    # the cid: logo points at its attachment, served from the blob store
    src = re.search(r'<img src="(/attachments/\d+)" alt="logo">', body).group(1)
    img = client.get(src)
    assert img.content == PNG and img.headers["content-type"] == "image/png"
    assert img.headers["content-disposition"].startswith("inline;")
    # quoted history folded
    assert '<details class="quoted"><summary>…</summary><blockquote>Původní zpráva' in body


def test_a_body_seen_again_is_not_sanitised_again(client, ids, monkeypatch):
    from deskmove.web import render

    calls = []
    real = render.display_html
    monkeypatch.setattr(render, "display_html", lambda *a, **k: calls.append(1) or real(*a, **k))
    render._display_cached.cache_clear()
    first = client.get(f"/messages/{ids['m3']}/body")
    again = client.get(f"/messages/{ids['m3']}/body")
    assert first.text == again.text and len(calls) == 1
    assert first.headers["cache-control"] == "private, no-cache" and first.headers["etag"]
    # the browser's copy is confirmed with a 304, still under the body's own policy
    cached = client.get(
        f"/messages/{ids['m3']}/body", headers={"If-None-Match": first.headers["etag"]}
    )
    assert cached.status_code == 304 and not cached.content
    assert "script-src 'none'" in cached.headers["content-security-policy"]
    # remote images asked for: another page, sanitised on its own
    assert (
        client.get(f"/messages/{ids['m3']}/body?remote=1").headers["etag"] != first.headers["etag"]
    )
    assert len(calls) == 2


def test_remote_images_only_when_asked(client, ids):
    r = client.get(f"/messages/{ids['m3']}/body?remote=1")
    assert 'src="https://tracker.example/pixel.gif"' in r.text
    assert "img-src 'self' data: https: http:" in r.headers["content-security-policy"]


def test_attachments_download_with_a_safe_name(client, ids, store):
    with store.begin() as conn:
        aid = conn.execute(
            sa.text("SELECT id FROM attachments WHERE filename LIKE '%passwd%'")
        ).scalar()
    r = client.get(f"/attachments/{aid}")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    cd = r.headers["content-disposition"]
    assert cd.startswith('attachment; filename="passwd.pdf"') and ".." not in cd and "/" not in cd
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert client.get("/attachments/424242").status_code == 404
    assert client.get("/attachments/..%2F..%2Fdeskmove.db").status_code in (400, 404)


@pytest.mark.parametrize(
    ("ctype", "disposition", "served"),
    [
        ("image/png", "inline", "image/png"),
        ("image/svg+xml", "attachment", "image/svg+xml"),
        ("text/html", "attachment", "text/html"),
        ("text/html; charset=utf-8", "attachment", "text/html"),
        ("not a type <script>", "attachment", "application/octet-stream"),
    ],
    ids=["png-inline", "svg-download", "html-download", "html-params", "garbage-type"],
)
def test_only_safe_images_are_shown_inline(client, ids, store, ctype, disposition, served):
    sha = store.blobs.put(b"<svg onload=alert(1)></svg>")
    with store.begin() as conn:
        aid = conn.execute(
            sa.text(
                "INSERT INTO attachments (message_id, filename, content_type, size, sha256, inline) "
                "VALUES (:m, 'x', :c, 10, :s, true) RETURNING id"
            ),
            {"m": ids["m1"], "c": ctype, "s": sha},
        ).scalar()
    r = client.get(f"/attachments/{aid}")
    assert r.headers["content-disposition"].startswith(disposition)
    assert r.headers["content-type"].split(";")[0] == served


def test_raw_mail_download(client, ids):
    r = client.get(f"/messages/{ids['m1']}/raw")
    assert r.content == RAW_MAIL and r.headers["content-type"] == "message/rfc822"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert client.get(f"/messages/{ids['m2']}/raw").status_code == 404


def test_a_long_ticket_streams(client, store, ids):
    from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
    from tests.webhelp import T0

    msgs = [
        MessageRec(
            native_id=f"long-{i}",
            created_at=T0,
            author=PersonRef(email="a@b.c"),
            body_text=f"part {i} " * 20,
        )
        for i in range(1000)
    ]
    store.ingestor("seed", None).ingest(
        Batch(
            tickets=[TicketRec(native_id="long", subject="Long", messages=msgs, created_at=T0)],
            read=1,
        )
    )
    with store.begin() as conn:
        tid = conn.execute(sa.text("SELECT id FROM tickets WHERE subject = 'Long'")).scalar()
    with client.stream("GET", f"/tickets/{tid}") as r:
        assert "content-length" not in r.headers  # streamed, not rendered in one piece
        chunks = list(r.iter_raw())
    text = b"".join(chunks).decode()
    assert len(chunks) > 3 and text.count('class="msg inbound"') == 1000 and "part 999" in text


# -- work -------------------------------------------------------------------------------
def test_note_assign_status_tags(client, store, ids):
    tid = ids["t-pl"]
    page = client.get(f"/tickets/{tid}").text
    csrf = form_fields(page, f"/tickets/{tid}/note")["csrf"]
    r = client.post(
        f"/tickets/{tid}/note", data={"csrf": csrf, "body": "Zákazník volal, faktura odeslána."}
    )
    assert r.status_code == 200 and "Note added." in r.text
    assert 'class="msg note"' in r.text and "internal note" in r.text
    r = client.post(f"/tickets/{tid}/claim", data={"csrf": csrf})
    assert "The ticket is yours." in r.text
    eva = ws.list_users(store)[0].person_id
    r = client.post(
        f"/tickets/{tid}/update",
        data={
            "csrf": csrf,
            "status": "pending",
            "priority": "high",
            "tags": "faktura, urgent",
            "assignee": str(eva),
        },
    )
    row = ticket_status(store, tid)
    assert (row.status, row.priority, row.assignee_id) == ("pending", "high", eva)
    assert sorted(
        row.tags if isinstance(row.tags, list) else __import__("json").loads(row.tags)
    ) == ["faktura", "urgent"]
    # the note is searchable at once
    assert "Zażółć" in client.get("/tickets?status=all&q=odeslana").text


def test_bad_form_values_say_what_is_wrong(client, ids):
    tid = ids["t-pl"]
    page = client.get(f"/tickets/{tid}").text
    csrf = form_fields(page, f"/tickets/{tid}/note")["csrf"]
    r = client.post(f"/tickets/{tid}/update", data={"csrf": csrf, "status": "finished"})
    assert r.status_code == 400 and "unknown status &#39;finished&#39;" in r.text
    r = client.post(f"/tickets/{tid}/update", data={"csrf": csrf, "assignee": "99999"})
    assert r.status_code == 400 and "is not an agent" in r.text
    r = client.post(f"/tickets/{tid}/note", data={"csrf": csrf, "body": "   "})
    assert r.status_code == 400 and "the note is empty" in r.text
    r = client.post(f"/tickets/{tid}/reply", data={"csrf": csrf, "seen_upto": "minus one"})
    assert r.status_code == 400 and "seen_upto" in r.text
    r = client.post("/tickets/999999/note", data={"csrf": csrf, "body": "x"})
    assert r.status_code == 404


def test_reply_goes_out_by_smtp_with_threading_headers(client, store, ids, smtp):
    tid = ids["t-cz"]
    r, _page = reply(client, tid, "Dobrý den, nový kůň je na cestě.\nS pozdravem Eva")
    assert r.status_code == 303 and "notice=sent" in r.headers["location"]
    assert smtp.inbox.arrived.wait(5)
    [(sender, rcpts, mail)] = smtp.inbox.mails
    assert sender == "support@shop.example" and rcpts == ["jana@zakaznik.cz"]
    assert mail["In-Reply-To"] == "<second@zakaznik.cz>"
    assert mail["References"].split() == [
        "<first@zakaznik.cz>",
        "<reply1@shop.example>",
        "<second@zakaznik.cz>",
    ]
    assert mail["Subject"] == "Re: Reklamace: žluťoučký kůň"
    assert mail["From"] == "Eva Nováková <support@shop.example>"
    assert "nový kůň je na cestě" in mail.get_content()
    with store.begin() as conn:
        row = conn.execute(
            sa.text(
                "SELECT message_id, in_reply_to, direction, public, raw_sha256 FROM messages WHERE ticket_id = :t ORDER BY id DESC LIMIT 1"
            ),
            {"t": tid},
        ).one()
    assert row.message_id == mail["Message-ID"] and row.in_reply_to == "<second@zakaznik.cz>"
    assert (row.direction, bool(row.public)) == ("outbound", True)
    assert b"nov" in store.blobs.get(row.raw_sha256)  # the sent mail is kept as the raw original
    assert ws.drafts_for(store, tid) == []


def test_the_same_reply_form_twice_sends_once(client, store, ids, smtp):
    tid = ids["t-cz"]
    r1, page = reply(client, tid, "Jednou a dost.")
    r2, _ = reply(client, tid, "Jednou a dost.", page=page)
    assert "notice=sent" in r1.headers["location"] and "notice=duplicate" in r2.headers["location"]
    assert len(smtp.inbox.mails) == 1


def test_reply_is_held_when_a_message_arrived_meanwhile(client, store, ids, smtp, project_dir):
    tid = ids["t-cz"]
    page = client.get(f"/tickets/{tid}").text  # the agent opens the form …
    petr = make_client(write_smtp(project_dir, smtp.port), store, "petr@shop.example")
    r, _ = reply(petr, tid, "Petr odpovídá dřív.")  # … a colleague answers first
    assert "notice=sent" in r.headers["location"]
    r, _ = reply(client, tid, "Eva odpovídá taky.", page=page)
    assert "notice=held" in r.headers["location"]
    assert len(smtp.inbox.mails) == 1
    held = client.get(r.headers["location"]).text
    assert (
        "Your reply is held" in held
        and "held until you confirm" in held
        and "Eva odpovídá taky." in held
    )
    [draft] = ws.drafts_for(store, tid)
    assert draft.state == "held"
    # confirming with the page as it is now sends it, once
    fields = form_fields(held, f"/drafts/{draft.id}/send")
    r = client.post(f"/drafts/{draft.id}/send", data=fields, follow_redirects=False)
    assert "notice=sent" in r.headers["location"]
    assert len(smtp.inbox.mails) == 2
    r = client.post(f"/drafts/{draft.id}/send", data=fields, follow_redirects=False)
    assert "notice=duplicate" in r.headers["location"] and len(smtp.inbox.mails) == 2


def test_own_note_does_not_hold_the_reply(client, store, ids, smtp):
    tid = ids["t-cz"]
    page = client.get(f"/tickets/{tid}").text
    csrf = form_fields(page, f"/tickets/{tid}/note")["csrf"]
    client.post(f"/tickets/{tid}/note", data={"csrf": csrf, "body": "poznámka"})
    r, _ = reply(client, tid, "Odpověď.", page=page)
    assert "notice=sent" in r.headers["location"]


def test_failed_send_is_kept_as_a_visible_draft_then_sent_once(project_dir, store, ids, smtp):
    dead = free_port()  # nothing listens here
    client = make_client(write_smtp(project_dir, dead), store)
    tid = ids["t-cz"]
    r, _ = reply(client, tid, "Tahle odpověď se nejdřív nepošle.")
    assert "notice=failed" in r.headers["location"]
    html = client.get(r.headers["location"]).text
    assert (
        "The reply could not be sent" in html and "cannot reach the SMTP relay 127.0.0.1:" in html
    )
    assert "Tahle odpověď se nejdřív nepošle." in html
    [draft] = ws.drafts_for(store, tid)
    assert draft.state == "failed"
    with store.begin() as conn:  # nothing was stored as sent
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE body_text LIKE 'Tahle%'")
            ).scalar()
            == 0
        )
    # the relay is back: "Send again" delivers it once
    client2 = make_client(write_smtp(project_dir, smtp.port), store)
    page = client2.get(f"/tickets/{tid}").text
    r = client2.post(
        f"/drafts/{draft.id}/send",
        data=form_fields(page, f"/drafts/{draft.id}/send"),
        follow_redirects=False,
    )
    assert "notice=sent" in r.headers["location"] and len(smtp.inbox.mails) == 1
    assert ws.drafts_for(store, tid) == []


def test_no_smtp_section_keeps_the_reply_as_a_draft(project, store, ids):
    client = make_client(project, store)
    r, _ = reply(client, ids["t-cz"], "Bez SMTP.")
    assert "notice=failed" in r.headers["location"]
    assert "no [smtp] section" in client.get(r.headers["location"]).text


def test_a_draft_caught_mid_send_is_not_sent_again_without_asking(client, store, ids, smtp):
    tid = ids["t-cz"]
    did, _ = ws.create_draft(
        store,
        ticket_id=tid,
        user_id=ws.list_users(store)[0].id,
        form_token="x" * 20,
        state="held",
        to=["jana@zakaznik.cz"],
        cc=[],
        subject="Re: x",
        body="crash",
        seen_upto=10**9,
        mail_id="<crash@shop.example>",
        in_reply_to=None,
        references=[],
    )
    assert ws.claim_draft(store, did)  # a process claimed it, then died
    assert not ws.claim_draft(store, did)
    page = client.get(f"/tickets/{tid}").text
    assert "sending was interrupted: check your sent mail before sending again" in page
    r = client.post(
        f"/drafts/{did}/send",
        data={"csrf": form_fields(page, f"/drafts/{did}/send")["csrf"], "seen_upto": str(10**9)},
        follow_redirects=False,
    )
    assert (
        "notice=duplicate" in r.headers["location"] and smtp.inbox.mails == []
    )  # not without unknown_ok
    fields = form_fields(page, f"/drafts/{did}/send")
    assert fields["unknown_ok"] == "1"
    r = client.post(f"/drafts/{did}/send", data=fields, follow_redirects=False)
    assert "notice=sent" in r.headers["location"] and len(smtp.inbox.mails) == 1


def test_presence_shows_who_else_is_here(project_dir, store, ids, smtp, client):
    tid = ids["t-cz"]
    page = client.get(f"/tickets/{tid}").text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    r = client.post(f"/tickets/{tid}/presence?state=replying", headers={"X-CSRF-Token": csrf})
    assert r.json()["others"] == []
    petr = make_client(write_smtp(project_dir, smtp.port), store, "petr@shop.example")
    html = petr.get(f"/tickets/{tid}").text
    assert "Also here:" in html and "Eva Nováková (replying)" in html
    r = client.post(f"/tickets/{tid}/presence", headers={"X-CSRF-Token": csrf})
    assert r.json()["others"] == [{"name": "Petr Svoboda", "state": "viewing"}]
    assert client.post(f"/tickets/{tid}/presence").status_code == 403  # no token, no heartbeat


def test_a_store_locked_by_a_sync_still_serves_pages_and_says_busy_on_writes(project, store, ids):
    import sqlite3
    import time

    from deskmove.web.app import create_app

    c = TestClient(create_app(project, store, write_wait=0.5))
    page = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    c.post("/login", data={"email": "eva@shop.example", "password": PASSWORD, "csrf": token})
    tid = ids["t-pl"]
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', c.get(f"/tickets/{tid}").text).group(1)
    sync = sqlite3.connect(store.engine.url.database, isolation_level=None)
    sync.execute("BEGIN IMMEDIATE")  # what an import holds while it writes a batch
    try:
        t0 = time.monotonic()
        r = c.get(f"/tickets/{tid}")
        assert r.status_code == 200 and "Zażółć" in r.text  # reads go on
        r = c.post(f"/tickets/{tid}/note", data={"csrf": csrf, "body": "během synchronizace"})
        assert (
            r.status_code == 503
            and "The store is busy" in r.text
            and r.headers["retry-after"] == "5"
        )
        assert time.monotonic() - t0 < 10
    finally:
        sync.execute("ROLLBACK")
        sync.close()
    r = c.post(f"/tickets/{tid}/note", data={"csrf": csrf, "body": "po synchronizaci"})
    assert r.status_code == 200 and "Note added." in r.text


def test_workspace_replies_and_notes_reach_the_next_export(client, store, ids, smtp, cli, tmp_path):
    out = tmp_path / "out"
    first = cli("export", f"csv:{out}")
    assert first.exit_code == 0, first.output
    tid = ids["t-cz"]
    r, page = reply(client, tid, "Odpověď z pracovního prostoru.")
    assert "notice=sent" in r.headers["location"]
    csrf = form_fields(page, f"/tickets/{tid}/note")["csrf"]
    client.post(f"/tickets/{tid}/note", data={"csrf": csrf, "body": "Interní poznámka z prostoru."})
    client.post(
        f"/tickets/{tid}/update", data={"csrf": csrf, "status": "solved", "tags": "reklamace vip"}
    )
    assert delta.changed_ticket_ids(store, f"csv:{out.resolve()}") == [tid]
    again = cli("export", f"csv:{out}")
    assert again.exit_code == 0, again.output
    messages = (out / "messages.csv").read_text(encoding="utf-8")
    assert (
        "Odpověď z pracovního prostoru." in messages and "Interní poznámka z prostoru." in messages
    )
    tickets = (out / "tickets.csv").read_text(encoding="utf-8")
    assert any(line.startswith(f"{tid},") and ",solved," in line for line in tickets.splitlines())
    assert delta.changed_ticket_ids(store, f"csv:{out.resolve()}") == []
