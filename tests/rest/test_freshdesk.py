"""Freshdesk as a source and a target."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from deskmove.model import Attachment, Message, Person, Ticket
from tests.rest.conftest import do_export, do_import
from tests.rest.fakefreshdesk import FakeFreshdesk, seed


@pytest.fixture
def fd_creds(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-api-key-0987")
    return "fd-api-key-0987"


@pytest.fixture
def freshdesk(api, fd_creds):  # noqa: ANN001
    fake = seed(FakeFreshdesk(), tickets=3, notes=2)
    api.route(host=fake.host).mock(side_effect=fake.side_effect)

    def s3(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=fake.files[request.url.path.rsplit("/", 1)[1]])

    fake.s3 = api.route(host="s3.amazonaws.example").mock(side_effect=s3)  # type: ignore[attr-defined]
    return fake


def _rows(store, model):  # noqa: ANN001, ANN202
    with store.begin() as c:
        return c.execute(sa.select(model.__table__).order_by(model.__table__.c.id)).mappings().all()


def test_freshdesk_source(project, store, freshdesk):
    report = do_import(project, store, "freshdesk://acme")
    assert report.balanced and report.new == 3 + 3 * 3  # description + 2 conversations each
    tickets, msgs = _rows(store, Ticket), _rows(store, Message)
    assert [t["status"] for t in tickets] == ["open", "pending", "solved"]
    assert tickets[0]["subject"] == "Zamówienie 0 — gęślą jaźń" and tickets[0]["custom_fields"] == {
        "cf_order": "PL-0"
    }
    first = [m for m in msgs if m["ticket_id"] == tickets[0]["id"]]
    assert [m["body_text"] for m in first] == ["Dzień dobry 0", "Odpowiedź 0", "Odpowiedź 1"]
    assert [m["public"] for m in first] == [True, True, False]
    agent = next(p for p in _rows(store, Person) if p["name"] == "Agnieszka Wąs")
    assert agent["role"] == "agent" and first[1]["author_id"] == agent["id"]
    assert len(_rows(store, Attachment)) == 3
    assert all("authorization" not in c.request.headers for c in freshdesk.s3.calls)
    assert ("GET", "/api/v2/tickets/200/conversations") in freshdesk.log
    again = do_import(project, store, "freshdesk://acme")
    assert again.balanced and again.imported == 0


def test_freshdesk_target_keeps_original_authors_and_times_in_the_body(
    project, store, api, fd_creds
):
    from tests.rest.conftest import seed as zseed
    from tests.rest.fakezendesk import FakeZendesk

    source = zseed(FakeZendesk(), tickets=2, comments=3, attachments=False)
    api.serve(source)
    target = FakeFreshdesk(host="new.freshdesk.com")
    target.agents[target.me_id] = {
        "id": target.me_id,
        "contact": {"name": "API", "email": "api@new.example"},
    }
    api.route(host=target.host).mock(side_effect=target.side_effect)
    do_import(project, store)
    dry = do_export(project, store, "freshdesk://new", dry_run=True)
    assert any("cannot set original time stamps" in n for n in dry.notes)
    assert {m for m, _p in target.log} == {"GET"} and not target.tickets
    report = do_export(project, store, "freshdesk://new")
    assert report.created["ticket"] == 2 and report.created["message"] == 4
    t = next(iter(target.tickets.values()))
    assert (
        "Originally from Łukasz Żółć &lt;c0@pivovar.example&gt; at 2020-09-13T12:26:40Z"
        in t["description"]
    )
    notes = target.conversations[t["id"]]
    assert [n["private"] for n in notes] == [False, True]
    assert "Originally from Jana Nováková &lt;jana@acme.example&gt;" in notes[0]["body"]
    assert "deskmove-import" in t["tags"]
    again = do_export(project, store, "freshdesk://new")
    assert sum(again.created.values()) == 0 and len(target.tickets) == 2


def test_freshdesk_crash_after_create_is_found_at_once_not_by_the_lagging_search(
    project, store, api, fd_creds, monkeypatch
):
    from deskmove.rest.target import IdView
    from tests.rest.conftest import seed as zseed
    from tests.rest.fakezendesk import FakeZendesk

    api.serve(zseed(FakeZendesk(), tickets=2, comments=2, attachments=False))
    target = FakeFreshdesk(host="new.freshdesk.com")
    target.agents[target.me_id] = {
        "id": target.me_id,
        "contact": {"name": "API", "email": "api@new.example"},
    }
    api.route(host=target.host).mock(side_effect=target.side_effect)
    do_import(project, store)
    real = IdView.put_many

    def crash(self, rows, state):  # noqa: ANN001
        if state == "done" and any(k == "ticket" for k, *_ in rows):
            raise KeyboardInterrupt
        return real(self, rows, state)

    monkeypatch.setattr(IdView, "put_many", crash)
    with pytest.raises(KeyboardInterrupt):
        do_export(project, store, "freshdesk://new")
    assert len(target.tickets) == 1
    monkeypatch.setattr(IdView, "put_many", real)
    report = do_export(project, store, "freshdesk://new")
    # the fake's search has not indexed the new ticket yet (as Freshdesk's lags by minutes):
    # it is found among the requester's tickets, which are read from the tickets themselves
    assert len(target.tickets) == 2 and report.unchanged["ticket"] == 1
    assert ("GET", "/api/v2/search/tickets") not in target.log
    assert sorted(len(c) for c in target.conversations.values()) == [
        1,
        1,
    ]  # the second message, once


def test_freshdesk_target_reuses_agents_and_contacts_it_already_has(project, store, api, fd_creds):
    """Every real account has its agents: creating them as contacts answers 409."""
    from tests.rest.conftest import seed as zseed
    from tests.rest.fakezendesk import FakeZendesk

    api.serve(zseed(FakeZendesk(), tickets=2, comments=2, attachments=False))
    target = FakeFreshdesk(host="new.freshdesk.com")
    target.agents[target.me_id] = {
        "id": target.me_id,
        "contact": {"name": "API", "email": "api@new.example"},
    }
    target.agents[77] = {"id": 77, "contact": {"name": "Jana", "email": "JANA@acme.example"}}
    target.contacts[88] = {
        "id": 88,
        "name": "Łukasz",
        "email": "c0@pivovar.example",
        "updated_at": "2030-01-01T00:00:00Z",
    }
    api.route(host=target.host).mock(side_effect=target.side_effect)
    do_import(project, store)
    report = do_export(project, store, "freshdesk://new")
    assert report.matched["person"] == 2 and report.created["person"] == 2
    assert not sum(report.failed.values()) and report.created["ticket"] == 2
    assert sorted(c.get("email") for c in target.contacts.values()) == [
        "admin@acme.example",
        "c0@pivovar.example",
        "c1@pivovar.example",
    ]
    first = next(t for t in target.tickets.values() if t["requester_id"] == 88)
    assert first["subject"].startswith("Objednávka č. 0")
    assert not store.has_push_work("freshdesk://new")  # a matched person is finished work
    again = do_export(project, store, "freshdesk://new")
    assert sum(again.created.values()) == 0 and sum(again.matched.values()) == 0
