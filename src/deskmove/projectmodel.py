"""The shape of ``deskmove.toml`` as pydantic models, and the error for what breaks it.

:mod:`deskmove.projectfile` walks a file against :data:`~deskmove.projectfile.SECTIONS`
first and comes here only for a file that walk does not accept, so a valid file is
checked without loading pydantic. Here a misspelt key becomes an error naming the
file, the key with its section and the keys that are valid there (``[store] uri``
would otherwise silently mean "SQLite here", ``[sync] targts`` "push nowhere").
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


def check_sections(config: dict[str, Any], path: Path) -> None:
    """Raise :class:`ConfigError` for the first key or value of the sections (not the
    connections' own keys: :func:`deskmove.projectfile.check` checks those) that
    deskmove.toml must not have."""
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
