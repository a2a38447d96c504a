"""Hooks: what a spec's YAML should not express (record shapes, write payloads).

A spec names its hooks module (``hooks: deskmove.rest.hooks.zendesk``). The
engine calls, by stream kind, ``person(raw, ctx)``, ``organization(raw, ctx)``,
``group(raw, ctx)``, ``ticket(raw, ctx)`` and ``message(raw, ctx)``; the write
side calls the ``*_payload`` functions its target section needs, with the typed
records of :mod:`deskmove.rest.pushrecords`. Which functions a spec needs is
spelled out in :mod:`deskmove.rest.hooks.contract` and checked when the spec is
loaded. Outside packages can ship a hooks module and name it the same way.

Optional read-side hooks: ``stream_values(ctx, client)`` returns placeholders
for stream params and incremental templates (and ``format_start`` for
``start_format: hook``); ``ticket_history(records_by_stream, ctx, ticket_id)``
gets every per-ticket message stream's records of one ticket at once, when a
message is made of several listings (RT: transactions and attachments).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from deskmove.errors import ConfigError
from deskmove.records import GroupRec, MessageRec, PersonRef
from deskmove.timestamps import parse_instant, utc_iso

if TYPE_CHECKING:
    from deskmove.config import Connection
    from deskmove.rest.mapping import Mapping
    from deskmove.rest.spec import Spec


@dataclass
class RemoteFile:
    """An attachment to download into the blob store."""

    url: str
    filename: str | None = None
    content_type: str = "application/octet-stream"
    size: int | None = None
    inline: bool = False
    content_id: str | None = None
    json_field: str | None = None  # the URL answers JSON with the bytes base64-encoded here


@dataclass
class MessageDraft:
    """A message for one ticket, with the files still to download."""

    ticket_id: str
    message: MessageRec
    files: list[RemoteFile] = field(default_factory=list)


@dataclass
class HookContext:
    spec: Spec
    conn: Connection
    mapping: Mapping
    base_url: str
    notes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    agents: set[str] = field(default_factory=set)  # native ids of people known to be agents
    client: Any = None  # the run's RestClient, for hooks that must look something up (RT)
    scratch: dict[str, Any] = field(default_factory=dict)  # a hooks module's per-run memory

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def load_hooks(dotted: str) -> ModuleType:
    try:
        return importlib.import_module(dotted)
    except ImportError as exc:
        raise ConfigError(
            f"the hooks module '{dotted}' cannot be imported: {exc}",
            "install the package that provides it, or fix 'hooks' in the spec",
        ) from None


# The hooks' names for deskmove.timestamps' readers: ISO 8601 or unix seconds, and back.
parse_time = parse_instant
iso = utc_iso


# -- read-side helpers both built-in helpdesks share ------------------------------------


def native_id(value: Any) -> str | None:
    """A vendor id as the store keeps it (a string), or None."""
    return str(value) if value is not None else None


def group(raw: dict[str, Any], ctx: HookContext) -> GroupRec:
    return GroupRec(str(raw["id"]), raw.get("name") or f"group {raw['id']}")


def user_ref(user_id: Any, ctx: HookContext) -> PersonRef | None:
    """A person by the vendor's user id; agents known from the users stream are marked."""
    if user_id is None:
        return None
    nid = str(user_id)
    return PersonRef(native_id=nid, role="agent" if nid in ctx.agents else None)
