"""`deskmove quarantine retry ID` on what a REST source quarantines: a deleted ticket, the
messages of a ticket that was gone, an attachment (tests/rest/test_attachment_faults.py).

A ticket restored in the old helpdesk is read again by itself, with its messages, and
leaves the quarantine; one that is still deleted stays, saying so; a spec that cannot
read a ticket by id says what to do instead.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from deskmove.model import Message, Ticket
from tests.rest.conftest import do_import, seed
from tests.rest.fakefreshdesk import FakeFreshdesk
from tests.rest.fakefreshdesk import seed as fdseed
from tests.rest.fakezendesk import FakeZendesk


def _items(cli) -> list[dict]:  # noqa: ANN001
    return json.loads(cli("quarantine", "list", "--json").stdout)["items"]


def _subjects(store) -> dict[str, int]:  # noqa: ANN001
    t, m = Ticket.__table__.c, Message.__table__.c
    with store.begin() as c:
        rows = c.execute(
            sa.select(t.subject, sa.func.count(m.id))
            .join(Message.__table__, m.ticket_id == t.id)
            .group_by(t.subject)
        ).all()
    return {s: n for s, n in rows}


def test_a_restored_zendesk_ticket_is_retried_alone_with_its_comments(api, project, store, cli):
    fake = seed(FakeZendesk(), tickets=3, comments=3, attachments=False)
    fake.tickets[1001]["status"] = "deleted"
    api.serve(fake)
    do_import(project, store)
    (item,) = _items(cli)
    assert item["reference"] == "ticket 1001" and "deleted in Zendesk" in item["reason"]

    still = cli("quarantine", "retry", str(item["id"]))
    assert still.exit_code == 3, still.output  # still deleted: stays, with today's reason
    assert "deleted in Zendesk" in _items(cli)[0]["reason"]

    fake.tickets[1001]["status"] = "open"  # restored in Zendesk (within its 30 days)
    result = cli("quarantine", "retry", str(item["id"]))
    assert result.exit_code == 0, result.output
    assert "1 imported, 0 still quarantined" in result.stdout
    assert _items(cli) == []
    assert _subjects(store)["Objednávka č. 1 — žluťoučký kůň"] == 3  # its comments, per ticket
    assert ("GET", "/api/v2/tickets/1001/comments.json") in fake.log
    again = cli("import", "zendesk://acme")  # nothing doubled by the next import
    assert again.exit_code == 0 and _subjects(store)["Objednávka č. 1 — žluťoučký kůň"] == 3


def test_messages_of_a_ticket_that_was_gone_are_retried_with_it(api, project, store, cli):
    fake = seed(FakeZendesk(), tickets=2, comments=2, attachments=False)
    gone = fake.tickets.pop(1001)  # its comments come in the events export, the ticket not
    api.serve(fake)
    do_import(project, store)
    (item,) = _items(cli)
    assert item["reference"] == "ticket 1001" and "whose ticket is gone" in item["reason"]
    fake.tickets[1001] = gone
    result = cli("quarantine", "retry", str(item["id"]))
    assert result.exit_code == 0, result.output
    assert _items(cli) == [] and len(_subjects(store)) == 2


def test_a_restored_freshdesk_ticket_is_retried_alone(api, project, store, cli, monkeypatch):
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-api-key-0987")
    fd = fdseed(FakeFreshdesk(), tickets=3, notes=2)
    fd.tickets[201]["deleted"] = True
    api.route(host=fd.host).mock(side_effect=fd.side_effect)
    api.route(host=fd.file_host).mock(side_effect=fd.side_effect)  # attachment bytes
    do_import(project, store, "freshdesk://acme")
    (item,) = _items(cli)
    assert "deleted in Freshdesk" in item["reason"]
    fd.tickets[201]["deleted"] = False  # restored from the trash
    result = cli("quarantine", "retry", str(item["id"]))
    assert result.exit_code == 0, result.output
    assert _items(cli) == []
    counts = _subjects(store)  # its description and two notes, like the others
    assert counts["Zamówienie 1 — gęślą jaźń"] == counts["Zamówienie 0 — gęślą jaźń"] == 3


def test_a_spec_that_cannot_read_a_ticket_by_id_says_what_to_do(
    api, project, store, cli, monkeypatch: pytest.MonkeyPatch
):
    from deskmove.rest import adapter

    real = adapter.spec_for

    def without_lookup(scheme: str):  # noqa: ANN202
        spec = real(scheme)
        streams = {k: s.model_copy(update={"lookup": None}) for k, s in spec.streams.items()}
        return spec.model_copy(update={"streams": streams})

    fake = seed(FakeZendesk(), tickets=2, comments=1, attachments=False)
    fake.tickets[1001]["status"] = "deleted"
    api.serve(fake)
    do_import(project, store)
    monkeypatch.setattr(adapter, "spec_for", without_lookup)
    (item,) = _items(cli)
    result = cli("quarantine", "retry", str(item["id"]))
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: item #{item['id']} (ticket 1001) cannot be read again on its own: "
        "the zendesk spec has no ticket lookup — import zendesk://acme again"
    ), result.stderr
    assert f"deskmove quarantine drop {item['id']} --why TEXT" in result.stderr
    assert len(_items(cli)) == 1


def test_a_restored_ticket_that_the_next_import_brings_leaves_the_quarantine(
    api, project, store, cli
):
    from tests.rest.fakezendesk import ts

    fake = seed(FakeZendesk(), tickets=2, comments=1, attachments=False)
    fake.tickets[1001]["status"] = "deleted"
    api.serve(fake)
    do_import(project, store)
    assert len(_items(cli)) == 1
    fake.tickets[1001].update(status="open", updated_at=ts(1_700_000_000))  # restored: moved
    report = do_import(project, store)
    assert report.new >= 1 and _items(cli) == []
