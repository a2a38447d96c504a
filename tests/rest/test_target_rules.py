"""The write side against targets that already hold an account's people, groups and rules.

Each test pushes to a fake that enforces what Zendesk or Freshdesk document
(see tests/rest/fakezendesk.py and fakefreshdesk.py for the quoted rules).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from deskmove.resources import data_dir
from tests.rest.conftest import do_export, do_import, seed
from tests.rest.fakefreshdesk import FakeFreshdesk
from tests.rest.fakefreshdesk import seed as fdseed
from tests.rest.fakezendesk import FakeZendesk, ts

T0 = 1_600_000_000


@pytest.fixture
def fd_creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-api-key-0987")


def _agent(fake: FakeZendesk, uid: int, name: str, email: str) -> None:
    fake.users[uid] = {
        "id": uid,
        "name": name,
        "email": email,
        "role": "agent",
        "organization_id": None,
        "phone": None,
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }


def _freshdesk(api, host: str = "new.freshdesk.com") -> FakeFreshdesk:  # noqa: ANN001
    fd = FakeFreshdesk(host=host)
    fd.agents[fd.me_id] = {"id": fd.me_id, "contact": {"name": "API", "email": "api@new.example"}}
    api.route(host=fd.host).mock(side_effect=fd.side_effect)
    return fd


def _zendesk(api, host: str = "new.zendesk.com") -> FakeZendesk:  # noqa: ANN001
    fake = FakeZendesk(host=host)
    api.serve(fake)
    return fake


# -- Freshdesk -----------------------------------------------------------------------------
def test_freshdesk_responder_and_note_author_are_agents_or_unset(project, store, api, fd_creds):
    """responder_id and a note's user_id take agent ids; a contact made for an agent is none."""
    api.serve(seed(FakeZendesk(), tickets=2, comments=2, attachments=False))
    fd = _freshdesk(api)
    do_import(project, store)
    report = do_export(project, store, "freshdesk://new")
    assert not sum(report.failed.values()) and report.created["ticket"] == 2
    for t in fd.tickets.values():
        assert "responder_id" not in t  # Jana is no agent there: unassigned, named in the body
        assert "Originally assigned to Jana Nováková &lt;jana@acme.example&gt;" in t["description"]
        assert all(n["user_id"] == fd.me_id for n in fd.conversations[t["id"]])
    assert any(
        "assignee Jana Nováková <jana@acme.example> is not an agent" in n for n in report.notes
    )


def test_freshdesk_agent_found_by_email_is_responder_and_signs_notes(project, store, api, fd_creds):
    api.serve(seed(FakeZendesk(), tickets=2, comments=2, attachments=False))
    fd = _freshdesk(api)
    fd.agents[77] = {"id": 77, "contact": {"name": "Jana N.", "email": "jana@acme.example"}}
    do_import(project, store)
    report = do_export(project, store, "freshdesk://new")
    assert not sum(report.failed.values())
    assert {t["responder_id"] for t in fd.tickets.values()} == {77}
    assert {n["user_id"] for cs in fd.conversations.values() for n in cs} == {77}  # Jana's replies


def test_freshdesk_status_without_a_home_is_said_before_the_push(project, store, api, fd_creds):
    """`hold` maps to 6, a custom status this account never made: said in --dry-run, sent as open."""
    source = seed(FakeZendesk(), tickets=2, comments=1, attachments=False)
    source.tickets[1000]["status"] = "hold"
    api.serve(source)
    fd = _freshdesk(api)
    do_import(project, store)
    dry = do_export(project, store, "freshdesk://new", dry_run=True)
    why = "status 'hold' (6) does not exist in the target; sent as 'open' (2)"
    assert any(why in n and n.startswith("1 tickets") for n in dry.notes), dry.notes
    assert ("GET", "/api/v2/ticket_fields") in fd.log and not fd.tickets
    report = do_export(project, store, "freshdesk://new")
    assert report.created["ticket"] == 2 and not sum(report.failed.values())
    held = next(t for t in fd.tickets.values() if t["subject"].startswith("Objednávka č. 0"))
    assert held["status"] == 2
    fd.statuses[6] = "Waiting on Customer"  # an account that has it gets it
    store.map_delete("freshdesk://new", "ticket", 1)
    from deskmove.store import delta

    delta.set_push_watermark(store, "freshdesk://new", None)
    do_export(project, store, "freshdesk://new")
    assert max(t["id"] for t in fd.tickets.values()) and fd.tickets[max(fd.tickets)]["status"] == 6


def test_freshdesk_attachments_go_with_the_ticket_and_its_notes(project, store, api, fd_creds):
    """multipart/form-data, attachments[]; one over 20 MB a ticket is named, reported, not lost."""
    source = seed(FakeZendesk(), tickets=2, comments=2)  # the first comment of each has a PDF
    big = "att1001"
    source.files[big] = b"%PDF" + b"0" * (20 * 1024 * 1024)
    api.serve(source)
    fd = _freshdesk(api)
    do_import(project, store)
    report = do_export(project, store, "freshdesk://new")
    assert not sum(report.failed.values()) and report.created["ticket"] == 2
    small = next(t for t in fd.tickets.values() if t["subject"].startswith("Objednávka č. 0"))
    assert [a["name"] for a in small["attachments"]] == ["faktura.pdf"]
    assert fd.files[small["attachments"][0]["attachment_url"].rsplit("/", 1)[1]] == b"faktura 1000"
    large = next(t for t in fd.tickets.values() if t["subject"].startswith("Objednávka č. 1"))
    assert large["attachments"] == []
    assert (
        "Attachments not migrated (over Freshdesk's 20 MB per ticket): faktura.pdf"
        in large["description"]
    )
    (note,) = [n for n in report.notes if "attachment over the target's limit" in n]
    assert "'faktura.pdf', 20,971,524 bytes" in note and note.startswith("1 tickets: ")
    assert report.created["attachment"] == 1


def test_freshdesk_to_freshdesk_notes_keep_their_files(project, store, api, fd_creds):
    src = fdseed(FakeFreshdesk(), tickets=2, notes=2)  # the first conversation has a scan
    api.route(host=src.host).mock(side_effect=src.side_effect)
    api.route(host="s3.amazonaws.example").mock(
        side_effect=lambda r: httpx.Response(200, content=src.files[r.url.path.rsplit("/", 1)[1]])
    )
    fd = _freshdesk(api)
    do_import(project, store, "freshdesk://acme")
    report = do_export(project, store, "freshdesk://new")
    assert not sum(report.failed.values()) and report.created["attachment"] == 2
    scans = [a["name"] for cs in fd.conversations.values() for n in cs for a in n["attachments"]]
    assert scans == ["skan.png", "skan.png"]


# -- Zendesk ---------------------------------------------------------------------------------
def test_zendesk_existing_organization_is_matched_by_name(project, store, api, creds):
    """Organization names are unique: one already there is reused, never created again."""
    api.serve(seed(FakeZendesk(), tickets=3, comments=1, attachments=False))
    target = _zendesk(api)
    target.organizations[77] = {
        "id": 77,
        "name": "PIVOVAR OSTRAVA s.r.o.",
        "external_id": None,
        "domain_names": [],
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }
    do_import(project, store)
    report = do_export(project, store, "zendesk://new")
    assert report.matched["organization"] == 1 and report.created["organization"] == 0
    assert not sum(report.failed.values())
    assert {t["organization_id"] for t in target.tickets.values()} == {77}
    assert {
        u.get("organization_id")
        for u in target.users.values()
        if u.get("email", "").startswith("c")
    } == {77}
    again = do_export(project, store, "zendesk://new")
    assert sum(again.created.values()) == 0 and not sum(again.failed.values())
    assert len(target.organizations) == 1


def test_zendesk_assignee_who_is_no_agent_there_is_left_unassigned_and_listed(
    project, store, api, creds
):
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    do_import(project, store)
    dry = do_export(project, store, "zendesk://new", dry_run=True)
    listed = "2 tickets: assignee Jana Nováková <jana@acme.example> is not an agent in the target"
    assert any(n.startswith(listed) for n in dry.notes), dry.notes
    report = do_export(project, store, "zendesk://new")
    assert not sum(report.failed.values())
    assert all("assignee_id" not in t for t in target.tickets.values())
    jana = next(u for u in target.users.values() if u.get("email") == "jana@acme.example")
    assert jana["role"] == "end-user"  # kept as the author of her comments, never an assignee


def test_zendesk_agents_map_in_the_mapping_file_reassigns(
    project, store, api, creds, tmp_path: Path
):
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    _agent(target, 55, "Petra Nová", "petra@new.example")
    text = (data_dir("mappings") / "zendesk.yaml").read_text(encoding="utf-8")
    mapping = tmp_path / "mine.yaml"
    mapping.write_text(
        text.replace("agents: {}", 'agents: {"jana@acme.example": "petra@new.example"}')
    )
    do_import(project, store)
    report = do_export(project, store, f"zendesk://new?mapping={mapping}")
    assert not sum(report.failed.values())
    assert {t["assignee_id"] for t in target.tickets.values()} == {55}
    assert not any("not an agent" in n for n in report.notes)


def test_freshdesk_to_zendesk_ticket_types_go_through_the_mapping(
    project, store, api, creds, fd_creds
):
    """Zendesk allows problem, incident, question and task; others are reported and left unset."""
    src = fdseed(FakeFreshdesk(), tickets=3, notes=1)
    src.tickets[202]["type"] = "Refund"
    src.conversations = {}
    api.route(host=src.host).mock(side_effect=src.side_effect)
    target = _zendesk(api)
    do_import(project, store, "freshdesk://acme")
    dry = do_export(project, store, "zendesk://new", dry_run=True)
    assert any(n == "1 tickets: type 'Refund' has no value in the mapping" for n in dry.notes), (
        dry.notes
    )
    report = do_export(project, store, "zendesk://new")
    assert not sum(report.failed.values()) and report.created["ticket"] == 3
    assert sorted(str(t.get("type")) for t in target.tickets.values()) == [
        "None",
        "question",
        "question",
    ]


def test_zendesk_groups_are_matched_by_name_and_created_only_when_asked(project, store, api, creds):
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    do_import(project, store)
    report = do_export(project, store, "zendesk://new")
    assert all("group_id" not in t for t in target.tickets.values())
    assert any("group 'Podpora' is not in the target" in n for n in report.notes)
    other = _zendesk(api, "other.zendesk.com")
    other.groups[31] = {
        "id": 31,
        "name": "podpora",
        "deleted": False,
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }
    again = do_export(project, store, "zendesk://other")
    assert again.matched["group"] == 1 and {t["group_id"] for t in other.tickets.values()} == {31}
    third = _zendesk(api, "third.zendesk.com")
    made = do_export(project, store, "zendesk://third?groups=create")
    assert made.created["group"] == 1 and [g["name"] for g in third.groups.values()] == ["Podpora"]
    assert {t["group_id"] for t in third.tickets.values()} == set(third.groups)
    assert sum(do_export(project, store, "zendesk://third?groups=create").created.values()) == 0


# -- every REST target ---------------------------------------------------------------------
def test_dry_run_reports_exactly_what_the_push_then_does(project, store, api, creds):
    """Same matching, read-only requests: the counts of the dry run are the push's."""
    api.serve(seed(FakeZendesk(), tickets=3, comments=2))
    target = _zendesk(api)
    _agent(target, 41, "Jana Nováková", "jana@acme.example")
    target.organizations[77] = {
        "id": 77,
        "name": "Pivovar Ostrava s.r.o.",
        "external_id": None,
        "domain_names": [],
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }
    do_import(project, store)
    dry = do_export(project, store, "zendesk://new", dry_run=True)
    assert {m for m, _p in target.log} == {"GET"} and not target.tickets
    real = do_export(project, store, "zendesk://new")
    for kind in ("organization", "person", "ticket", "group"):
        assert dry.created[kind] == real.created[kind], kind
        assert dry.matched[kind] == real.matched[kind], kind
    assert dry.matched["person"] == 2 and dry.matched["organization"] == 1  # Jana, the admin
    assert dry.created["person"] == 3 and dry.created["ticket"] == 3
    assert {t["assignee_id"] for t in target.tickets.values()} == {41}
    assert sorted(n for n in dry.notes if "tickets:" in n) == sorted(
        n for n in real.notes if "tickets:" in n
    )


def test_rollback_never_deletes_what_was_matched(project, store, api, creds):
    from deskmove.rollback import rollback

    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    _agent(target, 41, "Jana Nováková", "jana@acme.example")
    target.organizations[77] = {
        "id": 77,
        "name": "Pivovar Ostrava s.r.o.",
        "external_id": None,
        "domain_names": [],
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }
    do_import(project, store)
    do_export(project, store, "zendesk://new")
    report = rollback(project, store, "zendesk://new", include_people=True)
    assert not report.failed and not target.tickets
    assert 77 in target.organizations and 41 in target.users and target.me_id in target.users
    assert {u["email"] for u in target.users.values()} == {
        "admin@acme.example",
        "jana@acme.example",
    }


def test_freshdesk_groups_matched_by_name_or_created_when_asked(project, store, api, fd_creds):
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    fd = _freshdesk(api)
    fd.groups[21] = {"id": 21, "name": "PODPORA"}
    do_import(project, store)
    report = do_export(project, store, "freshdesk://new")
    assert report.matched["group"] == 1 and {t["group_id"] for t in fd.tickets.values()} == {21}
    other = _freshdesk(api, "other.freshdesk.com")
    made = do_export(project, store, "freshdesk://other?groups=create")
    assert made.created["group"] == 1 and [g["name"] for g in other.groups.values()] == ["Podpora"]
    assert {t["group_id"] for t in other.tickets.values()} == set(other.groups)


def _org(
    fake: FakeZendesk, oid: int, name: str, domains: list[str], external_id: str | None = None
) -> None:
    fake.organizations[oid] = {
        "id": oid,
        "name": name,
        "external_id": external_id,
        "domain_names": domains,
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }


def _store_org(store) -> int:  # noqa: ANN001
    from deskmove.store import pushread

    return next(o["id"] for chunk in pushread.organizations(store) for o in chunk)


def test_zendesk_organization_matched_by_domain_when_its_name_differs(project, store, api, creds):
    """Renamed in the new account, found by its domain: reused, not created a second time."""
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    _org(target, 77, "Pivovar Ostrava a.s.", ["PIVOVAR.example"])
    _org(target, 78, "Jiná firma", ["jina.example"])
    do_import(project, store)
    dry = do_export(project, store, "zendesk://new", dry_run=True)
    assert dry.matched["organization"] == 1 and dry.created["organization"] == 0
    report = do_export(project, store, "zendesk://new")
    assert report.matched["organization"] == 1 and report.created["organization"] == 0
    assert not sum(report.failed.values())
    assert {t["organization_id"] for t in target.tickets.values()} == {77}
    assert sorted(target.organizations) == [77, 78]
    assert sum(do_export(project, store, "zendesk://new").created.values()) == 0


def test_zendesk_organization_matched_by_external_id_first(project, store, api, creds):
    """External id, then name, then domain: the organization carrying deskmove's external id
    wins over one with the same name and one with the same domain."""
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    do_import(project, store)
    ours = f"DESKMOVE:organization:{_store_org(store)}"  # external ids are case-insensitive
    _org(target, 76, "Pivovar (dříve Ostrava)", [], external_id=ours)
    _org(target, 77, "Pivovar Ostrava s.r.o.", [])
    _org(target, 78, "Pivovary CZ", ["pivovar.example"])
    report = do_export(project, store, "zendesk://new")
    assert report.matched["organization"] == 1 and not sum(report.failed.values())
    assert {t["organization_id"] for t in target.tickets.values()} == {76}
    assert len(target.organizations) == 3


def test_zendesk_organization_name_beats_domain(project, store, api, creds):
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    _org(target, 77, "PIVOVAR OSTRAVA S.R.O.", [])
    _org(target, 78, "Pivovary CZ", ["pivovar.example"])
    do_import(project, store)
    report = do_export(project, store, "zendesk://new")
    assert report.matched["organization"] == 1
    assert {t["organization_id"] for t in target.tickets.values()} == {77}


def test_zendesk_organization_external_id_taken_is_matched_after_the_refusal(
    project, store, api, creds
):
    """A fresh push asks nothing before creating an organization without domains; when Zendesk
    refuses its external id (unique), the one carrying it is found and reused."""
    source = seed(FakeZendesk(), tickets=2, comments=1, attachments=False)
    source.organizations[501]["domain_names"] = []
    api.serve(source)
    target = _zendesk(api)
    do_import(project, store)
    _org(target, 76, "Renamed", [], external_id=f"deskmove:organization:{_store_org(store)}")
    report = do_export(project, store, "zendesk://new")
    assert report.matched["organization"] == 1 and not sum(report.failed.values())
    assert {t["organization_id"] for t in target.tickets.values()} == {76}
    searches = [p for m, p in target.log if p.endswith("/search.json")]
    assert searches == ["/api/v2/organizations/search.json"]  # after the refusal only


def test_zendesk_domain_shared_by_two_organizations_matches_neither(project, store, api, creds):
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    _org(target, 77, "Pivovar Brno", ["pivovar.example"])
    _org(target, 78, "Pivovar Praha", ["pivovar.example"])
    do_import(project, store)
    report = do_export(project, store, "zendesk://new")
    assert report.matched["organization"] == 0 and report.created["organization"] == 1
    assert any("domain pivovar.example belongs to 2 organizations" in n for n in report.notes)
    made = next(o for o in target.organizations.values() if o["id"] not in (77, 78))
    assert {t["organization_id"] for t in target.tickets.values()} == {made["id"]}


def test_zendesk_fresh_account_costs_one_lookup_per_domain(project, store, api, creds):
    """Nothing there with its domain: no name or external id lookup before creating (both
    are unique, so Zendesk would refuse a taken one); a re-run asks nothing."""
    api.serve(seed(FakeZendesk(), tickets=2, comments=1, attachments=False))
    target = _zendesk(api)
    do_import(project, store)
    report = do_export(project, store, "zendesk://new")
    assert report.created["organization"] == 1
    searches = [p for m, p in target.log if "search" in p and "users" not in p]
    assert searches == ["/api/v2/search.json"]
    target.log.clear()
    do_export(project, store, "zendesk://new")
    assert not [p for m, p in target.log if "search" in p]
