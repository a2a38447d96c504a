"""Zendesk target: round trip, idempotence, crash safety, failed jobs, delta appends."""

from __future__ import annotations

import pytest

from deskmove.rest.target import IdView
from tests.rest.conftest import do_export, do_import, seed
from tests.rest.fakezendesk import FakeZendesk, epoch


@pytest.fixture
def source(api):  # noqa: ANN001
    fake = seed(FakeZendesk(page_size=3), tickets=4, comments=3)
    api.serve(fake)
    return fake


@pytest.fixture
def target(api):  # noqa: ANN001
    fake = FakeZendesk(host="target.zendesk.com")
    api.serve(fake)
    return fake


def _by_email(fake: FakeZendesk) -> dict[int, str]:
    return {uid: u.get("email") for uid, u in fake.users.items()}


def _check_copy(source: FakeZendesk, target: FakeZendesk) -> None:
    """Every source ticket is in the target once, with its comments' authors, times and flags."""
    assert len(target.tickets) == len(source.tickets)
    by_subject = {t["subject"]: t for t in target.tickets.values()}
    src_emails, dst_emails = _by_email(source), _by_email(target)
    for tid, t in source.tickets.items():
        copy = by_subject[t["subject"]]
        assert copy["created_at"] == t["created_at"] and copy["updated_at"] == t["updated_at"]
        solved = t["updated_at"] if t["status"] in ("solved", "closed") else None
        assert copy.get("solved_at") == solved
        assert "deskmove-import" in copy["tags"] and "vip" in copy["tags"]
        assert copy["custom_fields"] == [{"id": 360001, "value": t["custom_fields"][0]["value"]}]
        assert dst_emails[copy["requester_id"]] == src_emails[t["requester_id"]]
        theirs = target.comments[copy["id"]]
        mine = source.comments[tid]
        assert [c["created_at"] for c in theirs] == [c["created_at"] for c in mine]
        assert [c["public"] for c in theirs] == [c["public"] for c in mine]
        assert [dst_emails[c["author_id"]] for c in theirs] == [
            src_emails[c["author_id"]] for c in mine
        ]
        assert [len(c["attachments"]) for c in theirs] == [len(c["attachments"]) for c in mine]


def test_round_trip_zendesk_to_store_to_zendesk(project, store, source, target):
    do_import(project, store)
    report = do_export(project, store)
    assert report.created["ticket"] == 4 and report.created["organization"] == 1
    assert report.created["attachment"] == 4 and not sum(report.failed.values())
    _check_copy(source, target)
    att = next(c for cs in target.comments.values() for c in cs if c["attachments"])["attachments"][
        0
    ]
    token = att["content_url"].split("/")[-2]
    assert target.files[token].startswith(b"faktura")
    # created through the import API in one batch, as end users, with no verification mail
    assert ("POST", "/api/v2/imports/tickets/create_many.json") in target.log
    assert ("POST", "/api/v2/tickets.json") not in target.log


def test_second_export_creates_nothing(project, store, source, target):
    do_import(project, store)
    do_export(project, store)
    before = len(target.log)
    report = do_export(project, store)
    assert sum(report.created.values()) == 0 and report.unchanged["ticket"] == 0  # not even read
    posts = [p for m, p in target.log[before:] if m in ("POST", "PUT")]
    assert posts == []
    store.map_delete("zendesk://target", "ticket", 1)  # forget one: the next push looks again
    from deskmove.store import delta

    delta.set_push_watermark(store, "zendesk://target", None)
    again = do_export(project, store)
    assert again.created["ticket"] == 1 and again.unchanged["ticket"] == 3


def test_crash_between_import_call_and_id_map_write_makes_no_duplicate(
    project, store, source, target, monkeypatch
):
    do_import(project, store)
    real_put = IdView.put_many

    def crash_on_ticket_done(self, rows, state):  # noqa: ANN001
        if state == "done" and any(kind == "ticket" for kind, *_rest in rows):
            raise KeyboardInterrupt  # the process dies right after Zendesk created the tickets
        return real_put(self, rows, state)

    monkeypatch.setattr(IdView, "put_many", crash_on_ticket_done)
    with pytest.raises(KeyboardInterrupt):
        do_export(project, store)
    assert len(target.tickets) == 4
    uploads = target.log.count(("POST", "/api/v2/uploads.json"))
    monkeypatch.setattr(IdView, "put_many", real_put)
    report = do_export(project, store)
    assert len(target.tickets) == 4  # found by external_id, not created again
    # attachments are uploaded after recovery, for what is still to create: none here
    assert target.log.count(("POST", "/api/v2/uploads.json")) == uploads == 4
    assert report.created["ticket"] == 0 and report.unchanged["ticket"] == 4
    assert any(p == "/api/v2/tickets.json" for _m, p in target.log)  # the external_id lookup
    _check_copy(source, target)


def test_job_that_fails_half_way_is_finished_by_the_rerun(project, store, source, target):
    do_import(project, store)
    target.fail_jobs_after, target.fail_kind = 2, "tickets"
    first = do_export(project, store)
    assert first.failed["ticket"] == 2 and first.created["ticket"] == 2
    assert any("job" in n for n in first.notes)
    target.fail_jobs_after = None
    second = do_export(project, store)
    assert second.created["ticket"] == 2
    _check_copy(source, target)


def test_delta_push_appends_new_messages_to_a_pushed_ticket(project, store, source, target):
    do_import(project, store)
    do_export(project, store)
    source.add_comment(1002, 701, "Doplnění: zásilka odešla", 1_700_000_000)
    source.tickets[1002]["updated_at"] = "2023-11-14T22:13:20Z"
    do_import(project, store)
    report = do_export(project, store)
    assert report.created["message"] == 1 and report.updated["ticket"] == 1
    copy = next(
        t for t in target.tickets.values() if t["subject"] == source.tickets[1002]["subject"]
    )
    appended = target.comments[copy["id"]][-1]["body"]
    assert "Doplnění: zásilka odešla" in appended
    assert "Originally sent at 2023-11-14T22:13:20Z" in appended  # the API cannot set its time
    assert do_export(project, store).created["message"] == 0


def test_author_that_cannot_be_created_falls_back_to_the_api_user(project, store, source, target):
    source.users[800]["email"] = "invalid@@pivovar"
    do_import(project, store)
    report = do_export(project, store)
    assert report.failed["person"] == 1
    copy = next(
        t for t in target.tickets.values() if t["subject"] == source.tickets[1000]["subject"]
    )
    authors = [c["author_id"] for c in target.comments[copy["id"]]]
    assert authors[0] == target.me_id
    assert any("signed by the API user" in n for n in report.notes)


def test_dry_run_writes_nothing(project, store, source, target):
    do_import(project, store)
    report = do_export(project, store, dry_run=True)
    assert report.dry_run and report.created["ticket"] == 4
    assert {m for m, _p in target.log} == {"GET"} and not target.tickets  # lookups only


def test_fetch_ticket_and_delete_for_verify_and_rollback(project, store, source, target):
    from deskmove.registry import target_for

    do_import(project, store)
    do_export(project, store)
    tgt = target_for(project.connection("zendesk://target"), project)
    tid = str(next(iter(target.tickets)))
    remote = tgt.fetch_ticket(tid)
    assert remote is not None and len(remote.messages) == 3
    assert remote.messages[0].created_at.timestamp() == epoch(
        target.comments[int(tid)][0]["created_at"]
    )
    tgt.delete("ticket", tid)
    assert int(tid) not in target.tickets
    tgt.delete("ticket", tid)  # already gone: not an error
    assert tgt.fetch_ticket(tid) is None


def test_map_put_many_on_sqlite_and_postgres(any_store):
    any_store.map_put_many(
        "t", [("ticket", 1, None, None), ("message", 7, None, None)], state="pending"
    )
    any_store.map_put_many(
        "t",
        [("ticket", 1, "99", "h1"), ("message", 7, "99#7", None), ("ticket", 2, "100", "h2")],
        state="done",
        run_id=3,
    )
    assert any_store.id_map("t", "ticket") == {1: ("99", "h1", "done"), 2: ("100", "h2", "done")}
    assert any_store.id_map("t", "message") == {7: ("99#7", None, "done")}


def test_ticket_whose_requester_cannot_be_created_still_gets_one(project, store, source, target):
    source.users[801]["email"] = "invalid@@pivovar"
    do_import(project, store)
    report = do_export(project, store)
    assert report.failed["person"] == 1 and report.created["ticket"] == 4
    copy = next(
        t for t in target.tickets.values() if t["subject"] == source.tickets[1001]["subject"]
    )
    assert (
        copy["requester_id"] in target.users
    )  # the first author the target knows, or the API user
