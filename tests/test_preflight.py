"""A target's configuration and credentials are checked before anything is imported."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from tests.csvhelp import EXAMPLES

HELPDESK = EXAMPLES / "helpdesk"
VENDORS = {
    "zendesk": (
        "zendesk://newshop",
        "https://newshop.zendesk.com/api/v2/users/me.json",
        {"ZENDESK_EMAIL": "admin@newshop.example", "ZENDESK_API_TOKEN": "t0ken"},
        {"user": {"id": 7}},
    ),
    "freshdesk": (
        "freshdesk://newshop",
        "https://newshop.freshdesk.com/api/v2/agents/me",
        {"FRESHDESK_API_KEY": "k3y"},
        {"id": 7},
    ),
}
SECRETS = ("ZENDESK_EMAIL", "ZENDESK_API_TOKEN", "ZENDESK_OAUTH_TOKEN", "FRESHDESK_API_KEY")


@pytest.fixture
def no_secrets(monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)


def _nothing_imported(cli) -> None:
    data = json.loads(cli("--json", "status").stdout)
    assert data["totals"]["tickets"] == 0 and data["runs"] == []


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "for-real"])
def test_missing_credentials_fail_before_the_import(cli, no_secrets, vendor, dry_run):
    spec = VENDORS[vendor][0]
    res = cli("migrate", f"csv:{HELPDESK}", spec, *(["--dry-run"] if dry_run else []))
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error: ") and "in the environment" in res.stderr
    assert "read 1524" not in res.stdout
    _nothing_imported(cli)


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_refused_token_fails_before_the_import(cli, no_secrets, monkeypatch, vendor):
    spec, me, env, _ok = VENDORS[vendor]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with respx.mock(assert_all_called=True) as mock:
        mock.get(me).mock(
            return_value=httpx.Response(401, json={"error": "Couldn't authenticate you"})
        )
        res = cli("migrate", f"csv:{HELPDESK}", spec, "--dry-run")
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("Error: ") and "Traceback" not in res.stderr
    for value in env.values():
        assert value not in res.stderr
    _nothing_imported(cli)


@pytest.mark.parametrize("vendor", VENDORS)
def test_good_credentials_are_checked_with_one_read_then_the_dry_run_goes_on(
    cli, no_secrets, monkeypatch, vendor
):
    from tests.rest.fakefreshdesk import FakeFreshdesk
    from tests.rest.fakezendesk import FakeZendesk, respx_route

    spec, me, env, ok = VENDORS[vendor]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with respx.mock(assert_all_called=True) as mock:
        host = httpx.URL(me).host
        fake = FakeZendesk(host=host) if vendor == "zendesk" else FakeFreshdesk(host=host)
        side = respx_route(fake) if vendor == "zendesk" else fake.side_effect
        mock.route(host=host).mock(side_effect=side)
        res = cli("migrate", f"csv:{HELPDESK}", spec, "--dry-run")
    assert res.exit_code == 0, res.output
    assert "read 1524 = 1524 imported" in res.stdout and "would push" in res.stdout
    # the credentials first, then the dry run's own lookups: reads only
    assert fake.log[0] == ("GET", httpx.URL(me).path) and {m for m, _p in fake.log} == {"GET"}


def test_sync_refuses_a_target_without_credentials_before_importing(cli, no_secrets, project_dir):
    (project_dir / "deskmove.toml").write_text(
        f'[connections.old]\nspec = "csv:{HELPDESK}"\n'
        '[connections.new]\nspec = "zendesk://newshop"\n'
        '[sync]\nsources = ["old"]\ntargets = ["new"]\n',
        encoding="utf-8",
    )
    res = cli("sync")
    assert res.exit_code == 2 and "ZENDESK" in res.stderr, res.output
    _nothing_imported(cli)
