"""Auth schemes by short name, and the redactor that keeps their secrets out of text."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from deskmove.errors import MissingSecret

if TYPE_CHECKING:
    from deskmove.config import Connection
    from deskmove.rest.spec import AuthSpec, SecretRef

SENSITIVE_PARAMS = re.compile(r"(token|key|secret|password|auth|signature|sig)", re.I)


@dataclass
class Redactor:
    """Blanks every known secret (and its Basic-auth form) in any text."""

    secrets: set[str] = field(default_factory=set)

    def add(self, *values: str | None) -> None:
        for v in values:
            if v and len(v) >= 4:
                self.secrets.add(v)

    def __call__(self, text: str) -> str:
        for s in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text

    def url(self, url: str) -> str:
        """A URL with sensitive query values blanked, then every secret blanked."""
        parts = urlsplit(str(url))
        if parts.query:
            q = [(k, "***" if SENSITIVE_PARAMS.search(k) else v) for k, v in parse_qsl(parts.query)]
            parts = parts._replace(query=urlencode(q, safe="*[]/:,"))
        if parts.password or parts.username:
            parts = parts._replace(netloc=parts.hostname or "")
        return self(parts.geturl())


@dataclass
class Credentials:
    """What an auth scheme adds to a request to the account's own host."""

    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    variables: list[str] = field(default_factory=list)  # for error hints


def _read(conn: Connection, ref: SecretRef) -> str:
    return conn.secret(ref.key or ref.env.lower(), default_env=ref.env)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _api_token(conn: Connection, a: AuthSpec, r: Redactor) -> Credentials:
    assert a.user is not None
    email, token = _read(conn, a.user), _read(conn, a.secret)
    header = _basic(f"{email}/token", token)
    r.add(token, header, header.split()[1])
    return Credentials({"Authorization": header}, {}, [a.user.env, a.secret.env])


def _bearer(conn: Connection, a: AuthSpec, r: Redactor) -> Credentials:
    token = _read(conn, a.secret)
    r.add(token)
    return Credentials({"Authorization": f"Bearer {token}"}, {}, [a.secret.env])


def _basic_auth(conn: Connection, a: AuthSpec, r: Redactor) -> Credentials:
    user = _read(conn, a.user) if a.user else _read(conn, a.secret)
    password = a.password if a.password is not None else _read(conn, a.secret)
    header = _basic(user, password)
    r.add(user if a.user is None else None, password if a.password is None else None)
    r.add(header, header.split()[1])
    names = [x.env for x in (a.user, a.secret) if x is not None]
    return Credentials({"Authorization": header}, {}, names)


def _api_key(conn: Connection, a: AuthSpec, r: Redactor) -> Credentials:
    key = _read(conn, a.secret)
    r.add(key)
    if a.header:
        return Credentials({a.header: a.prefix + key}, {}, [a.secret.env])
    return Credentials({}, {a.query or "api_key": key}, [a.secret.env])


AUTH_SCHEMES: dict[str, Callable[[Connection, AuthSpec, Redactor], Credentials]] = {
    "api_token": _api_token,
    "bearer": _bearer,
    "basic": _basic_auth,
    "api_key": _api_key,
}


def resolve_auth(conn: Connection, schemes: list[AuthSpec], redactor: Redactor) -> Credentials:
    """The first scheme whose secrets are all set; else name the first scheme's variables."""
    first_error: MissingSecret | None = None
    for a in schemes:
        try:
            return AUTH_SCHEMES[a.type](conn, a, redactor)
        except MissingSecret as exc:
            first_error = first_error or exc
    assert first_error is not None
    a = schemes[0]
    names = [x.env for x in (a.user, a.secret) if x is not None]
    others = [" and ".join(x.env for x in (s.user, s.secret) if x is not None) for s in schemes[1:]]
    hint = f"set {' and '.join(names)}" + (f" (or {', '.join(others)})" if others else "")
    raise _missing(first_error.variable, hint)


def _missing(variable: str, hint: str) -> MissingSecret:
    err = MissingSecret(variable, "an API credential")
    err.hint = f"{hint} in the environment and run again"
    return err
