"""The workspace over HTTP (in-process): login, sessions, CSRF, throttling, roles, the list,
search, the ticket view, attachments, and work on tickets."""

from __future__ import annotations

import re
import warnings

import pytest
import sqlalchemy as sa

from deskmove.store import delta
from deskmove.store import workspace as ws
from deskmove.web.auth import hash_password
from tests.webhelp import PASSWORD, seed

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def seeded(project, store):
    ids = seed(store)
    ws.add_user(
        store, email="eva@shop.example", password_hash=hash_password(PASSWORD), role="admin"
    )
    ws.add_user(
        store, email="petr@shop.example", password_hash=hash_password(PASSWORD), name="Petr Svoboda"
    )
    return ids


@pytest.fixture
def app(project, store, seeded):
    from deskmove.web.app import create_app

    return create_app(project, store)


def login(client: TestClient, email: str = "eva@shop.example", password: str = PASSWORD, **kw):
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf": token, **kw},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.fixture
def client(app):
    c = TestClient(app)
    assert login(c).status_code == 303
    return c


@pytest.fixture
def anon(app):
    return TestClient(app)


def subjects(html: str) -> list[str]:
    return re.findall(r'class="subject">([^<]+)<', html)


# -- login, sessions, CSRF ---------------------------------------------------------------
def _routes(routes):
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield r


def test_every_route_requires_login(app, anon, seeded):
    """Each route but /login and /static refuses without a session (no data in the answer)."""
    tid, mid = seeded["t-cz"], seeded["m3"]
    checked = 0
    for route in _routes(app.routes):
        path = getattr(route, "path", "")
        if path.startswith(("/login", "/static")) or not getattr(route, "methods", None):
            continue
        url = (
            path.replace("{ticket_id}", str(tid))
            .replace("{message_id}", str(mid))
            .replace("{attachment_id}", "1")
            .replace("{draft_id}", "1")
        )
        for method in route.methods - {"HEAD"}:
            r = anon.request(method, url, follow_redirects=False)
            assert r.status_code in (303, 401), (method, url, r.status_code)
            if r.status_code == 303:
                assert r.headers["location"].startswith("/login")
            assert "žluťoučk" not in r.text
            checked += 1
    assert checked >= 15


def test_attachment_without_session_is_refused(anon, client, seeded):
    assert client.get("/attachments/1").status_code == 200
    r = anon.get("/attachments/1", follow_redirects=False)
    assert r.status_code == 303 and r.content == b""
    r = anon.get("/attachments/1", headers={"Accept": "application/json"}, follow_redirects=False)
    assert r.status_code == 401


def test_login_sets_a_safe_cookie_and_logout_ends_the_session(app, store):
    c = TestClient(app)
    r = login(c)
    assert r.status_code == 303 and r.headers["location"] == "/tickets"
    cookie = r.headers["set-cookie"]
    assert "deskmove_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1; see the https test below
    token = c.cookies["deskmove_session"]
    with store.begin() as conn:  # only the token's hash is stored
        stored = conn.execute(sa.text("SELECT token_hash FROM web_sessions")).scalars().all()
    assert token not in stored and len(stored) == 1
    page = c.get("/tickets")
    assert page.status_code == 200
    r = c.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    c.cookies.set("deskmove_session", token)  # the old cookie is worthless now
    assert c.get("/tickets", follow_redirects=False).status_code == 303


def test_cookie_is_secure_over_https(project, store, seeded):
    from deskmove.web.app import create_app

    c = TestClient(create_app(project, store), base_url="https://desk.example")
    r = login(c)
    assert "Secure" in r.headers["set-cookie"]
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_wrong_password_and_unknown_address_say_the_same(anon):
    a = login(anon, password="wrong password!")
    b = login(anon, email="nobody@shop.example")
    assert a.status_code == b.status_code == 401
    assert "Wrong e-mail or password." in a.text and "Wrong e-mail or password." in b.text


def test_login_is_throttled_after_repeated_failures(anon):
    for _ in range(ws.THROTTLE_LIMIT):
        assert login(anon, password="wrong password!").status_code == 401
    r = login(anon)  # even the right password waits now
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert int(r.headers["retry-after"]) > 0


def test_login_without_its_token_is_refused(anon):
    anon.get("/login")
    r = anon.post(
        "/login", data={"email": "eva@shop.example", "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 403 and "deskmove_session" not in r.headers.get("set-cookie", "")


def test_login_redirects_only_inside_the_site(anon):
    assert login(anon, next="https://evil.example/").headers["location"] == "/tickets"
    assert login(TestClient(anon.app), next="//evil.example/x").headers["location"] == "/tickets"
    assert login(TestClient(anon.app), next="/tickets/1").headers["location"] == "/tickets/1"


def test_post_without_csrf_token_is_refused(client, store, seeded):
    tid = seeded["t-cz"]
    r = client.post(f"/tickets/{tid}/update", data={"status": "solved"}, follow_redirects=False)
    assert r.status_code == 403 and "security token" in r.text
    r = client.post(
        f"/tickets/{tid}/update",
        data={"status": "solved", "csrf": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    with store.begin() as conn:
        assert (
            conn.execute(sa.text("SELECT status FROM tickets WHERE id = :i"), {"i": tid}).scalar()
            == "open"
        )


def test_security_headers_on_pages(client):
    r = client.get("/tickets")
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "'unsafe-inline'" not in csp
        and "frame-ancestors 'none'" in csp
    )
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text  # no inline script anywhere: the CSP would block it


def test_agents_cannot_open_admin_pages(app, seeded):
    c = TestClient(app)
    login(c, email="petr@shop.example")
    assert c.get("/admin/users").status_code == 403
    assert c.get("/admin/settings").status_code == 403
    page = c.get("/tickets")
    r = c.post(
        "/admin/users", data={"csrf": csrf_of(page.text), "email": "x@y.z", "password": "x" * 12}
    )
    assert r.status_code == 403


def test_admin_adds_and_removes_a_user(client, store):
    page = client.get("/admin/users")
    assert page.status_code == 200 and "petr@shop.example" in page.text
    csrf = csrf_of(page.text)
    r = client.post(
        "/admin/users",
        data={
            "csrf": csrf,
            "email": "Nova@Shop.example",
            "password": "long enough pw",
            "role": "agent",
        },
    )
    assert r.status_code == 200 and "nova@shop.example" in r.text
    client.post("/admin/users/remove", data={"csrf": csrf, "email": "nova@shop.example"})
    assert [a.email for a in ws.list_users(store)] == ["eva@shop.example", "petr@shop.example"]


def test_admin_settings_never_show_the_smtp_password(project, store, seeded, monkeypatch):
    from deskmove.web.app import create_app

    (project.root / "deskmove.toml").write_text(
        '[mail]\nsupport_addresses = ["support@shop.example"]\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 2525\ntls = "none"\nuser = "relay"\n'
        'password = { env = "SHOP_SMTP_PASSWORD" }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SHOP_SMTP_PASSWORD", "s3cret-relay-pw")
    from deskmove.config import Project

    c = TestClient(create_app(Project.load(project.root), store))
    login(c)
    r = c.get("/admin/settings")
    assert "127.0.0.1" in r.text and "SHOP_SMTP_PASSWORD" in r.text
    assert "s3cret-relay-pw" not in r.text


# -- the list --------------------------------------------------------------------------
def test_list_shows_unsolved_with_counts(client):
    r = client.get("/tickets")
    assert subjects(r.text) == [
        "Вопрос о доставке",
        "Zażółć gęślą jaźń",
        "Reklamace: žluťoučký kůň",
    ]
    assert re.search(r"unsolved <span class=\"count\">3</span>", r.text)
    assert re.search(r"solved <span class=\"count\">1</span>", r.text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=all&q=zlutoucky", ["Reklamace: žluťoučký kůň"]),
        ("status=all&q=ZLUTOUCKEHO kone", ["Reklamace: žluťoučký kůň"]),
        ("status=all&q=upel dabelske ody", ["Reklamace: žluťoučký kůň"]),
        ("status=all&q=zazolc gesla jazn", ["Zażółć gęślą jaźń"]),
        ("status=all&q=lukasz", ["Zażółć gęślą jaźń"]),
        ("status=all&q=елкина", ["Вопрос о доставке"]),
        ("status=all&q=elka", []),  # Cyrillic is not transliterated
        ("status=all&q=ёлка", ["Вопрос о доставке"]),
        ("status=all&q=strasse grosse", ["Größe der Lieferung"]),
        ("status=all&q=weiss", ["Größe der Lieferung"]),
        ("status=all&q=jana@zakaznik.cz", ["Reklamace: žluťoučký kůň"]),
        ("status=all&q=4711", ["Zażółć gęślą jaźń"]),
        ("status=all&q=!!!", []),
        ("status=all&q=zlutoucky&channel=web", []),
    ],
    ids=[
        "cz",
        "cz-case-two-words",
        "cz-body",
        "pl",
        "pl-person",
        "ru-yo",
        "ru-no-translit",
        "ru-yo-query",
        "de-sz",
        "de-person",
        "email",
        "number",
        "punctuation",
        "search-and-filter",
    ],
)
def test_search_ignores_diacritics(client, query, expected):
    assert subjects(client.get(f"/tickets?{query}").text) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=new", ["Zażółć gęślą jaźń"]),
        ("status=solved", ["Größe der Lieferung"]),
        ("status=all&channel=phone", ["Größe der Lieferung"]),
        ("status=all&tag=vip", ["Reklamace: žluťoučký kůň"]),
        (
            "status=all&assignee=unassigned",
            ["Zażółć gęślą jaźń", "Reklamace: žluťoučký kůň", "Größe der Lieferung"],
        ),
        ("status=all&assignee=mine", ["Вопрос о доставке"]),
        (
            "status=all&source=seed&sort=-created",
            [
                "Größe der Lieferung",
                "Reklamace: žluťoučký kůň",
                "Zażółć gęślą jaźń",
                "Вопрос о доставке",
            ],
        ),
        ("status=all&source=elsewhere", []),
    ],
    ids=[
        "new",
        "solved",
        "channel",
        "tag",
        "unassigned",
        "mine",
        "source-oldest-first",
        "unknown-source",
    ],
)
def test_list_filters(client, query, expected):
    assert subjects(client.get(f"/tickets?{query}").text) == expected


def test_group_filter(client, store):
    with store.begin() as conn:
        gid = conn.execute(sa.text("SELECT id FROM groups WHERE name = 'Podpora'")).scalar()
    assert subjects(client.get(f"/tickets?status=all&group={gid}").text) == [
        "Reklamace: žluťoučký kůň"
    ]


def test_keyset_pages_walk_every_ticket_once(project, store):
    from deskmove.store.worklist import Filters, list_tickets

    seed(store, extra_tickets=120)
    for sort in ("updated", "-updated", "created", "-created", "id", "-id"):
        seen: list[int] = []
        cursor = None
        while True:
            page = list_tickets(store, Filters(status="all", sort=sort), cursor, limit=25)
            seen += [r.id for r in page.rows]
            cursor = page.next_cursor
            if not cursor:
                break
        assert len(seen) == len(set(seen)) == 124, sort


def test_list_pages_with_a_cursor_not_an_offset(client, store):
    seed(store, extra_tickets=60)
    first = client.get("/tickets")
    nxt = (
        re.search(r'href="(/tickets\?[^"]*after=[^"]+)" rel="next"', first.text)
        .group(1)
        .replace("&amp;", "&")
    )
    assert "offset" not in nxt
    second = client.get(nxt)
    assert set(subjects(first.text)).isdisjoint(subjects(second.text))
    assert len(subjects(first.text)) == 50 and len(subjects(second.text)) == 13
    partial = client.get(nxt + "&partial=1")
    assert "<html" not in partial.text and len(subjects(partial.text)) == 13


def test_a_bad_cursor_starts_from_the_top(client):
    r = client.get("/tickets?after=garbage")
    assert r.status_code == 200 and len(subjects(r.text)) == 3


# -- users CLI -------------------------------------------------------------------------
def test_users_cli_add_list_remove(cli, store):
    r = cli(
        "users",
        "add",
        "Eva@Shop.example",
        "--role",
        "admin",
        "--name",
        "Eva",
        env={"DESKMOVE_NEW_PASSWORD": PASSWORD},
    )
    assert r.exit_code == 0, r.output
    assert "Added admin eva@shop.example" in r.output
    r = cli("users", "add", "eva@shop.example", env={"DESKMOVE_NEW_PASSWORD": PASSWORD})
    assert r.exit_code == 2 and "Error: an account for eva@shop.example already exists" in r.output
    r = cli("users", "add", "petr@shop.example", env={"DESKMOVE_NEW_PASSWORD": "short"})
    assert r.exit_code == 2 and "Error: the password is too short" in r.output
    r = cli(
        "users",
        "add",
        "petr@shop.example",
        "--role",
        "boss",
        env={"DESKMOVE_NEW_PASSWORD": PASSWORD},
    )
    assert r.exit_code == 2 and "unknown role 'boss'" in r.output
    r = cli("--json", "users", "list")
    assert '"email": "eva@shop.example"' in r.output and PASSWORD not in r.output
    assert "argon2" not in r.output
    r = cli("users", "remove", "eva@shop.example")
    assert r.exit_code == 0 and "Removed eva@shop.example" in r.output
    r = cli("users", "remove", "eva@shop.example")
    assert r.exit_code == 2 and "Error: there is no account for eva@shop.example" in r.output


def test_users_add_without_a_password_names_the_variable(cli, monkeypatch):
    monkeypatch.delenv("DESKMOVE_NEW_PASSWORD", raising=False)
    r = cli("users", "add", "eva@shop.example")
    assert r.exit_code == 2 and "DESKMOVE_NEW_PASSWORD" in r.output


def test_account_is_linked_to_the_agent_person(store, seeded):
    accounts = {a.email: a for a in ws.list_users(store)}
    with store.begin() as conn:
        pid = conn.execute(
            sa.text("SELECT person_id FROM person_emails WHERE email = 'eva@shop.example'")
        ).scalar()
        role = conn.execute(sa.text("SELECT role FROM people WHERE id = :p"), {"p": pid}).scalar()
    assert accounts["eva@shop.example"].person_id == pid and role == "agent"
    assert accounts["petr@shop.example"].person_id not in (None, pid)


def test_serve_refuses_without_accounts(cli):
    r = cli("serve")
    assert r.exit_code == 2 and "Error: there are no workspace accounts yet" in r.output


def test_serve_help_has_an_example(cli):
    for args in (("serve", "--help"), ("users", "--help"), ("users", "add", "--help")):
        r = cli(*args)
        assert r.exit_code == 0 and "Example:" in r.output


def test_changes_are_recorded_for_the_next_push(client, store, seeded):
    tid = seeded["t-pl"]
    delta.set_push_watermark(store, "new-desk", delta.latest_run_id(store))
    assert delta.changed_ticket_ids(store, "new-desk") == []
    page = client.get(f"/tickets/{tid}")
    r = client.post(
        f"/tickets/{tid}/update",
        data={"csrf": csrf_of(page.text), "status": "pending", "tags": "faktura urgent"},
    )
    assert r.status_code == 200
    assert delta.changed_ticket_ids(store, "new-desk") == [tid]


def test_pages_follow_the_browser_language_then_the_account_setting(client):
    r = client.get("/tickets", headers={"Accept-Language": "cs-CZ,cs;q=0.9"})
    assert 'lang="cs"' in r.text and "Odhlásit" in r.text and "nevyřešené" in r.text
    assert "3 zprávy" in r.text  # Czech plural forms
    r = client.post(
        "/settings", data={"csrf": csrf_of(r.text), "language": "ru", "timezone": "Europe/Warsaw"}
    )
    assert r.status_code == 200 and "Сохранено." in r.text
    r = client.get("/tickets", headers={"Accept-Language": "cs"})
    assert 'lang="ru"' in r.text and "Выйти" in r.text
    r = client.post("/settings", data={"csrf": csrf_of(r.text), "timezone": "Mars/Olympus"})
    assert r.status_code == 400 and "Mars/Olympus" in r.text


def test_metrics_page_draws_svg(client):
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.text.count('<svg class="chart"') == 5 and "<script>" not in r.text
    assert "Backlog by status" in r.text and "Eva" in r.text
