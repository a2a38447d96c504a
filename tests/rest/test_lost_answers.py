"""A create or append whose answer is lost after the target did the work is never doubled.

A proxy answering 502 after the helpdesk created the ticket, a read timeout, a
connection dropped before the answer: the request went out and may have been
done. Sending it again blindly makes a second ticket or a second reply in the
customer's history. deskmove asks the target first (by external id, or by the
message's author, body and flag) and sends again only when it has nothing; a
bulk job, which may still be running, stops the run and the re-run asks.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from deskmove.errors import OutcomeUnknown
from tests.rest.conftest import do_export, do_import, seed
from tests.rest.fakefreshdesk import FakeFreshdesk
from tests.rest.fakezendesk import FakeZendesk, respx_route

Handler = Callable[[httpx.Request], httpx.Response]


def _bad_gateway(request: httpx.Request) -> httpx.Response:
    return httpx.Response(502, text="<html>502 Bad Gateway</html>")


def _read_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out waiting for the answer", request=request)


def _dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


LOSSES = {"502": _bad_gateway, "read-timeout": _read_timeout, "dropped": _dropped}


def losing(
    handler: Handler, when: Callable[[httpx.Request], bool], loss: Handler, times: int
) -> tuple[Handler, list[int]]:
    """``handler`` does the work; the first ``times`` answers ``when`` matches are lost."""
    lost = [0]

    def side_effect(request: httpx.Request) -> httpx.Response:
        resp = handler(request)
        if lost[0] < times and when(request):
            lost[0] += 1
            return loss(request)
        return resp

    return side_effect, lost


def _freshdesk_target(api) -> FakeFreshdesk:  # noqa: ANN001
    target = FakeFreshdesk(host="new.freshdesk.com")
    target.agents[target.me_id] = {
        "id": target.me_id,
        "contact": {"name": "API", "email": "api@new.example"},
    }
    return target


@pytest.fixture
def fd_creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-api-key-0987")


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_lost_answer_to_a_create_or_a_reply_makes_nothing_twice(
    project, store, api, fd_creds, loss
):
    api.serve(seed(FakeZendesk(), tickets=3, comments=3, attachments=False))
    do_import(project, store)
    target = _freshdesk_target(api)

    def creates(request: httpx.Request) -> bool:
        path = request.url.path
        return request.method == "POST" and (path == "/api/v2/tickets" or path.endswith("/notes"))

    side_effect, lost = losing(target.side_effect, creates, LOSSES[loss], times=4)
    api.route(host=target.host).mock(side_effect=side_effect)

    report = do_export(project, store, "freshdesk://new")
    assert lost[0] == 4  # two tickets and two notes were made, and their answers lost
    assert len(target.tickets) == 3
    assert sorted(len(c) for c in target.conversations.values()) == [2, 2, 2]
    assert not sum(report.failed.values())
    assert sum("it had arrived, and was not sent again" in n for n in report.notes) == 4
    again = do_export(project, store, "freshdesk://new")
    assert sum(again.created.values()) == 0 and len(target.tickets) == 3


def test_a_refusal_before_the_work_is_still_retried_at_once(project, store, api, fd_creds):
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    do_import(project, store)
    target = _freshdesk_target(api)
    refused = [0]

    def side_effect(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and refused[0] < 2:  # 503: nothing was done
            refused[0] += 1
            return httpx.Response(503, headers={"Retry-After": "1"})
        return target.side_effect(request)

    api.route(host=target.host).mock(side_effect=side_effect)
    report = do_export(project, store, "freshdesk://new")
    assert refused[0] == 2 and report.created["ticket"] == 2 and len(target.tickets) == 2


def test_a_lost_answer_to_a_bulk_job_stops_the_run_and_the_rerun_finds_its_tickets(
    project, store, api
):
    api.serve(seed(FakeZendesk(), tickets=4, comments=2, attachments=False))
    do_import(project, store)
    target = FakeZendesk(host="target.zendesk.com")

    def imports(request: httpx.Request) -> bool:
        return request.url.path == "/api/v2/imports/tickets/create_many.json"

    side_effect, lost = losing(respx_route(target), imports, _bad_gateway, times=1)
    route = api.route(host=target.host).mock(side_effect=side_effect)

    with pytest.raises(OutcomeUnknown) as failed:
        do_export(project, store)
    assert lost[0] == 1 and len(target.tickets) == 4  # the job ran; its answer was lost
    assert "may have done it" in str(failed.value) and "re-run later" in str(failed.value)

    route.mock(side_effect=respx_route(target))
    report = do_export(project, store)
    assert len(target.tickets) == 4 and report.unchanged["ticket"] == 4
    assert report.created["ticket"] == 0


def test_a_lost_answer_to_a_delta_reply_is_found_among_the_comments(project, store, api):
    source = seed(FakeZendesk(), tickets=2, comments=2, attachments=False)
    api.serve(source)
    target = FakeZendesk(host="target.zendesk.com")
    route = api.serve(target)
    do_import(project, store)
    do_export(project, store)
    source.add_comment(1001, 701, "Doplnění: zásilka odešla", 1_700_000_000)
    source.tickets[1001]["updated_at"] = "2023-11-14T22:13:20Z"
    do_import(project, store)

    def replies(request: httpx.Request) -> bool:  # Zendesk appends a comment with a PUT
        return request.method == "PUT" and b'"comment"' in request.content

    side_effect, lost = losing(respx_route(target), replies, _read_timeout, times=1)
    route.mock(side_effect=side_effect)
    report = do_export(project, store)
    assert lost[0] == 1 and report.unchanged["message"] == 1
    bodies = [c["body"] for cs in target.comments.values() for c in cs]
    assert sum("Doplnění: zásilka odešla" in b for b in bodies) == 1
