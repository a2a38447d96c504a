"""Fixtures for the REST engine: a fake Zendesk behind respx, credentials, no real sleeping."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from deskmove.config import Project
from deskmove.rest.adapter import RestAdapter
from deskmove.store import Store
from deskmove.sync import export_target, import_source
from tests.rest.fakezendesk import FakeZendesk, respx_route, ts

T0 = 1_600_000_000  # 2020-09-13


def seed(
    fake: FakeZendesk, tickets: int = 5, comments: int = 3, *, attachments: bool = True
) -> FakeZendesk:
    """A small helpdesk: an org, a group, an agent, customers with Czech/Polish names, tickets."""
    fake.organizations[501] = {
        "id": 501,
        "name": "Pivovar Ostrava s.r.o.",
        "domain_names": ["pivovar.example"],
        "external_id": None,
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }
    fake.groups[601] = {
        "id": 601,
        "name": "Podpora",
        "deleted": False,
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }
    fake.users[701] = {
        "id": 701,
        "name": "Jana Nováková",
        "email": "jana@acme.example",
        "role": "agent",
        "organization_id": None,
        "phone": None,
        "created_at": ts(T0),
        "updated_at": ts(T0),
    }
    names = ["Łukasz Żółć", "Petr Dvořák", "Ирина Петрова", "Zoë Smith"]
    for i in range(tickets):
        uid = 800 + i
        fake.users[uid] = {
            "id": uid,
            "name": names[i % len(names)],
            "email": f"c{i}@pivovar.example",
            "role": "end-user",
            "organization_id": 501,
            "phone": None,
            "created_at": ts(T0),
            "updated_at": ts(T0 + i),
        }
        tid = 1000 + i
        start = T0 + i * 1000
        fake.tickets[tid] = {
            "id": tid,
            "url": fake.url(f"/api/v2/tickets/{tid}.json"),
            "external_id": None,
            "via": {"channel": "email", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": ts(start),
            "updated_at": ts(start + 500),
            "type": "question",
            "subject": f"Objednávka č. {i} — žluťoučký kůň",
            "raw_subject": f"Objednávka č. {i}",
            "description": "Dobrý den",
            "priority": "normal",
            "status": "solved" if i % 2 else "open",
            "recipient": "support@acme.example",
            "requester_id": uid,
            "submitter_id": uid,
            "assignee_id": 701,
            "organization_id": 501,
            "group_id": 601,
            "collaborator_ids": [],
            "tags": ["vip", "cz"],
            "custom_fields": [{"id": 360001, "value": f"ORD-{i}"}, {"id": 360002, "value": None}],
            "is_public": True,
            "generated_timestamp": start + 500,
        }
        for j in range(comments):
            author = uid if j % 2 == 0 else 701
            files = []
            if attachments and j == 0:
                token = f"att{tid}"
                fake.files[token] = f"faktura {tid}".encode()
                files.append(
                    {
                        "id": 9000 + i,
                        "file_name": "faktura.pdf",
                        "content_type": "application/pdf",
                        "size": 12,
                        "inline": False,
                        "content_url": fake.url(f"/attachments/token/{token}/", name="faktura.pdf"),
                    }
                )
            fake.add_comment(
                tid,
                author,
                f"Zpráva {j} k tiketu {tid}: příliš žluťoučký",
                start + j * 100,
                public=j != 2,
                attachments=files,
            )
    return fake


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"ZENDESK_EMAIL": "admin@acme.example", "ZENDESK_API_TOKEN": "s3cr3t-t0ken-value"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("ZENDESK_OAUTH_TOKEN", raising=False)
    return values


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep the engine asks for, recorded instead of slept."""
    calls: list[float] = []
    monkeypatch.setattr(RestAdapter, "sleep", staticmethod(calls.append))
    return calls


@pytest.fixture
def api(creds, sleeps):  # noqa: ANN001
    """respx over every host; ``api.serve(fake)`` routes a fake's host to it."""
    with respx.mock(assert_all_called=False) as mock:

        def serve(fake: FakeZendesk) -> Any:
            return mock.route(host=fake.host).mock(side_effect=respx_route(fake))

        mock.serve = serve  # type: ignore[attr-defined]
        yield mock


def do_import(project: Project, store: Store, spec: str = "zendesk://acme"):  # noqa: ANN201
    return import_source(project, store, spec)


def do_export(project: Project, store: Store, spec: str = "zendesk://target", **kw: Any):  # noqa: ANN201
    return export_target(project, store, spec, **kw)[1]
