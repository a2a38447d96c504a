"""The REST adapters through the CLI: clear errors, exit codes, migrate with --dry-run."""

from __future__ import annotations

import httpx

from tests.rest.conftest import seed
from tests.rest.fakefreshdesk import FakeFreshdesk
from tests.rest.fakezendesk import FakeZendesk


def test_401_is_a_clear_error(cli, api, creds):
    api.route(host="acme.zendesk.com").mock(
        return_value=httpx.Response(401, json={"error": "Couldn't authenticate you"})
    )
    result = cli("import", "zendesk://acme")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: zendesk refused the credentials (401)")
    assert "ZENDESK_EMAIL and ZENDESK_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr and creds["ZENDESK_API_TOKEN"] not in result.stderr


def test_missing_credentials_name_the_variables(cli, monkeypatch):
    for v in ("ZENDESK_EMAIL", "ZENDESK_API_TOKEN", "ZENDESK_OAUTH_TOKEN"):
        monkeypatch.delenv(v, raising=False)
    result = cli("import", "zendesk://acme")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: an API credential is not set — set ZENDESK_EMAIL and ZENDESK_API_TOKEN "
        "(or ZENDESK_OAUTH_TOKEN) in the environment and run again"
    )


def test_migrate_zendesk_to_zendesk(cli, api):
    api.serve(seed(FakeZendesk(), tickets=3, comments=2))
    target = FakeZendesk(host="new.zendesk.com")
    api.serve(target)
    result = cli("migrate", "zendesk://acme", "zendesk://new")
    assert result.exit_code == 0, result.stderr
    # 1 organization + 5 people + 3 tickets + 3 attachments
    # the source's admin is the target's admin too (same e-mail): matched, not created
    assert (
        "read 9 = 9 imported" in result.stdout and "pushed 11 created, 1 matched" in result.stdout
    )
    assert len(target.tickets) == 3


def test_migrate_to_freshdesk_dry_run_says_what_it_cannot_keep(cli, api, monkeypatch):
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-key-123456")
    api.serve(seed(FakeZendesk(), tickets=2, comments=2, attachments=False))
    fd = FakeFreshdesk(host="new.freshdesk.com")
    fd.agents[fd.me_id] = {"id": fd.me_id, "contact": {"email": "admin@new.example"}}
    api.route(host=fd.host).mock(side_effect=fd.side_effect)
    result = cli("migrate", "zendesk://acme", "freshdesk://new", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "cannot set original time stamps" in result.stderr
    assert "would push" in result.stdout
    assert fd.log and {m for m, _p in fd.log} == {"GET"}  # the same matching, read-only


def test_unreachable_base_url_is_a_clear_error(cli, creds, sleeps):
    result = cli("import", "zendesk://acme?base_url=http://127.0.0.1:9")
    assert result.exit_code == 1
    waiting, error = result.stderr.splitlines()
    # said on the first retry: what is retried, why, and for how long at most
    assert waiting.startswith(
        "Waiting: zendesk: GET http://127.0.0.1:9/api/v2/incremental/organizations.json "
        "cannot connect: [Errno 111] Connection refused; retrying up to 7 more times, for at most"
    )
    assert error.startswith("Error: GET http://127.0.0.1:9/api/v2/incremental/organizations.json")
    assert "re-run later" in error


def test_migrate_a_sample_then_the_rest_without_duplicates(cli, api):
    api.serve(seed(FakeZendesk(), tickets=5, comments=2, attachments=False))
    target = FakeZendesk(host="new.zendesk.com")
    api.serve(target)
    first = cli("migrate", "zendesk://acme", "zendesk://new", "--sample", "2")
    assert first.exit_code == 0, first.stderr
    assert len(target.tickets) == 2
    rest = cli("export", "zendesk://new")
    assert rest.exit_code == 0, rest.stderr
    assert len(target.tickets) == 5
    assert sorted(len(c) for c in target.comments.values()) == [2] * 5
