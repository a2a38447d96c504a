"""Mapping files: native columns and values -> canonical fields and values, and back.

A mapping is a YAML file in ``mappings/`` (shipped with deskmove) or a user's own
file. It is validated when loaded; a bad key is reported with its path. The same
value maps (``values.status`` / ``priority`` / ``channel``) serve CSV layouts and
REST adapters::

    name: zendesk-csv
    columns: {id: Id, subject: Subject, status: Status, ...}   # canonical field -> column
    values:
      status: {Open: open, Solved: solved}                   # native -> canonical
    defaults: {status: open}                                   # when the value is empty
    unknown: quarantine                                        # or "default"
    dates: {formats: ["%Y-%m-%d %H:%M:%S %z"], timezone: UTC}
    tags: {separator: " "}
    custom_fields: {columns: {"Order number [txt]": order_number}, pattern: '^(?P<name>.+) \\[\\w+\\]$'}
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from deskmove.errors import ConfigError, UnknownValue  # noqa: F401 - UnknownValue re-exported
from deskmove.resources import data_dir, load_yaml
from deskmove.timestamps import parse_iso
from deskmove.vocabulary import CHANNELS, PRIORITIES, STATUSES

CANONICAL = {"status": STATUSES, "priority": PRIORITIES, "channel": CHANNELS}
# Canonical ticket fields a column can map to ("description" becomes the first message).
TICKET_FIELDS = (
    "id",
    "subject",
    "status",
    "priority",
    "type",
    "channel",
    "requester_email",
    "requester_name",
    "assignee_email",
    "assignee_name",
    "group",
    "organization",
    "tags",
    "created_at",
    "updated_at",
    "solved_at",
    "description",
    "description_html",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dates(_Strict):
    formats: list[str] = Field(default_factory=list)  # tried in order, after ISO 8601
    timezone: str = "UTC"  # for dates written without an offset
    dayfirst: bool = False

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{v}' (use a name like Europe/Prague)") from exc
        return v


class Tags(_Strict):
    separator: str = " "


class CustomFields(_Strict):
    columns: dict[str, str] = Field(default_factory=dict)  # column -> custom field key
    pattern: str | None = None  # a column matching it is a custom field named by (?P<name>…)
    unmapped: bool = False  # every column not mapped otherwise becomes a custom field

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return v


class Mapping(_Strict):
    name: str
    description: str = ""
    layout: Literal["tickets"] = "tickets"  # one row per ticket
    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)
    unknown: Literal["quarantine", "default"] = "quarantine"
    dates: Dates = Field(default_factory=Dates)
    tags: Tags = Field(default_factory=Tags)
    custom_fields: CustomFields = Field(default_factory=CustomFields)
    # Native field -> canonical field, for REST adapters that share these value maps.
    fields: dict[str, str] = Field(default_factory=dict)
    # REST targets: native ticket type -> canonical type (types are free text in the store;
    # a type with no entry here has no home in the target and is reported, not sent).
    types: dict[str, str] = Field(default_factory=dict)
    # REST targets: an agent's e-mail in the store -> the e-mail of the target's agent who
    # takes over their tickets (an agent missing from the target otherwise leaves them
    # unassigned).
    agents: dict[str, str] = Field(default_factory=dict)
    _lookup: dict[str, dict[str, str]] = PrivateAttr(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if key not in TICKET_FIELDS:
                raise ValueError(f"unknown field '{key}'; valid fields: {', '.join(TICKET_FIELDS)}")
        return v

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                f: {str(k): str(x) for k, x in m.items()} if isinstance(m, dict) else m
                for f, m in v.items()
            }
        return v

    @model_validator(mode="after")
    def _canonical_values(self) -> Mapping:
        for fld, table in list(self.values.items()) + [
            (k, {"": v}) for k, v in self.defaults.items()
        ]:
            allowed = CANONICAL.get(fld)
            if allowed is None:
                raise ValueError(f"values.{fld}: only status, priority and channel have value maps")
            for native, canon in table.items():
                if canon not in allowed:
                    where = f"values.{fld}.{native}" if native else f"defaults.{fld}"
                    raise ValueError(
                        f"{where}: '{canon}' is not a {fld}; use one of {', '.join(allowed)}"
                    )
        self._lookup = {
            f: {k.strip().casefold(): c for k, c in table.items()}
            for f, table in self.values.items()
        }
        return self

    # -- use ------------------------------------------------------------------------
    def value(self, fld: str, raw: str | None) -> str | None:
        """The canonical value of a native status/priority/channel (None when empty and no default)."""
        text = (raw or "").strip()
        if not text:
            return self.defaults.get(fld)
        table = self._lookup.get(fld)
        if table is None:  # no map: the value must already be canonical
            canon = text.casefold()
            if canon in CANONICAL[fld]:
                return canon
        elif text.casefold() in table:
            return table[text.casefold()]
        if self.unknown == "default" and fld in self.defaults:
            return self.defaults[fld]
        raise UnknownValue(f"unknown {fld} '{text}'")

    def reverse(self, fld: str, canonical: str | None) -> str | None:
        """The first native value that maps to ``canonical`` (for targets)."""
        for native, canon in self.values.get(fld, {}).items():
            if canon == canonical:
                return native
        return canonical

    def parse_date(self, raw: str | None) -> datetime | None:
        """An aware datetime; naive dates are read in ``dates.timezone``."""
        text = (raw or "").strip()
        if not text:
            return None
        try:
            return parse_iso(
                text, naive_tz=ZoneInfo(self.dates.timezone), formats=self.dates.formats
            )
        except ValueError:
            raise ValueError(f"bad date '{text}'") from None

    def split_tags(self, raw: str | None) -> list[str]:
        sep = self.tags.separator
        parts = (raw or "").split(sep) if sep.strip() else (raw or "").split()
        return [p.strip() for p in parts if p.strip()]

    def custom_field_columns(self, header: list[str]) -> dict[str, str]:
        """Column -> custom field key, for this file's header."""
        used = set(self.columns.values())
        cf = self.custom_fields
        out = {c: k for c, k in cf.columns.items() if c in header}
        rx = re.compile(cf.pattern) if cf.pattern else None
        for col in header:
            if col in out or col in used:
                continue
            m = rx.match(col) if rx else None
            if m:
                out[col] = m.groupdict().get("name") or col
            elif cf.unmapped:
                out[col] = col
        return out


def available() -> list[str]:
    folder = data_dir("mappings")
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def resolve(ref: str) -> Path:
    """A shipped mapping by name, or a user's file by path."""
    path = Path(ref).expanduser()
    if path.suffix in (".yaml", ".yml") or "/" in ref or path.is_file():
        if not path.is_file():
            raise ConfigError(f"mapping file {ref} does not exist", "check the path")
        return path
    shipped = data_dir("mappings") / f"{ref}.yaml"
    if not shipped.is_file():
        raise ConfigError(
            f"unknown mapping '{ref}'",
            f"valid mappings: {', '.join(available()) or '(none)'}; or give the path of your own YAML file",
        )
    return shipped


def load_mapping(ref: str) -> Mapping:
    """Load and validate a mapping; errors name the file and the bad key's path."""
    path = resolve(ref)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML", "fix the line it names") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text", "save it as UTF-8") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} is not a mapping file", "it must be a YAML dictionary with a name"
        )
    data.setdefault("name", path.stem)
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}", "fix that key and run again") from exc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{loc}: {msg}" if loc else msg
