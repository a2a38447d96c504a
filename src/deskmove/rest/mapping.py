"""Value maps for a REST helpdesk, read through :mod:`deskmove.mappings` (the same files
format the CSV layouts use): ``values`` (status, priority, channel: native -> canonical),
``defaults`` and ``fields`` (a native custom field id -> a canonical name).

For targets the reverse of a value is the first native value that maps to it; a
canonical value with no native one falls back to the reverse of the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deskmove.mappings import Mapping as ValueMaps
from deskmove.mappings import UnknownValue
from deskmove.mappings import load_mapping as load_value_maps


def _native(value: str) -> Any:
    return int(value) if value.isdigit() else value


class Mapping:
    """native <-> canonical for status, priority, channel, type and custom field names."""

    def __init__(self, maps: ValueMaps | None = None) -> None:
        self.maps = maps or ValueMaps(name="none", unknown="default")

    def canonical(self, kind: str, native: Any) -> str | None:
        """The canonical value for a native one (None when the source had none)."""
        if native is None or native == "":
            return None
        if kind == "type":
            return str(native)
        try:
            return self.maps.value(kind, str(native))
        except UnknownValue:
            return self.maps.defaults.get(kind)

    def native(self, kind: str, canonical: str | None, _depth: int = 0) -> Any:
        """The native value for a canonical one, for targets."""
        if canonical is None or kind == "type":
            return canonical
        table = self.maps.values.get(kind, {})
        for native, value in table.items():
            if value == canonical:
                return _native(native)
        default = self.maps.defaults.get(kind)
        if default and default != canonical and _depth == 0:
            return self.native(kind, default, 1)
        return None if table else canonical

    def field_name(self, native_id: Any) -> str:
        return self.maps.fields.get(str(native_id), str(native_id))

    def field_id(self, name: str) -> str | None:
        for native, canonical in self.maps.fields.items():
            if canonical == name:
                return native
        return name if name.isdigit() else None


def load_mapping(name_or_path: str | Path | None) -> Mapping:
    """A shipped mapping by name (``zendesk``) or a user's file by path."""
    return Mapping(load_value_maps(str(name_or_path)) if name_or_path else None)
