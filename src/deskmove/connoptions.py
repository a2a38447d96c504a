"""Which keys a connection may carry in deskmove.toml, per scheme.

The plain keys are the ``?key=value`` options each adapter declares
(``spec_options`` on its source and target classes; for a REST helpdesk the
engine's options and its spec's ``options:``), so a spec and the project file
accept exactly the same words. Secrets (``key = { env = "NAME" }``) are the
IMAP password and the ``key`` of each secret under a REST spec's ``auth:``.
A scheme whose adapters declare nothing (one from another package) returns
None: its keys cannot be checked here.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple


class Options(NamedTuple):
    plain: frozenset[str]  # ?key=value or key = "value"
    secrets: frozenset[str]  # key = { env = "NAME" } only


CODE_SECRETS: dict[str, frozenset[str]] = {
    "imap": frozenset({"password"}),
    "imaps": frozenset({"password"}),
}


@cache
def options_for(scheme: str) -> Options | None:
    """The keys a connection of this scheme may have, or None when they cannot be known."""
    from deskmove.registry import REST_SOURCE, REST_TARGET, _load, _table, rest_specs

    plain: set[str] = set()
    declared = False
    for role in ("source", "target"):
        path = _table(role).get(scheme)
        if path is None or path in (REST_SOURCE, REST_TARGET):
            continue
        try:
            cls = _load(path)
        except (ImportError, AttributeError):
            continue
        opts = getattr(cls, "spec_options", None)
        if opts is None:
            return None
        plain |= set(opts)
        declared = True
    if declared:
        return Options(frozenset(plain), CODE_SECRETS.get(scheme, frozenset()))
    spec_path = rest_specs().get(scheme)
    if spec_path is None:
        return None
    from deskmove.rest.spec import ENGINE_OPTIONS, load_spec

    spec = load_spec(spec_path)
    secrets = {ref.key for a in spec.auth for ref in (a.user, a.secret) if ref and ref.key}
    return Options(frozenset(ENGINE_OPTIONS) | frozenset(spec.options), frozenset(secrets))
