"""The project (``deskmove.toml`` and the store beside it), connections and secrets."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from deskmove.errors import ConfigError, MissingSecret, UsageError

PROJECT_FILE = "deskmove.toml"
STORE_FILE = "deskmove.db"
BLOBS_DIR = "blobs"

TEMPLATE = """\
# deskmove project file. Secrets are referenced from the environment, never written here.

[store]
# url = "postgresql+psycopg://deskmove@localhost/deskmove"   # default: SQLite in this folder
# (DESKMOVE_DATABASE_URL, when set, wins over this line)

[mail]
# The addresses and domains your team answers from: mail from them is an agent reply.
support_addresses = []
support_domains = []

# [connections.old-inbox]
# spec = "imap://support@mail.example.com/INBOX,Sent"
# password = { env = "OLD_INBOX_PASSWORD" }

# [connections.new-desk]
# spec = "zendesk://example"
# email = { env = "ZENDESK_EMAIL" }
# token = { env = "ZENDESK_API_TOKEN" }

# [sync]
# sources = ["old-inbox"]
# targets = ["new-desk"]
"""


@dataclass
class Connection:
    """A parsed source/target: from the project file by name, or an inline spec."""

    name: str
    scheme: str
    spec: str
    location: str  # path for files; host[:port] for servers; subdomain/domain for SaaS
    user: str | None = None
    port: int | None = None
    folders: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # extra keys from deskmove.toml

    def secret(self, key: str, default_env: str | None = None, what: str | None = None) -> str:
        """A secret from the environment, named by ``key = { env = "NAME" }`` or ``default_env``."""
        ref = self.options.get(key)
        if isinstance(ref, dict) and "env" in ref:
            variable = str(ref["env"])
        elif ref is not None:
            raise ConfigError(
                f"connection '{self.name}': {key} must be a reference like {{ env = \"NAME\" }}",
                "secrets are read from the environment; never write them in deskmove.toml",
            )
        elif default_env:
            variable = default_env
        else:
            raise MissingSecret(
                f"{self.name.upper()}_{key.upper()}", what or f"the {key} for '{self.name}'"
            )
        value = os.environ.get(variable)
        if not value:
            raise MissingSecret(variable, what or f"the {key} for '{self.name}'")
        return value

    def optional_secret(self, key: str, default_env: str | None = None) -> str | None:
        try:
            return self.secret(key, default_env)
        except MissingSecret:
            return None

    def option(self, key: str, default: Any = None) -> Any:
        """A plain option: the spec's ?query wins over the project file."""
        if key in self.params:
            return self.params[key]
        return self.options.get(key, default)


def parse_spec(spec: str, *, name: str | None = None, base: Path | None = None) -> Connection:
    """Parse ``mbox:PATH``, ``csv:PATH?mapping=x``, ``imap://user@host:993/INBOX,Sent`` …"""
    if ":" not in spec:
        raise UsageError(
            f"'{spec}' is neither a connection in deskmove.toml nor a spec",
            "use a spec such as mbox:PATH, csv:PATH, imap://USER@HOST/INBOX or zendesk://SUBDOMAIN",
        )
    scheme, rest = spec.split(":", 1)
    scheme = scheme.lower()
    if rest.startswith("//"):
        parts = urlsplit(spec)
        params = dict(parse_qsl(parts.query))
        try:
            port = parts.port
        except ValueError as exc:
            raise UsageError(
                f"'{spec}' has a bad port", "write it as HOST:PORT, e.g. imap.example.com:993"
            ) from exc
        if parts.password:
            raise UsageError(
                "a password was written into the spec",
                "remove it; deskmove reads passwords from the environment only",
            )
        folders = [unquote(f) for f in parts.path.lstrip("/").split(",") if f]
        return Connection(
            name=name or _redacted(spec),
            scheme=scheme,
            spec=spec,
            location=parts.hostname or "",
            user=unquote(parts.username) if parts.username else None,
            port=port,
            folders=folders,
            params=params,
        )
    path, _, query = rest.partition("?")
    if not path:
        raise UsageError(f"'{spec}' names no path", f"write it as {scheme}:PATH")
    p = Path(path).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    p = p.resolve()
    return Connection(
        name=name or f"{scheme}:{p}",
        scheme=scheme,
        spec=spec,
        location=str(p),
        params=dict(parse_qsl(query)),
    )


def _redacted(spec: str) -> str:
    parts = urlsplit(spec)
    return parts._replace(query="").geturl()


@dataclass
class Project:
    root: Path
    config: dict[str, Any]

    @classmethod
    def load(cls, root: Path | str | None) -> Project:
        root = Path(root or ".").resolve()
        path = root / PROJECT_FILE
        config: dict[str, Any] = {}
        if path.exists():
            try:
                config = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"{path} is not valid TOML: {exc}", "fix the line it names and run again"
                ) from exc
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path} is not UTF-8 text", "save it as UTF-8 and run again"
                ) from exc
            from deskmove.projectfile import check

            check(config, path)
        return cls(root=root, config=config)

    @property
    def exists(self) -> bool:
        return (self.root / PROJECT_FILE).exists()

    @property
    def store_url(self) -> str:
        env = os.environ.get("DESKMOVE_DATABASE_URL")
        if env:
            return env
        url = self.config.get("store", {}).get("url")
        return url or f"sqlite:///{self.root / STORE_FILE}"

    @property
    def blob_root(self) -> Path:
        return self.root / BLOBS_DIR

    def section(self, name: str) -> dict[str, Any]:
        value = self.config.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(
                f"[{name}] in {PROJECT_FILE} must be a table",
                f"write it as [{name}] with keys below",
            )
        return value

    @property
    def support_addresses(self) -> list[str]:
        return [a.lower() for a in self.section("mail").get("support_addresses", [])]

    @property
    def support_domains(self) -> list[str]:
        return [d.lower().lstrip("@") for d in self.section("mail").get("support_domains", [])]

    def connection(self, name_or_spec: str) -> Connection:
        conns = self.section("connections")
        if name_or_spec in conns:
            entry = conns[name_or_spec]
            if not isinstance(entry, dict) or "spec" not in entry:
                raise ConfigError(
                    f"connection '{name_or_spec}' in {PROJECT_FILE} has no spec",
                    'add spec = "SCHEME:…" under [connections.' + name_or_spec + "]",
                )
            conn = parse_spec(str(entry["spec"]), name=name_or_spec, base=self.root)
            conn.options = {k: v for k, v in entry.items() if k != "spec"}
            return conn
        if ":" not in name_or_spec and conns:
            raise UsageError(
                f"no connection named '{name_or_spec}' in {PROJECT_FILE}",
                f"known connections: {', '.join(sorted(conns))}; or give a spec such as csv:PATH",
            )
        return parse_spec(name_or_spec, base=Path.cwd())


def init_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / PROJECT_FILE
    if not path.exists():
        path.write_text(TEMPLATE, encoding="utf-8")
    return path
