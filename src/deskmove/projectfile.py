"""The shape of ``deskmove.toml``: every section and key it may have, checked on load.

A misspelt key is an error naming the file, the key with its section and the
keys that are valid there (``[store] uri`` would otherwise silently mean
"SQLite here", ``[sync] targts`` "push nowhere"). Connections are checked
against what their scheme reads (:mod:`deskmove.connoptions`), and a secret
must be a reference to the environment, ``{ env = "NAME" }``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from deskmove.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSection(_Section):
    url: StrictStr | None = None


class MailSection(_Section):
    support_addresses: list[StrictStr] = Field(default_factory=list)
    support_domains: list[StrictStr] = Field(default_factory=list)
    subject_window_days: float = 30
    subject_prefixes: list[StrictStr] = Field(default_factory=list)


class SyncSection(_Section):
    sources: list[StrictStr] = Field(default_factory=list)
    targets: list[StrictStr] = Field(default_factory=list)


class AuditSection(_Section):
    region: StrictStr | None = None
    known_senders: StrictStr | None = None


class EnvRef(_Section):
    env: StrictStr


class ProjectFile(_Section):
    store: StoreSection = Field(default_factory=StoreSection)
    mail: MailSection = Field(default_factory=MailSection)
    sync: SyncSection = Field(default_factory=SyncSection)
    audit: AuditSection = Field(default_factory=AuditSection)
    # the workspace's settings are read by deskmove.web, which checks its own keys
    serve: dict[str, Any] = Field(default_factory=dict)
    # the reply relay; deskmove.web.mailout checks its keys when `serve` starts
    smtp: dict[str, Any] = Field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _where(loc: tuple[Any, ...]) -> tuple[str, str]:
    """('connections', 'x', 'pasword') -> ('[connections.x]', 'pasword')"""
    parts = [str(p) for p in loc]
    if len(parts) == 1:
        return "the top level", parts[0]
    section = parts[:2] if parts[0] == "connections" and len(parts) > 2 else parts[:1]
    return f"[{'.'.join(section)}]", ".".join(parts[len(section) :])


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = ProjectFile
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return sorted(model.model_fields)


def check(config: dict[str, Any], path: Path) -> None:
    """Raise :class:`ConfigError` for the first key or value deskmove.toml must not have."""
    try:
        ProjectFile.model_validate(config)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        where, key = _where(loc)
        if err["type"] == "extra_forbidden":
            valid = ", ".join(_valid_keys(loc))
            if len(loc) == 1:
                raise ConfigError(
                    f"{path}: unknown section [{key}]", f"valid sections are: {valid}"
                ) from None
            raise ConfigError(
                f"{path}: unknown key '{key}' in {where}", f"valid keys there: {valid}"
            ) from None
        if len(loc) == 1:
            raise ConfigError(
                f"{path}: [{key}] must be a table", f"write it as [{key}] with keys below"
            ) from None
        raise ConfigError(
            f"{path}: {where} {key}: {err['msg'].lower()}",
            "fix that value and run again",
        ) from None
    for name, entry in config.get("connections", {}).items():
        _check_connection(name, entry, path)


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
        if secret or isinstance(value, dict):
            try:
                EnvRef.model_validate(value)
            except ValidationError:
                raise ConfigError(
                    f'{path}: {where} {key} must be a reference like {{ env = "NAME" }}',
                    "secrets are read from the environment; never write them in deskmove.toml",
                ) from None
