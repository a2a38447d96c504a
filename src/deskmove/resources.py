"""Where the shipped ``adapters/`` and ``mappings/`` folders are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_PKG = Path(__file__).parent


def data_dir(name: str) -> Path:
    """The shipped folder ``name`` (``adapters`` or ``mappings``)."""
    installed = _PKG / "_data" / name
    if installed.is_dir():
        return installed
    return _PKG.parent.parent / name  # an editable install or a plain checkout


def load_yaml(text: str) -> Any:
    """Parse YAML safely, with libyaml's C loader when present (specs load at every start);
    PyYAML is loaded by the first spec or mapping read, not by every command."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
