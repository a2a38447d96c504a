"""Zendesk source end to end: pagination, side streams, comments, attachments, re-runs."""

from __future__ import annotations

import sqlalchemy as sa

from deskmove.model import Attachment, Message, Person, Ticket
from tests.rest.conftest import do_import, seed
from tests.rest.fakezendesk import FakeZendesk


def _count(store, model) -> int:  # noqa: ANN001
    with store.begin() as c:
        return c.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one()


def test_full_export_pages_through_every_stream(api, project, store):
    fake = seed(FakeZendesk(page_size=2, events_page_size=4), tickets=5, comments=3)
    api.serve(fake)
    report = do_import(project, store)
    assert report.balanced
    assert (report.read, report.new, report.quarantined) == (5 + 15, 20, 0)
    assert _count(store, Ticket) == 5 and _count(store, Message) == 15
    assert _count(store, Attachment) == 5
    paths = [p for _m, p in fake.log]
    assert paths.count("/api/v2/incremental/tickets/cursor.json") == 3  # 2 + 2 + 1
    assert paths.count("/api/v2/incremental/ticket_events.json") >= 4
    assert not any("/comments.json" in p for p in paths)  # the bulk export, not one call per ticket


def test_tickets_keep_fields_authors_and_czech_text(api, project, store):
    fake = seed(FakeZendesk(), tickets=2, comments=3)
    api.serve(fake)
    do_import(project, store)
    with store.begin() as c:
        t = (
            c.execute(sa.select(Ticket.__table__).order_by(Ticket.__table__.c.id))
            .mappings()
            .first()
        )
        msgs = (
            c.execute(
                sa.select(Message.__table__)
                .where(Message.__table__.c.ticket_id == t["id"])
                .order_by(Message.__table__.c.created_at)
            )
            .mappings()
            .all()
        )
        agent = (
            c.execute(sa.select(Person.__table__).where(Person.__table__.c.name == "Jana Nováková"))
            .mappings()
            .one()
        )
    assert t["subject"] == "Objednávka č. 0 — žluťoučký kůň"
    assert (t["status"], t["priority"], t["channel"], t["type"]) == (
        "open",
        "normal",
        "email",
        "question",
    )
    assert t["custom_fields"] == {"360001": "ORD-0"} and t["tags"] == ["vip", "cz"]
    assert t["created_at"].timestamp() == 1_600_000_000
    assert [m["public"] for m in msgs] == [True, True, False]
    assert msgs[1]["author_id"] == agent["id"] and agent["role"] == "agent"
    assert msgs[1]["direction"] == "outbound" and msgs[0]["direction"] == "inbound"
    assert "příliš žluťoučký" in msgs[0]["body_text"]


def test_rerun_reads_nothing_new_then_picks_up_a_new_comment(api, project, store):
    fake = seed(FakeZendesk(page_size=2), tickets=3, comments=2)
    api.serve(fake)
    first = do_import(project, store)
    again = do_import(project, store)
    assert first.new == 3 + 6
    assert again.balanced and again.imported == 0
    t = fake.tickets[1001]
    fake.add_comment(1001, 701, "Nová odpověď", 1_700_000_000)
    t["updated_at"] = "2023-11-14T22:13:20Z"
    third = do_import(project, store)
    assert third.balanced and third.new == 1
    assert _count(store, Message) == 7


def test_comment_whose_ticket_came_earlier_is_fetched_with_show_many(api, project, store):
    fake = seed(FakeZendesk(), tickets=2, comments=1, attachments=False)
    api.serve(fake)
    do_import(project, store)
    fake.add_comment(
        1000, 701, "pozdní komentář", 1_700_000_000
    )  # the ticket's updated_at is not moved
    report = do_import(project, store)
    assert report.balanced and report.new == 1
    assert ("GET", "/api/v2/tickets/show_many.json") in fake.log


def test_deleted_ticket_is_quarantined_with_its_comments(api, project, store):
    fake = seed(FakeZendesk(), tickets=2, comments=2, attachments=False)
    fake.tickets[1001]["status"] = "deleted"
    api.serve(fake)
    report = do_import(project, store)
    assert report.balanced and report.quarantined == 1
    summary = store.summary()
    assert "deleted in Zendesk" in summary["quarantine"][0]["reason"]


def test_per_ticket_comments_option(api, project, store):
    fake = seed(FakeZendesk(), tickets=3, comments=2, attachments=False)
    api.serve(fake)
    report = do_import(project, store, "zendesk://acme?comments=per_ticket")
    assert report.new == 3 + 6
    paths = [p for _m, p in fake.log]
    assert sum(p.endswith("/comments.json") for p in paths) == 3
    assert "/api/v2/incremental/ticket_events.json" not in paths


def test_attachment_on_another_host_gets_no_credentials(api, project, store):
    fake = seed(FakeZendesk(), tickets=1, comments=1, attachments=False)
    other = FakeZendesk(host="files.zdusercontent.example")
    other.files["x1"] = b"%PDF- cizi host"
    fake.comments[1000][0]["attachments"] = [
        {
            "id": 1,
            "file_name": "a.pdf",
            "content_type": "application/pdf",
            "size": 15,
            "inline": True,
            "content_url": other.url("/attachments/token/x1/"),
        }
    ]
    api.serve(fake)
    route = api.serve(other)
    report = do_import(project, store)
    assert report.balanced and report.new == 2
    assert route.call_count == 1
    assert "authorization" not in route.calls[0].request.headers
    with store.begin() as c:
        att = c.execute(sa.select(Attachment.__table__)).mappings().one()
    assert att["inline"] and store.blobs.get(att["sha256"]) == b"%PDF- cizi host"


def test_attachment_that_cannot_be_downloaded_is_quarantined_not_lost(api, project, store):
    fake = seed(FakeZendesk(), tickets=3, comments=1)
    del fake.files["att1001"]  # the file is gone from Zendesk (404)
    api.serve(fake)
    report = do_import(project, store)
    assert report.balanced and report.quarantined == 1 and report.new == 6
    assert _count(store, Attachment) == 2
    reason = store.summary()["quarantine"][0]["reason"]
    assert reason.startswith("could not download") and "404" in reason
