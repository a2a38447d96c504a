"""Whole migrations over real HTTP against the stricter fakes: migrate, verify, migrate again.

Zendesk -> Zendesk, Freshdesk -> Zendesk and Zendesk -> Freshdesk, each target
holding what a real account holds before a migration (its agents, an
organization with the same name). ``deskmove verify`` must report every ticket
migrated, and the second ``migrate`` must create nothing.
"""

from __future__ import annotations

import json

import pytest

from tests.rest.conftest import seed
from tests.rest.fakefreshdesk import FakeFreshdesk
from tests.rest.fakefreshdesk import seed as fdseed
from tests.rest.fakezendesk import FakeZendesk, ts
from tests.rest.httpserve import from_httpx, serve

T0 = 1_600_000_000


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENDESK_EMAIL", "admin@acme.example")
    monkeypatch.setenv("ZENDESK_API_TOKEN", "s3cr3t-t0ken-value")
    monkeypatch.delenv("ZENDESK_OAUTH_TOKEN", raising=False)
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-api-key-0987")


def _zendesk(host: str, fakes: dict, name: str, seeded: bool = False) -> object:
    fake = FakeZendesk(host=host, scheme="http", page_size=2)
    if seeded:
        seed(fake, tickets=4, comments=3)
    else:  # the new account: its agent and an organization already there
        fake.users[41] = {
            "id": 41,
            "name": "Jana Nováková",
            "email": "jana@acme.example",
            "role": "agent",
            "organization_id": None,
            "phone": None,
            "created_at": ts(T0),
            "updated_at": ts(T0),
        }
        fake.organizations[51] = {
            "id": 51,
            "name": "Pivovar Ostrava s.r.o.",
            "external_id": None,
            "domain_names": [],
            "created_at": ts(T0),
            "updated_at": ts(T0),
        }
        fake.groups[61] = {
            "id": 61,
            "name": "Podpora",
            "deleted": False,
            "created_at": ts(T0),
            "updated_at": ts(T0),
        }
    fakes[name] = fake
    return fake.handle


def _freshdesk(host: str, fakes: dict, name: str, seeded: bool = False) -> object:
    fake = FakeFreshdesk(host=host, scheme="http", file_host=host)
    if seeded:
        fdseed(fake, tickets=3, notes=2)
    else:
        fake.agents[fake.me_id] = {
            "id": fake.me_id,
            "contact": {"name": "API", "email": "api@new.example"},
        }
        fake.agents[77] = {"id": 77, "contact": {"name": "Jana N.", "email": "jana@acme.example"}}
        fake.companies[88] = {"id": 88, "name": "Pivovar Ostrava s.r.o.", "domains": []}
    fakes[name] = fake
    return from_httpx(fake.side_effect)


VENDOR = {"zendesk": _zendesk, "freshdesk": _freshdesk}


@pytest.mark.parametrize(
    ("source", "target"),
    [("zendesk", "zendesk"), ("freshdesk", "zendesk"), ("zendesk", "freshdesk")],
    ids=["zendesk-to-zendesk", "freshdesk-to-zendesk", "zendesk-to-freshdesk"],
)
def test_migrate_verify_and_migrate_again(cli, secrets, sleeps, source: str, target: str):
    """(Pauses for rate limits are recorded, not slept: `sleeps`.)"""
    fakes: dict = {}
    with (
        serve(lambda h: VENDOR[source](h, fakes, "source", seeded=True)) as src_url,
        serve(lambda h: VENDOR[target](h, fakes, "target")) as dst_url,
    ):
        src, dst = f"{source}://old?base_url={src_url}", f"{target}://new?base_url={dst_url}"
        first = cli("migrate", src, dst)
        assert first.exit_code == 0, first.output
        made = len(fakes["target"].tickets)
        assert made == len(fakes["source"].tickets)
        verified = cli("--json", "verify", dst)
        assert verified.exit_code == 0, verified.output
        report = json.loads(verified.stdout)
        assert report["counts"]["migrated"] == made, report
        assert all(t["status"] == "migrated" for t in report["tickets"]), report["tickets"]
        before = {
            k: len(getattr(fakes["target"], k))
            for k in ("tickets", "organizations" if target == "zendesk" else "companies")
        }
        again = cli("migrate", src, dst)
        assert again.exit_code == 0, again.output
        assert "pushed 0 created" in again.stdout, again.stdout
        after = {k: len(getattr(fakes["target"], k)) for k in before}
        assert after == before
    orgs = getattr(fakes["target"], "organizations" if target == "zendesk" else "companies")
    names = [o["name"] for o in orgs.values()]
    assert len(names) == len(set(names))  # the one already there was matched, not doubled
