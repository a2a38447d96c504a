"""The shape of ``deskmove.toml``: every section and key it may have, checked on load.

A misspelt key is an error naming the file, the key with its section and the
keys that are valid there (``[store] uri`` would otherwise silently mean
"SQLite here", ``[sync] targts`` "push nowhere"). Connections are checked
against what their scheme reads (:mod:`deskmove.connoptions`), and a secret
must be a reference to the environment, ``{ env = "NAME" }``.

Every command loads the file, so a valid one is checked by a plain walk over
:data:`SECTIONS`, without pydantic (loading it is most of a tenth of a second).
The walk accepts only what the pydantic models in :mod:`deskmove.projectmodel`
accept (``tests/test_projectfile.py`` holds the two to the same keys and types);
anything it does not accept goes to those models, which name what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deskmove.errors import ConfigError

# section -> key -> what its value may be: "str", "list[str]", "number" (an int or a
# float, not a bool); a section of None takes any keys (a table its own reader checks).
SECTIONS: dict[str, dict[str, str] | None] = {
    "store": {"url": "str"},
    "mail": {
        "support_addresses": "list[str]",
        "support_domains": "list[str]",
        "subject_window_days": "number",
        "subject_prefixes": "list[str]",
    },
    "sync": {"sources": "list[str]", "targets": "list[str]"},
    "audit": {"region": "str", "known_senders": "str"},
    "serve": None,  # deskmove.web checks the workspace's keys
    "smtp": None,  # deskmove.web.mailout checks the relay's keys when `serve` starts
    "connections": None,  # each a table, checked by _check_connection
}


def _fits(kind: str, value: Any) -> bool:
    t = type(value)
    if kind == "str":
        return t is str
    if kind == "number":
        return t is int or t is float
    return t is list and all(type(v) is str for v in value)  # "list[str]"


def plainly_valid(config: dict[str, Any]) -> bool:
    """Whether every section, key and value is one :data:`SECTIONS` allows as it is."""
    for section, body in config.items():
        keys = SECTIONS.get(section, False)
        if keys is False or type(body) is not dict:
            return False
        if keys is None:
            if section == "connections" and any(type(e) is not dict for e in body.values()):
                return False
            continue
        for key, value in body.items():
            kind = keys.get(key)
            if kind is None or not _fits(kind, value):
                return False
    return True


def check(config: dict[str, Any], path: Path) -> None:
    """Raise :class:`ConfigError` for the first key or value deskmove.toml must not have."""
    if not plainly_valid(config):
        from deskmove.projectmodel import check_sections

        check_sections(config, path)  # says what is wrong; returns if it is not wrong after all
    for name, entry in config.get("connections", {}).items():
        _check_connection(name, entry, path)


def is_env_ref(value: Any) -> bool:
    """``{ env = "NAME" }``, and nothing else in the table."""
    return type(value) is dict and value.keys() == {"env"} and type(value["env"]) is str


def _check_connection(name: str, entry: dict[str, Any], path: Path) -> None:
    where = f"[connections.{name}]"
    spec = entry.get("spec")
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(
            f"{path}: {where} has no spec", f'add spec = "SCHEME:…" under {where}, e.g. "mbox:PATH"'
        )
    if entry.keys() == {"spec"}:
        return  # nothing else to check (a spec's ?key=value is the adapter's to check)
    from deskmove.connoptions import options_for  # loads the adapter classes

    scheme = spec.split(":", 1)[0].lower()
    allowed = options_for(scheme)
    for key, value in entry.items():
        if key == "spec":
            continue
        if allowed is not None and key not in allowed.plain | allowed.secrets:
            valid = sorted({"spec"} | allowed.plain | allowed.secrets)
            raise ConfigError(
                f"{path}: unknown key '{key}' in {where} ({scheme}: connection)",
                f"valid keys there: {', '.join(valid)}",
            )
        secret = allowed is not None and key in allowed.secrets
        if (secret or isinstance(value, dict)) and not is_env_ref(value):
            raise ConfigError(
                f'{path}: {where} {key} must be a reference like {{ env = "NAME" }}',
                "secrets are read from the environment; never write them in deskmove.toml",
            )
