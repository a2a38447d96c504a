"""Zendesk delta push during a cutover: reopen, follow-ups of closed tickets, field changes."""

from __future__ import annotations

import pytest

from deskmove.rest.target import IdView
from tests.rest.conftest import do_export, do_import, seed
from tests.rest.fakezendesk import FakeZendesk, ts


@pytest.fixture
def source(api):  # noqa: ANN001
    fake = seed(FakeZendesk(page_size=3), tickets=4, comments=3)
    fake.users[702] = {
        "id": 702,
        "name": "Tomáš Černý",
        "email": "tomas@acme.example",
        "role": "agent",
        "organization_id": None,
        "phone": None,
        "created_at": ts(1_600_000_000),
        "updated_at": ts(1_600_000_000),
    }
    api.serve(fake)
    return fake


@pytest.fixture
def target(api):  # noqa: ANN001
    """The new Zendesk, where the team's agents already have their accounts."""
    fake = FakeZendesk(host="target.zendesk.com")
    for uid, name, email in (
        (41, "Jana Nováková", "jana@acme.example"),
        (42, "Tomáš Černý", "tomas@acme.example"),
    ):
        fake.users[uid] = {
            "id": uid,
            "name": name,
            "email": email,
            "role": "agent",
            "organization_id": None,
            "phone": None,
            "created_at": ts(1_600_000_000),
            "updated_at": ts(1_600_000_000),
        }
    api.serve(fake)
    return fake


def _copy(source: FakeZendesk, target: FakeZendesk, tid: int) -> dict:
    return next(
        t for t in target.tickets.values() if t["subject"] == source.tickets[tid]["subject"]
    )


def _follow_up(target: FakeZendesk) -> dict:
    return next(
        t for t in target.tickets.values() if t["via"].get("source", {}).get("rel") == "follow_up"
    )


def _reply(source: FakeZendesk, tid: int, author: int, body: str, when: int) -> None:
    source.add_comment(tid, author, body, when)
    source.tickets[tid]["updated_at"] = ts(when)


def _migrated(project, store, source, target):  # noqa: ANN001, ANN202
    do_import(project, store)
    do_export(project, store)
    target.updates.clear()


def test_customer_reply_reopens_a_solved_ticket_in_the_same_update(project, store, source, target):
    _migrated(project, store, source, target)
    copy = _copy(source, target, 1001)
    assert copy["status"] == "solved"
    _reply(source, 1001, 801, "Zase to nefunguje, prosím o pomoc", 1_700_000_000)
    do_import(project, store)
    report = do_export(project, store)
    assert report.created["message"] == 1 and report.updated["ticket"] == 1
    assert copy["status"] == "open"
    assert target.updates == [(copy["id"], {"status": "open"})]  # one PUT: comment + reopen
    assert "Zase to nefunguje" in target.comments[copy["id"]][-1]["body"]
    assert any("reopened" in n for n in report.notes)
    again = do_export(project, store)
    assert sum(again.created.values()) == 0 and target.updates == [(copy["id"], {"status": "open"})]


def test_agent_reply_does_not_reopen_a_solved_ticket(project, store, source, target):
    _migrated(project, store, source, target)
    _reply(source, 1001, 701, "Ještě doplňuji odkaz", 1_700_000_000)
    do_import(project, store)
    assert do_export(project, store).created["message"] == 1
    assert _copy(source, target, 1001)["status"] == "solved" and target.updates == [
        (_copy(source, target, 1001)["id"], {})
    ]


def test_closed_ticket_gets_a_follow_up_and_later_messages_go_there(project, store, source, target):
    _migrated(project, store, source, target)
    closed = _copy(source, target, 1003)
    closed["status"] = "closed"
    before = len(target.comments[closed["id"]])
    _reply(source, 1003, 803, "Nová otázka k uzavřenému tiketu", 1_700_000_000)
    do_import(project, store)
    report = do_export(project, store)
    assert len(target.tickets) == 5 and report.created["message"] == 1
    follow = _follow_up(target)
    assert follow["via"]["source"]["from"]["ticket_id"] == closed["id"]
    assert "deskmove-import" in follow["tags"] and "vip" in follow["tags"]  # inherited
    assert "Nová otázka" in target.comments[follow["id"]][0]["body"]
    assert len(target.comments[closed["id"]]) == before
    assert any(f"follow-up {follow['id']}" in n for n in report.notes)
    _reply(source, 1003, 803, "A ještě jedna věc", 1_700_000_100)
    do_import(project, store)
    do_export(project, store)
    assert len(target.tickets) == 5 and len(target.comments[follow["id"]]) == 2
    assert "A ještě jedna věc" in target.comments[follow["id"]][-1]["body"]
    assert sum(do_export(project, store).created.values()) == 0


def test_crash_after_a_follow_up_is_created_makes_no_second_one(
    project, store, source, target, monkeypatch
):
    _migrated(project, store, source, target)
    _copy(source, target, 1003)["status"] = "closed"
    _reply(source, 1003, 803, "Nová otázka", 1_700_000_000)
    do_import(project, store)
    real = IdView.put_many

    def crash(self, rows, state):  # noqa: ANN001, ANN202
        if state == "done" and any(kind == "followup" for kind, *_ in rows):
            raise KeyboardInterrupt  # killed between the create and its id-map write
        return real(self, rows, state)

    monkeypatch.setattr(IdView, "put_many", crash)
    with pytest.raises(KeyboardInterrupt):
        do_export(project, store)
    monkeypatch.setattr(IdView, "put_many", real)
    assert len(target.tickets) == 5
    do_export(project, store)
    assert len(target.tickets) == 5
    follow = _follow_up(target)
    assert len(target.comments[follow["id"]]) == 1
    _reply(source, 1003, 803, "Další zpráva", 1_700_000_100)
    do_import(project, store)
    do_export(project, store)
    assert len(target.tickets) == 5 and len(target.comments[follow["id"]]) == 2


def test_status_tags_and_assignee_changes_are_pushed_once(project, store, source, target):
    _migrated(project, store, source, target)
    copy, other = _copy(source, target, 1000), _copy(source, target, 1002)
    comments = {tid: len(cs) for tid, cs in target.comments.items()}
    t = source.tickets[1000]
    t.update(
        status="pending",
        tags=["vip", "cz", "urgent"],
        assignee_id=702,
        updated_at=ts(1_700_000_000),
    )
    source.tickets[1002]["updated_at"] = ts(1_700_000_000)  # touched, nothing we sync changed
    do_import(project, store)
    report = do_export(project, store)
    agent = next(uid for uid, u in target.users.items() if u.get("email") == "tomas@acme.example")
    want = {
        "status": "pending",
        "tags": ["cz", "deskmove-import", "urgent", "vip"],
        "assignee_id": agent,
    }
    assert target.updates == [(copy["id"], want)]
    assert {k: copy[k] for k in want} == want
    assert report.updated["ticket"] == 1 and report.unchanged["ticket"] == 1
    assert {tid: len(cs) for tid, cs in target.comments.items()} == comments  # no mail
    assert other["status"] == "open"
    again = do_export(project, store)
    assert target.updates == [(copy["id"], want)] and again.updated["ticket"] == 0
    t.update(tags=["vip"], updated_at=ts(1_700_000_100))  # only the tags: only the tags go
    do_import(project, store)
    do_export(project, store)
    assert target.updates[-1] == (copy["id"], {"tags": ["deskmove-import", "vip"]})
    assert len(target.updates) == 2


def test_field_change_on_a_closed_ticket_is_noted_not_retried(project, store, source, target):
    _migrated(project, store, source, target)
    _copy(source, target, 1001)["status"] = "closed"
    source.tickets[1001].update(tags=["vip"], updated_at=ts(1_700_000_000))
    do_import(project, store)
    report = do_export(project, store)
    assert any("refused" in n for n in report.notes) and not sum(report.failed.values())
    n = len(target.log)
    do_export(project, store)
    assert [p for m, p in target.log[n:] if m == "PUT"] == []


def test_dry_run_counts_field_changes_and_sends_nothing(project, store, source, target):
    _migrated(project, store, source, target)
    source.tickets[1000].update(status="pending", updated_at=ts(1_700_000_000))
    do_import(project, store)
    report = do_export(project, store, dry_run=True)
    assert report.updated["ticket"] == 1 and target.updates == []
    do_export(project, store)
    assert target.updates == [(_copy(source, target, 1000)["id"], {"status": "pending"})]


def test_rollback_removes_the_follow_up_too(project, store, source, target):
    from deskmove.rollback import rollback

    _migrated(project, store, source, target)
    _copy(source, target, 1003)["status"] = "closed"
    _reply(source, 1003, 803, "Nová otázka", 1_700_000_000)
    do_import(project, store)
    do_export(project, store)
    follow = _follow_up(target)
    report = rollback(project, store, "zendesk://target")
    assert not report.failed and target.tickets == {}
    assert ("DELETE", f"/api/v2/tickets/{follow['id']}.json") in target.log
    assert store.id_map("zendesk://target", "followup") == {}


def test_verify_counts_the_messages_in_the_follow_up(project, store, source, target):
    from deskmove.verify import verify_target

    _migrated(project, store, source, target)
    closed = _copy(source, target, 1003)
    closed["status"] = "closed"
    _reply(source, 1003, 803, "Nová otázka", 1_700_000_000)
    do_import(project, store)
    do_export(project, store)
    report = verify_target(project, store, "zendesk://target")
    check = next(c for c in report.checks if c.native_id == str(closed["id"]))
    assert check.status == "migrated", check
    target.comments[_follow_up(target)["id"]].clear()  # lost from the follow-up: it is seen
    report = verify_target(project, store, "zendesk://target")
    assert next(c for c in report.checks if c.native_id == str(closed["id"])).status == "changed"


def test_crash_after_a_field_update_resends_the_same_update_only(
    project, store, source, target, monkeypatch
):
    _migrated(project, store, source, target)
    source.tickets[1000].update(status="pending", updated_at=ts(1_700_000_000))
    do_import(project, store)

    def crash(self, kind, eid, native, state):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt  # killed between the update and its id-map write

    real = IdView.set_hash
    monkeypatch.setattr(IdView, "set_hash", crash)
    with pytest.raises(KeyboardInterrupt):
        do_export(project, store)
    monkeypatch.setattr(IdView, "set_hash", real)
    do_export(project, store)
    do_export(project, store)
    copy = _copy(source, target, 1000)
    assert target.updates == [(copy["id"], {"status": "pending"})] * 2  # idempotent, then quiet
    assert len(target.tickets) == 4
