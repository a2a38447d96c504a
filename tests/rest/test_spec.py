"""Spec validation (errors with the path of the bad key) and `deskmove adapters check`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deskmove.errors import ConfigError
from deskmove.resources import data_dir
from deskmove.rest.mapping import load_mapping
from deskmove.rest.spec import load_spec

ZENDESK = data_dir("adapters") / "zendesk.yaml"


def _broken(tmp_path: Path, change) -> Path:  # noqa: ANN001
    data = yaml.safe_load(ZENDESK.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda d: d["streams"]["tickets"]["paginator"].update(type="pages"),
            "streams.tickets.paginator: unknown paginator 'pages'; valid: cursor, link_header, next_url, offset, page_number, single",
        ),
        (lambda d: d["streams"]["users"].update(colour="red"), "streams.users.colour: unknown key"),
        (lambda d: d["auth"][0].update(type="kerberos"), "auth.0.type"),
        (
            lambda d: d["streams"]["comments"].update(path="/api/v2/comments.json"),
            "streams.comments: a per_ticket stream's path must contain {ticket_id}",
        ),
        (
            lambda d: d["streams"]["groups"]["paginator"].pop("cursor_path"),
            "the cursor paginator needs 'cursor_path'",
        ),
        (lambda d: d["streams"].pop("tickets"), "exactly one stream of kind 'ticket'"),
        (
            lambda d: d["target"]["ticket"]["create"].update(batch=5000),
            "target.ticket.create.batch",
        ),
    ],
    ids=[
        "unknown-paginator",
        "unknown-key",
        "bad-auth",
        "per-ticket-path",
        "paginator-field",
        "no-tickets",
        "batch-too-big",
    ],
)
def test_bad_key_is_reported_with_its_path(tmp_path, change, where):
    with pytest.raises(ConfigError) as info:
        load_spec(_broken(tmp_path, change))
    assert where in str(info.value)


def test_unreadable_specs(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_spec(bad)
    with pytest.raises(ConfigError, match="no such spec file"):
        load_spec(tmp_path / "missing.yaml")


def test_cli_adapters_check(cli, tmp_path):
    ok = cli("adapters", "check", str(ZENDESK))
    assert ok.exit_code == 0 and "valid (zendesk)" in ok.stdout
    bad = cli(
        "adapters", "check", str(_broken(tmp_path, lambda d: d["rate_limit"].update(per_hour=5)))
    )
    assert bad.exit_code == 2
    assert bad.stderr.startswith("Error: ") and "rate_limit.per_hour: unknown key" in bad.stderr


def test_mapping_rejects_a_non_canonical_value(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("values:\n  status:\n    open: opened\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="values.status.open: 'opened' is not a status"):
        load_mapping(path)


def test_shipped_rest_mappings_both_ways():
    z, f = load_mapping("zendesk"), load_mapping("freshdesk")
    assert z.canonical("channel", "voice") == "phone" and z.native("status", "hold") == "hold"
    assert z.canonical("status", "archived") == "open"  # unknown: the default, not a crash
    assert f.canonical("status", 4) == "solved" and f.native("status", "solved") == 4
    assert f.native("status", "new") == 2 and f.native("channel", "api") == 2


def test_adapters_check_names_the_function_a_hooks_module_lacks(cli, tmp_path: Path, monkeypatch):
    """The hooks contract is checked on load: no AttributeError at push time."""
    pkg = tmp_path / "myhooks.py"
    source = (Path(__file__).parents[2] / "src/deskmove/rest/hooks/zendesk.py").read_text(
        encoding="utf-8"
    )
    pkg.write_text(
        source.replace("def ticket_payload(", "def ticket_payload_old("), encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = _broken(tmp_path, lambda d: d.update(hooks="myhooks"))
    result = cli("adapters", "check", str(spec))
    assert result.exit_code == 2
    assert (
        "the hooks module 'myhooks' has no ticket_payload() (for target.ticket.create)"
        in result.stderr
    )
    with pytest.raises(ConfigError, match="ticket_payload"):
        load_spec(spec)


def test_adapters_check_accepts_the_shipped_specs(cli):
    for path in sorted((data_dir("adapters")).glob("*.yaml")):
        result = cli("adapters", "check", str(path))
        assert result.exit_code == 0, result.stderr
