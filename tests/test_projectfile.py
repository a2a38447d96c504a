"""deskmove.toml: every misspelt key is refused, naming the file, the key and the valid ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


# -- the plain walk a valid file takes (no pydantic) ---------------------------------------
def test_the_plain_walk_knows_the_same_keys_and_types_as_the_models() -> None:
    """SECTIONS and the pydantic models cannot drift apart: same sections, same keys, and
    each key's kind is what its field's annotation takes."""
    import typing

    from deskmove.projectfile import SECTIONS
    from deskmove.projectmodel import ProjectFile

    kinds = {
        "str | None": "str",
        "list[str]": "list[str]",
        "float": "number",
    }
    assert set(SECTIONS) == set(ProjectFile.model_fields)
    for section, field in ProjectFile.model_fields.items():
        model = field.annotation
        if typing.get_origin(model) is dict:
            assert SECTIONS[section] is None, section
            continue
        keys = SECTIONS[section]
        assert keys is not None and set(keys) == set(model.model_fields), section
        for key, f in model.model_fields.items():
            text = (
                str(f.annotation)
                .replace("typing.", "")
                .replace("Annotated[str, Strict(strict=True)]", "str")
            )
            text = text.replace("<class 'float'>", "float").replace("Optional[str]", "str | None")
            assert kinds.get(text) == keys[key], (section, key, text)


PLAIN_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("empty", {}, True),
    (
        "every section",
        {
            "store": {"url": "sqlite:///x.db"},
            "mail": {
                "support_addresses": ["a@x.example"],
                "support_domains": [],
                "subject_window_days": 30,
                "subject_prefixes": ["odp"],
            },
            "sync": {"sources": ["a"], "targets": ["b"]},
            "audit": {"region": "CZ", "known_senders": "s.yaml"},
            "serve": {"anything": 1},
            "smtp": {"host": "127.0.0.1"},
            "connections": {"a": {"spec": "mbox:x", "password": {"env": "P"}}},
        },
        True,
    ),
    ("float days", {"mail": {"subject_window_days": 7.5}}, True),
    ("bool days", {"mail": {"subject_window_days": True}}, False),
    ("text days", {"mail": {"subject_window_days": "30"}}, False),
    ("a number in a list", {"mail": {"support_domains": ["x.example", 3]}}, False),
    ("a string for a list", {"mail": {"support_domains": "x.example"}}, False),
    ("a number for a string", {"store": {"url": 5}}, False),
    ("a list for a string", {"audit": {"region": ["CZ"]}}, False),
    ("unknown key", {"sync": {"targts": []}}, False),
    ("unknown section", {"syncs": {}}, False),
    ("section as a value", {"mail": "yes"}, False),
    ("connection as a value", {"connections": {"a": "mbox:x"}}, False),
    ("serve as a value", {"serve": 1}, False),
]


@pytest.mark.parametrize(("name", "config", "plain"), PLAIN_CASES, ids=[c[0] for c in PLAIN_CASES])
def test_the_plain_walk_accepts_only_what_the_models_accept(
    name: str, config: dict[str, Any], plain: bool
) -> None:
    from pydantic import ValidationError

    from deskmove.projectfile import plainly_valid
    from deskmove.projectmodel import ProjectFile

    assert plainly_valid(config) is plain
    if plain:
        ProjectFile.model_validate(config)  # never accepted by the walk alone when wrong
    else:
        try:
            ProjectFile.model_validate(config)
        except ValidationError:
            return
        # the models take it after all ("30" for a number): the file still loads
        from deskmove.projectfile import check

        check(config, Path("deskmove.toml"))


def test_a_valid_file_is_checked_without_pydantic(tmp_path: Path) -> None:
    from tests.test_startup import loaded_after

    (tmp_path / "deskmove.toml").write_text(
        '[mail]\nsupport_domains = ["shop.example"]\nsubject_window_days = 14\n'
        '[connections.old-inbox]\nspec = "imaps://support@mail.shop.example/INBOX"\n'
        'password = { env = "OLD_INBOX_PASSWORD" }\n'
        '[sync]\nsources = ["old-inbox"]\n',
        encoding="utf-8",
    )
    code = f"from deskmove.config import Project\nProject.load({str(tmp_path)!r})\n"
    assert "LOADED []" in loaded_after(code, ("pydantic",))
    (tmp_path / "deskmove.toml").write_text("[mail]\nsubject_window_days = '14'\n")
    assert "LOADED ['pydantic']" in loaded_after(code, ("pydantic",))  # the models decide
