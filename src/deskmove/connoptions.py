"""Which keys a connection may carry, per scheme: in deskmove.toml and as ``?key=value``.

One table for the code adapters; a REST helpdesk's keys come from its spec
(``options:`` and the ``key`` of each secret under ``auth:``) plus the ones the
REST engine itself reads. A scheme deskmove does not know (an adapter from
another package) returns None: its keys cannot be checked here.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple


class Options(NamedTuple):
    plain: frozenset[str]  # ?key=value or key = "value"
    secrets: frozenset[str]  # key = { env = "NAME" } only


_CSV = {"mapping", "encoding", "delimiter", "timezone", "formulas"}
_IMAP = {"tls", "folders", "cafile", "batch", "batch_mb", "timeout", "retries"}
CODE: dict[str, Options] = {
    "csv": Options(frozenset(_CSV), frozenset()),
    "mbox": Options(frozenset(), frozenset()),
    "maildir": Options(frozenset({"full"}), frozenset()),
    "eml": Options(frozenset({"full"}), frozenset()),
    "imap": Options(frozenset(_IMAP), frozenset({"password"})),
    "imaps": Options(frozenset(_IMAP), frozenset({"password"})),
}
# read by the REST engine for every spec (rest/http.py, rest/adapter.py, rest/target.py)
REST_PLAIN = frozenset(
    {
        "base_url",
        "requests_per_minute",
        "mapping",
        "timeout",
        "deadline",
        "external_id_prefix",
        "fallback_author_id",
    }
)


@cache
def options_for(scheme: str) -> Options | None:
    """The keys a connection of this scheme may have, or None when they cannot be known."""
    if scheme in CODE:
        return CODE[scheme]
    from deskmove.registry import rest_specs

    path = rest_specs().get(scheme)
    if path is None:
        return None
    from deskmove.rest.spec import load_spec

    spec = load_spec(path)
    secrets = {ref.key for a in spec.auth for ref in (a.user, a.secret) if ref and ref.key}
    return Options(REST_PLAIN | set(spec.options), frozenset(secrets))
