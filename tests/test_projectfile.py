"""deskmove.toml: every misspelt key is refused, naming the file, the key and the valid ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskmove.config import Project
from deskmove.errors import ConfigError

CASES = {
    "mail": (
        '[mail]\nsupport_adresses = ["a@x.example"]\n',
        "support_adresses",
        "[mail]",
        "support_addresses",
    ),
    "store": ('[store]\nuri = "postgresql://x/y"\n', "uri", "[store]", "url"),
    "sync": ('[sync]\ntargts = ["new"]\n', "targts", "[sync]", "targets"),
    "audit": ('[audit]\nregoin = "CZ"\n', "regoin", "[audit]", "region"),
    "imap-password": (
        '[connections.x]\nspec = "imap://u@h/INBOX"\npasword = { env = "P" }\n',
        "pasword",
        "[connections.x]",
        "password",
    ),
    "csv": (
        '[connections.c]\nspec = "csv:in"\nencodng = "cp1250"\n',
        "encodng",
        "[connections.c]",
        "encoding",
    ),
    "zendesk": (
        '[connections.z]\nspec = "zendesk://shop"\ntokn = { env = "T" }\n',
        "tokn",
        "[connections.z]",
        "token",
    ),
    "mbox": (
        '[connections.m]\nspec = "mbox:a.mbox"\nfull = "1"\n',
        "full",
        "[connections.m]",
        "spec",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_unknown_key_is_refused_with_file_key_and_valid_keys(tmp_path: Path, case: str) -> None:
    text, key, where, valid = CASES[case]
    (tmp_path / "deskmove.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        Project.load(tmp_path)
    message = str(err.value)
    assert str(tmp_path / "deskmove.toml") in message
    assert f"'{key}'" in message and where in message
    assert valid in message.split("—")[1]


def test_cli_exits_2_on_a_misspelt_key(cli, project_dir: Path) -> None:
    (project_dir / "deskmove.toml").write_text('[sync]\ntargts = ["new"]\n', encoding="utf-8")
    result = cli("status")
    assert result.exit_code == 2
    assert "unknown key 'targts' in [sync]" in result.output
    assert "valid keys there: sources, targets" in result.output


def test_an_inline_secret_is_refused_before_it_is_used(tmp_path: Path) -> None:
    (tmp_path / "deskmove.toml").write_text(
        '[connections.x]\nspec = "imap://u@h/INBOX"\npassword = "hunter2"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        Project.load(tmp_path)
    assert 'must be a reference like { env = "NAME" }' in str(err.value)
    assert "hunter2" not in str(err.value)


def test_a_wrong_type_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "deskmove.toml").write_text(
        '[mail]\nsupport_domains = "shop.example"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        Project.load(tmp_path)
    assert "support_domains" in str(err.value) and "[mail]" in str(err.value)


def test_every_documented_key_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "deskmove.toml").write_text(
        """
[store]
url = "sqlite:///x.db"
[mail]
support_addresses = ["support@shop.example"]
support_domains = ["shop.example"]
subject_window_days = 30
subject_prefixes = ["respuesta"]
[audit]
region = "CZ"
known_senders = "my-senders.yaml"
[connections.old-inbox]
spec = "imaps://support@mail.shop.example/INBOX,Sent"
password = { env = "OLD_INBOX_PASSWORD" }
folders = ["INBOX", "Sent, 2023"]
timeout = 30
[connections.new-desk]
spec = "zendesk://shop"
email = { env = "ZENDESK_EMAIL" }
token = { env = "ZENDESK_API_TOKEN" }
agents = "create"
timeout = 20
[connections.fd]
spec = "freshdesk://acme"
api_key = { env = "FRESHDESK_API_KEY" }
[connections.files]
spec = "csv:in?mapping=zendesk-csv"
encoding = "cp1250"
[sync]
sources = ["old-inbox"]
targets = ["new-desk"]
""",
        encoding="utf-8",
    )
    project = Project.load(tmp_path)
    assert project.connection("new-desk").option("agents") == "create"
