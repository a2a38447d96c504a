"""Known notification senders (forums, listings, form mailers, chat/social, integrations).

The shipped list is ``known_senders.yaml`` beside this module; a project adds
its own with ``[audit] known_senders = "path.yaml"`` in deskmove.toml. Entries
from the project's file come first and win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deskmove.errors import ConfigError
from deskmove.resources import load_yaml

SHIPPED = Path(__file__).with_name("known_senders.yaml")
CATEGORIES = ("forum", "listing", "form", "chat", "social", "integration")
_KEYS = {"name", "category", "kind", "addresses", "domains", "list_ids", "mailers", "needs"}


@dataclass(frozen=True)
class KnownSender:
    name: str
    category: str
    kind: str
    needs: str | None = None
    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    list_ids: tuple[str, ...] = ()
    mailers: tuple[str, ...] = ()


@dataclass
class KnownSenders:
    """Looks a message's sender, List-Id or X-Mailer up in the known list."""

    entries: list[KnownSender] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_address: dict[str, KnownSender] = {}
        self._by_domain: dict[str, KnownSender] = {}
        for e in reversed(self.entries):  # earlier entries win
            self._by_address.update(dict.fromkeys(e.addresses, e))
            self._by_domain.update(dict.fromkeys(e.domains, e))
        self._mailers = [(m.lower(), e) for e in self.entries for m in e.mailers]
        self._lists = [(li.lower(), e) for e in self.entries for li in e.list_ids]

    def match(
        self, senders: list[str], list_id: str | None = None, mailer: str | None = None
    ) -> KnownSender | None:
        """The known sender of a message: by address, then List-Id, then X-Mailer, then by
        the senders' domains (and their parent domains)."""
        return (
            self.by_address(senders)
            or self.by_list_or_mailer(list_id, mailer)
            or next((k for s in senders if (k := self.by_domain(s.rpartition("@")[2]))), None)
        )

    def by_address(self, senders: list[str]) -> KnownSender | None:
        for s in senders:
            if s in self._by_address:
                return self._by_address[s]
        return None

    def by_list_or_mailer(self, list_id: str | None, mailer: str | None) -> KnownSender | None:
        if list_id:
            lid = list_id.lower().strip("<> ")
            for suffix, e in self._lists:
                if lid == suffix or lid.endswith("." + suffix):
                    return e
        if mailer:
            low = mailer.lower()
            for needle, e in self._mailers:
                if needle in low:
                    return e
        return None

    def by_domain(self, domain: str) -> KnownSender | None:
        """A domain's known sender, or its parent domain's (``mail.shoptet.cz``)."""
        while domain:
            if domain in self._by_domain:
                return self._by_domain[domain]
            domain = domain.partition(".")[2]
        return None


def load_known_senders(extra: Path | None = None) -> KnownSenders:
    """The shipped list, with the project's own file (if any) in front."""
    entries: list[KnownSender] = []
    if extra is not None:
        entries += _read(extra)
    entries += _read(SHIPPED)
    return KnownSenders(entries)


def _read(path: Path) -> list[KnownSender]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(
            f"the known-senders file {path} does not exist",
            "fix [audit] known_senders in deskmove.toml",
        ) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid YAML: {exc}", "fix the line it names and run again"
        ) from exc
    rows = data.get("senders") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ConfigError(f"{path} has no 'senders:' list", "see known_senders.yaml for the shape")
    return [_entry(path, i, row) for i, row in enumerate(rows)]


def _entry(path: Path, i: int, row: Any) -> KnownSender:
    where = f"{path}: senders[{i}]"
    if not isinstance(row, dict):
        raise ConfigError(f"{where} is not a mapping", "write name:, category: and domains:")
    unknown = sorted(set(row) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]} is not a known key", f"valid keys: {', '.join(sorted(_KEYS))}"
        )
    if not row.get("name") or row.get("category") not in CATEGORIES:
        raise ConfigError(
            f"{where} needs a name and a category", f"category is one of: {', '.join(CATEGORIES)}"
        )

    def strings(key: str) -> tuple[str, ...]:
        value = row.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{where}.{key} must be a list", f"write {key}: [a, b]")
        return tuple(str(v).strip().lower().lstrip("@") for v in value)

    found = KnownSender(
        name=str(row["name"]),
        category=row["category"],
        kind=str(row.get("kind") or row["category"]),
        needs=row.get("needs"),
        addresses=strings("addresses"),
        domains=strings("domains"),
        list_ids=strings("list_ids"),
        mailers=tuple(str(m) for m in (row.get("mailers") or [])),
    )
    if not (found.addresses or found.domains or found.list_ids or found.mailers):
        raise ConfigError(
            f"{where} ({found.name}) matches nothing",
            "give addresses, domains, list_ids or mailers",
        )
    return found
