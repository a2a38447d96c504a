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

    def to_native(
        self, kind: str, canonical: str | None, allowed: set[str] | None = None
    ) -> tuple[Any, str | None]:
        """A target's native value for a canonical one, and why it is not a faithful one.

        ``allowed`` (the values the account accepts, as text) narrows it further: a
        mapped value the account lacks (a custom status it never made) falls back to
        the default's. The reason is None when the value went over as it is.
        """
        if canonical is None or canonical == "":
            return None, None
        if kind == "type":
            for native, canon in self.maps.types.items():
                if canon.casefold() == str(canonical).casefold():
                    if allowed is None or native in allowed:
                        return native, None
                    return None, f"type '{canonical}' ({native}) does not exist in the target"
            return None, f"type '{canonical}' has no value in the mapping"
        table = self.maps.values.get(kind, {})
        mapped = next((_native(n) for n, c in table.items() if c == canonical), None)
        if mapped is not None and (allowed is None or str(mapped) in allowed):
            return mapped, None
        default = self.maps.defaults.get(kind)
        fallback = next((_native(n) for n, c in table.items() if c == default), None)
        if mapped is None:
            why = f"{kind} '{canonical}' has no value in the mapping"
        else:
            why = f"{kind} '{canonical}' ({mapped}) does not exist in the target"
        if fallback is not None and (allowed is None or str(fallback) in allowed):
            return fallback, f"{why}; sent as '{default}' ({fallback})"
        return None, f"{why}; left unset"

    def agent_email(self, email: str | None) -> str | None:
        """The target agent's e-mail that stands for a store agent's (the ``agents`` map)."""
        if not email:
            return None
        for src, dst in self.maps.agents.items():
            if src.casefold() == email.casefold():
                return dst
        return email

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
