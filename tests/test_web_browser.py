"""The workspace in a real headless Chromium (Debian's, driven by Playwright), served by
`deskmove serve` in its own process, replies delivered to a real SMTP server; on SQLite
and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deskmove.config import Project
from deskmove.store import Store
from deskmove.store import workspace as ws
from deskmove.web.auth import hash_password
from tests.conftest import unavailable
from tests.smtpserver import SmtpServer, free_port
from tests.webhelp import PASSWORD, seed

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CHROMIUM = os.environ.get("DESKMOVE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = (
    Path(os.environ.get("DESKMOVE_SCREENSHOTS", ""))
    if os.environ.get("DESKMOVE_SCREENSHOTS")
    else None
)


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        unavailable("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=30_000)
        yield b
        b.close()


class Served:
    def __init__(
        self, url: str, proc: subprocess.Popen, smtp: SmtpServer, store: Store, ids: dict[str, int]
    ):
        self.url, self.proc, self.smtp, self.store, self.ids = url, proc, smtp, store, ids


@pytest.fixture(params=["sqlite", "postgres"])
def served(request, tmp_path: Path, monkeypatch):
    root = tmp_path / "project"
    env = {k: v for k, v in os.environ.items() if k != "DESKMOVE_DATABASE_URL"}
    if request.param == "postgres":
        env["DESKMOVE_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    with SmtpServer() as smtp:
        from deskmove.config import init_project

        init_project(root)
        (root / "deskmove.toml").write_text(
            '[mail]\nsupport_addresses = ["support@shop.example"]\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntls = "none"\ntimeout = 5\n',
            encoding="utf-8",
        )
        monkeypatch.delenv("DESKMOVE_DATABASE_URL", raising=False)
        if "DESKMOVE_DATABASE_URL" in env:
            monkeypatch.setenv("DESKMOVE_DATABASE_URL", env["DESKMOVE_DATABASE_URL"])
        project = Project.load(root)
        store = Store.open(project.store_url, project.blob_root)
        ids = seed(store)
        ws.add_user(
            store,
            email="eva@shop.example",
            password_hash=hash_password(PASSWORD),
            role="admin",
            name="Eva Nováková",
        )
        ws.add_user(
            store,
            email="petr@shop.example",
            password_hash=hash_password(PASSWORD),
            name="Petr Svoboda",
        )
        port = free_port()
        env["DESKMOVE_PRESENCE_SECONDS"] = "1"
        log_path = tmp_path / "serve.log"
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deskmove",
                "--project",
                str(root),
                "--quiet",
                "serve",
                "--port",
                str(port),
            ],
            env=env,
            # a file, not a pipe: nobody reads a pipe while the server runs, and a full
            # pipe would stop the server in the middle of a request
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = log_path.read_text(encoding="utf-8", errors="replace")
                    pytest.fail(f"deskmove serve did not start: {out[-2000:]}")
                time.sleep(0.2)
            yield Served(url, proc, smtp, store, ids)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            store.close()
            # shown by pytest only when the test failed: what the server said
            print(log_path.read_text(encoding="utf-8", errors="replace")[-4000:])


def shot(page, name: str, tmp_path: Path) -> None:
    folder = SHOTS or tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def wait_notice(page, text: str) -> None:
    """Wait for a page's notice; if it never comes, say what the page shows instead."""
    try:
        page.locator(f"text={text}").wait_for(timeout=30_000)
    except Exception as e:  # playwright's TimeoutError
        shown = page.locator("body").inner_text(timeout=5_000)[:2000]
        raise AssertionError(f"no {text!r} at {page.url}; the page shows:\n{shown}") from e


def log_in(page, url: str, email: str) -> None:
    page.goto(f"{url}/tickets")
    assert "/login" in page.url
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator(".login button[type=submit]").click()
    page.wait_for_url(f"{url}/tickets")


def no_script_ran(page) -> None:
    for frame in page.frames:
        assert frame.evaluate("typeof window.__xss") == "undefined", frame.url
    assert page.title() != "pwned"


def test_agent_flow(browser, served, tmp_path):
    s = served
    ctx = browser.new_context(
        viewport={"width": 1000, "height": 760}, locale="en-US", timezone_id="Europe/Prague"
    )
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, s.url, "eva@shop.example")
    assert page.locator("li.ticket").count() == 3
    shot(page, "list", tmp_path)

    # filter: a channel picked from the list applies at once (no button press)
    page.get_by_label("Channel").select_option("web")
    page.wait_for_url("**channel=web**")
    assert page.locator("li.ticket .subject").all_inner_texts() == ["Zażółć gęślą jaźń"]
    page.get_by_label("Channel").select_option("")
    page.wait_for_url(lambda u: "channel=web" not in u)

    # search a Czech word typed without its diacritics
    page.get_by_label("Search").fill("zlutoucky")
    page.get_by_label("Search").press("Enter")
    page.wait_for_url("**q=zlutoucky**")
    assert page.locator("li.ticket .subject").all_inner_texts() == ["Reklamace: žluťoučký kůň"]

    # open the ticket: the hostile mail renders, nothing in it runs
    page.locator("li.ticket .subject").first.click()
    page.wait_for_url(f"{s.url}/tickets/{s.ids['t-cz']}")
    frame_el = page.locator("iframe.body").first
    frame_el.wait_for()
    frame = frame_el.content_frame
    frame.locator("text=styled").wait_for()
    # the inline (cid:) image loads: waited for, as the text above is (it may arrive later)
    from playwright.sync_api import expect

    expect(frame.locator("img[alt=logo]")).to_have_js_property("naturalWidth", 1)
    assert frame.locator("img[alt=logo]").evaluate("img => img.complete") is True
    assert frame.locator("img[alt=tracker]").evaluate("img => img.getAttribute('src')") is None
    frame.locator("a", has_text="klikněte").click()  # its javascript: link is gone: nothing happens
    page.wait_for_timeout(300)
    no_script_ran(page)
    assert dialogs == []
    assert page.locator("details.quoted summary").first.is_visible()
    shot(page, "ticket", tmp_path)

    # a second agent opens the same ticket and sees the first one there, replying
    other = browser.new_context(viewport={"width": 360, "height": 740}, locale="cs-CZ")
    p2 = other.new_page()
    log_in(p2, s.url, "petr@shop.example")
    assert (
        p2.locator("header.top").get_by_role("button").inner_text() == "Odhlásit"
    )  # Czech browser, Czech UI
    page.get_by_label("Message", exact=True).fill("Dobrý den,\nnový kůň je na cestě.\nEva")
    p2.goto(f"{s.url}/tickets/{s.ids['t-cz']}")
    # her page reports "replying" on its next beat; wait for that beat, bounded
    p2.locator("#presence .who.replying", has_text="Eva Nováková").wait_for(timeout=15_000)
    assert "odpovídá" in p2.locator("#presence").inner_text()  # in the Czech UI
    page.locator("#presence .who", has_text="Petr Svoboda").wait_for(timeout=10_000)
    if SHOTS:  # the README's picture: the ticket as the first agent sees it, a colleague there
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "workspace.png"))
    shot(p2, "ticket-360-cs", tmp_path)
    assert (
        p2.evaluate("document.documentElement.scrollWidth") <= 360
    )  # no sideways scrolling at 360 px

    # reply: the mail arrives with its threading headers
    page.get_by_role("button", name="Send reply").click()
    wait_notice(page, "Reply sent.")
    assert s.smtp.inbox.arrived.wait(10)
    [(_from, rcpts, mail)] = s.smtp.inbox.mails
    assert rcpts == ["jana@zakaznik.cz"] and mail["In-Reply-To"] == "<second@zakaznik.cz>"
    assert "<first@zakaznik.cz>" in mail["References"]
    assert "nový kůň je na cestě" in mail.get_content()
    # the other agent is told that a new message arrived
    p2.locator("#newer").wait_for(state="visible", timeout=10_000)

    # a note, then assign to the colleague
    page.get_by_label("Note (only agents see it)").fill("Volala, chce fakturu.")
    page.get_by_role("button", name="Add note").click()
    wait_notice(page, "Note added.")
    assert page.locator("article.msg.note", has_text="Volala, chce fakturu.").count() == 1
    page.locator("form.fields").get_by_label("Assignee").select_option(label="Petr Svoboda")
    page.locator("form.fields").get_by_role("button", name="Save").click()
    wait_notice(page, "Saved.")
    assert "Petr Svoboda" in page.locator(".ticket-head .meta").inner_text()

    # a POST without the CSRF token is refused, even with the session cookie
    r = ctx.request.post(f"{s.url}/tickets/{s.ids['t-cz']}/update", form={"status": "closed"})
    assert r.status == 403
    # an attachment URL without a session is refused
    anon = browser.new_context()
    r = anon.request.get(f"{s.url}/attachments/1", max_redirects=0)
    assert r.status == 303 and r.body() == b""
    anon.close()

    # log out: the session is over
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto(f"{s.url}/tickets/{s.ids['t-cz']}")
    assert "/login" in page.url
    other.close()
    ctx.close()


def test_keyboard_only_login_and_labels(browser, served):
    page = browser.new_page(locale="pl-PL")
    page.goto(f"{served.url}/login")
    assert page.locator("html").get_attribute("lang") == "pl"
    assert page.evaluate("document.activeElement.id") == "email"  # the form has the focus
    page.keyboard.type("eva@shop.example")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served.url}/tickets")
    # the skip link comes first, and every visible form control has a label
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
              .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
              .map(el => el.name)"""
    )
    assert unlabeled == []
    page.close()
