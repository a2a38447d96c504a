"""Value maps for a REST helpdesk (``mappings/<name>.yaml``): native <-> canonical.

``status``, ``priority``, ``channel`` and ``type`` map a native value to a
canonical one; ``custom_fields`` maps a native field id to a canonical name.
The reverse direction (for targets) is the inverse, unless ``to_native`` says
otherwise for a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deskmove.errors import ConfigError
from deskmove.model import CHANNELS, PRIORITIES, STATUSES
from deskmove.resources import data_dir

KINDS = ("status", "priority", "channel", "type")


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: dict[str, str] = Field(default_factory=dict)
    priority: dict[str, str] = Field(default_factory=dict)
    channel: dict[str, str] = Field(default_factory=dict)
    type: dict[str, str] = Field(default_factory=dict)
    custom_fields: dict[str, str] = Field(default_factory=dict)
    to_native: dict[str, dict[str, Any]] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)  # canonical value when unmapped

    @field_validator("status", "priority", "channel", "type", "custom_fields", mode="before")
    @classmethod
    def _keys_as_text(cls, v: Any) -> Any:
        return {str(k): str(x) for k, x in v.items()} if isinstance(v, dict) else v

    @field_validator("status")
    @classmethod
    def _statuses(cls, v: dict[str, str]) -> dict[str, str]:
        return _check(v, STATUSES, "status")

    @field_validator("priority")
    @classmethod
    def _priorities(cls, v: dict[str, str]) -> dict[str, str]:
        return _check(v, PRIORITIES, "priority")

    @field_validator("channel")
    @classmethod
    def _channels(cls, v: dict[str, str]) -> dict[str, str]:
        return _check(v, CHANNELS, "channel")

    def canonical(self, kind: str, native: Any) -> str | None:
        """The canonical value for a native one (None when the source had none)."""
        if native is None or native == "":
            return None
        table: dict[str, str] = getattr(self, kind)
        return table.get(
            str(native), self.defaults.get(kind, str(native) if kind == "type" else None)
        )

    def native(self, kind: str, canonical: str | None) -> Any:
        """The native value for a canonical one, for targets."""
        if canonical is None:
            return None
        override = self.to_native.get(kind, {})
        if canonical in override:
            return override[canonical]
        for native, value in getattr(self, kind).items():
            if value == canonical:
                return int(native) if native.isdigit() else native
        return None

    def field_name(self, native_id: Any) -> str:
        return self.custom_fields.get(str(native_id), str(native_id))

    def field_id(self, name: str) -> str | None:
        for native, canonical in self.custom_fields.items():
            if canonical == name:
                return native
        return name if name.isdigit() else None


def _check(v: dict[str, str], allowed: tuple[str, ...], what: str) -> dict[str, str]:
    bad = sorted({x for x in v.values() if x not in allowed})
    if bad:
        raise ValueError(f"'{bad[0]}' is not a canonical {what} ({', '.join(allowed)})")
    return v


def load_mapping(name_or_path: str | Path | None) -> Mapping:
    """A shipped mapping by name (``zendesk``) or a user's file by path."""
    if not name_or_path:
        return Mapping()
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = data_dir("mappings") / f"{name_or_path}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"mapping {path} does not exist", "give the path of a YAML mapping"
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"mapping {path} cannot be read: {exc}", "fix the YAML") from None
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = (
            "unknown key"
            if err["type"] == "extra_forbidden"
            else err["msg"].removeprefix("Value error, ")
        )
        raise ConfigError(f"mapping {path}: {where}: {msg}", "fix that key and run again") from None
