"""Named registries of source and target adapters.

Built-in adapters register here by scheme, exactly as outside ones do through
the ``deskmove.sources`` / ``deskmove.targets`` entry-point groups. REST
helpdesks need no code entry: any ``adapters/<scheme>.yaml`` spec is run by
the engine in :mod:`deskmove.rest`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from deskmove.errors import UsageError
from deskmove.resources import data_dir

if TYPE_CHECKING:
    from deskmove.config import Connection, Project
    from deskmove.sources.base import Source
    from deskmove.targets.base import Target

SOURCES: dict[str, str] = {
    "csv": "deskmove.sources.csv:CsvSource",
    "mbox": "deskmove.sources.mbox:MboxSource",
    "maildir": "deskmove.sources.maildir:MaildirSource",
    "eml": "deskmove.sources.maildir:EmlSource",
    "imap": "deskmove.sources.imap:ImapSource",
    "imaps": "deskmove.sources.imap:ImapSource",
}
TARGETS: dict[str, str] = {
    "csv": "deskmove.targets.csv:CsvTarget",
}
REST_SOURCE = "deskmove.rest.adapter:RestSource"
REST_TARGET = "deskmove.rest.adapter:RestTarget"


@dataclass
class AdapterInfo:
    scheme: str
    role: str  # "source" or "target"
    kind: str  # "code" or "rest"
    available: bool
    description: str
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def rest_specs() -> dict[str, Any]:
    """scheme -> spec file, for every adapters/*.yaml."""
    folder = data_dir("adapters")
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


GROUPS = ("deskmove.sources", "deskmove.targets")


def entry_points() -> Any:
    """Every installed distribution's entry points (importlib.metadata: loaded only when
    a scheme is not one of the built-in adapters, whose names no package can take)."""
    from importlib.metadata import entry_points as read

    return read()


@cache
def _installed_groups() -> dict[str, tuple[tuple[str, str], ...]]:
    """Adapters other packages declare, sources and targets: read once per process, in
    one pass (each read opens the metadata of every installed distribution)."""
    found = entry_points()
    return {g: tuple((ep.name, ep.value) for ep in found.select(group=g)) for g in GROUPS}


def _installed(group: str) -> tuple[tuple[str, str], ...]:
    return _installed_groups().get(group, ())


def _table(role: str) -> dict[str, str]:
    table = dict(SOURCES if role == "source" else TARGETS)
    for name, value in _installed(f"deskmove.{role}s"):
        table.setdefault(name, value)
    for scheme in rest_specs():
        table.setdefault(scheme, REST_SOURCE if role == "source" else REST_TARGET)
    return table


def _resolve(role: str, scheme: str) -> Any:
    builtin = SOURCES if role == "source" else TARGETS
    table = builtin if scheme in builtin else _table(role)  # a built-in name always wins
    if scheme not in table:
        raise UsageError(
            f"there is no {role} for '{scheme}:'",
            f"known {role}s: {', '.join(sorted(table))} (see `deskmove adapters list`)",
        )
    try:
        return _load(table[scheme])
    except ImportError as exc:
        raise _not_loadable(scheme, role, table[scheme], exc) from exc


def _not_loadable(scheme: str, role: str, path: str, exc: ImportError) -> UsageError:
    """The adapter's own module missing is "not built"; a package it needs, named."""
    module = path.partition(":")[0]
    if exc.name is not None and module.startswith(exc.name):
        return UsageError(
            f"the {scheme} {role} is not built in this version of deskmove",
            "see `deskmove adapters list` for what is available",
        )
    package = (exc.name or "?").partition(".")[0]
    return UsageError(
        f"the {scheme} {role} needs the Python package '{package}', which is not installed",
        f"install it (pip install {package}) and run again",
    )


def source_for(conn: Connection, project: Project) -> Source:
    return _checked(_resolve("source", conn.scheme)(conn, project), conn, "source")


def target_for(conn: Connection, project: Project) -> Target:
    return _checked(_resolve("target", conn.scheme)(conn, project), conn, "target")


def _checked(adapter: Any, conn: Connection, role: str) -> Any:
    """Refuse a ?key=value the adapter does not take (a typo would be ignored silently)."""
    valid = adapter.option_names()
    unknown = sorted(set(conn.params) - valid) if valid is not None else []
    if unknown:
        key = unknown[0]
        hint = (
            f"valid options: {', '.join(sorted(valid))}"
            if valid
            else f"the {conn.scheme} {role} takes no options: remove ?{key}=…"
        )
        raise UsageError(
            f"unknown option ?{key}={conn.params[key]} for the {conn.scheme} {role}", hint
        )
    return adapter


def adapters() -> list[AdapterInfo]:
    out = []
    specs = rest_specs()
    for role in ("source", "target"):
        for scheme, path in sorted(_table(role).items()):
            kind = "rest" if scheme in specs and path in (REST_SOURCE, REST_TARGET) else "code"
            try:
                cls = _load(path)
                about = getattr(cls, "description", "")
                if kind == "rest":  # the spec says what it is (RT, Zendesk…), not the engine
                    about = _spec_description(specs[scheme]) or about
                out.append(AdapterInfo(scheme, role, kind, True, about))
            except ImportError as exc:
                problem = _not_loadable(scheme, role, path, exc).message
                out.append(AdapterInfo(scheme, role, kind, False, "", problem))
    return out


def _spec_description(path: Any) -> str:
    try:
        from deskmove.rest.spec import load_spec

        return load_spec(path).description
    except Exception:  # noqa: BLE001 - `adapters check` reports a broken spec
        return ""
