"""The calls a REST push makes besides creating: endpoints, lookups, the target's indexes.

Everything here is read-only on the target except :meth:`Endpoints.call` with a
create endpoint, so ``--dry-run`` runs the same lookups a real push does.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deskmove.errors import DeskmoveError
from deskmove.rest.http import RemoteFailure
from deskmove.rest.paginate import pick
from deskmove.rest.streams import read_stream

if TYPE_CHECKING:
    from deskmove.rest.adapter import RestTarget
    from deskmove.rest.spec import EndpointSpec


def fmt(template: Any, values: dict[str, Any]) -> str:
    return str(template).format(**values)


def placeholders(template: str) -> set[str]:
    return {f for _t, f, _s, _c in string.Formatter().parse(template) if f}


class Endpoints:
    """Calls the target section's endpoints with {placeholders} filled in."""

    def __init__(self, adapter: RestTarget) -> None:
        self.adapter = adapter
        assert adapter.spec.target is not None
        self.target = adapter.spec.target

    def get(self, kind: str, name: str) -> EndpointSpec | None:
        return getattr(self.target, kind).get(name)

    def lookups(self, kind: str, *, dry_run: bool) -> list[EndpointSpec]:
        """The ``match_*`` lookups of a kind, in the spec's order."""
        return [
            ep
            for name, ep in getattr(self.target, kind).items()
            if name.startswith("match") and (dry_run or not ep.dry_run_only)
        ]

    def call(
        self,
        ep: EndpointSpec,
        values: dict[str, Any],
        body: Any = None,
        *,
        once: bool = False,
        **kw: Any,
    ) -> Any:
        """The endpoint's answer; with ``id_from: location``, ``{"id": …, "body": answer}``.

        ``once``: the call creates or appends, and is not repeated blindly when its answer
        is lost (see :class:`deskmove.errors.OutcomeUnknown`)."""
        params = {k: fmt(v, values) for k, v in ep.params.items()}
        if body is not None:
            kw["json"] = body
        resp, data = self.adapter.client.json(
            ep.method, fmt(ep.path, values), params=params, once=once, **kw
        )
        if ep.id_from == "location":
            where = resp.headers.get("location", "").rstrip("/")
            return {"id": where.rsplit("/", 1)[-1] or None, "body": data}
        return data

    @staticmethod
    def asks(ep: EndpointSpec) -> set[str]:
        """The values an endpoint's path and parameters are filled with."""
        return placeholders(ep.path) | {f for v in ep.params.values() for f in placeholders(str(v))}

    def applies(self, ep: EndpointSpec, values: dict[str, Any]) -> bool:
        """A lookup is sent only when every value it asks for has one."""
        return all(values.get(f) not in (None, "") for f in self.asks(ep))

    def records(self, ep: EndpointSpec, values: dict[str, Any]) -> list[dict[str, Any]]:
        """A lookup's records; one whose placeholders have no value is not sent."""
        if not self.applies(ep, values):
            return []
        found = pick(self.call(ep, values), ep.records) or []
        return [r for r in (found if isinstance(found, list) else [found]) if isinstance(r, dict)]


@dataclass
class TargetIndex:
    """What the target already has that a push needs whole: agents and groups (few)."""

    agents: dict[str, str | None] = field(default_factory=dict)  # e-mail (casefolded) -> agent id
    groups: dict[str, str] = field(default_factory=dict)  # name (casefolded) -> group id
    allowed: dict[str, set[str]] = field(default_factory=dict)  # kind -> native values
    notes: list[str] = field(default_factory=list)
    # a target that cannot list its agents (RT) has each address looked up once
    lookup: Callable[[str], str | None] | None = None

    def agent(self, email: str | None) -> str | None:
        if not email:
            return None
        key = email.casefold()
        if key not in self.agents and self.lookup is not None:
            self.agents[key] = self.lookup(email)
        return self.agents.get(key)


def read_index(adapter: RestTarget) -> TargetIndex:
    """List the target's agents and groups and read its field values (all GETs)."""
    index = TargetIndex()
    target = adapter.spec.target
    assert target is not None
    hooks, ctx = adapter.hooks, adapter.ctx
    find_agent = getattr(hooks.module, "find_agent", None)  # find_agent(email, ctx)
    if find_agent is not None:
        index.lookup = lambda email: find_agent(email, ctx)
    for name, stream in target.lists.items():
        try:
            for page in read_stream(adapter.client, stream, None):
                for raw in page.records:
                    _index_one(index, name, hooks, raw, ctx)
        except DeskmoveError as exc:
            if not (isinstance(exc, RemoteFailure) and exc.status in (403, 404)):
                raise
            index.notes.append(f"cannot list the target's {name} ({exc.status}): none matched")
    if target.fields is not None:
        body = Endpoints(adapter).call(target.fields, {})
        index.allowed = {k: {str(v) for v in vs} for k, vs in hooks.field_values(body).items()}
    return index


def _index_one(index: TargetIndex, name: str, hooks: Any, raw: dict[str, Any], ctx: Any) -> None:
    if name.startswith("agents"):
        rec = hooks.person(raw, ctx)
        if rec is not None and rec.role == "agent":
            for email in rec.emails:
                index.agents.setdefault(email.casefold(), str(raw["id"]))
    elif name.startswith("groups"):
        rec = hooks.group(raw, ctx)
        index.groups.setdefault(rec.name.strip().casefold(), str(raw["id"]))


def same_person(rec: Any, email: str | None) -> bool:
    return bool(email) and email.casefold() in {e.casefold() for e in rec.emails}


def same_name(rec: Any, name: str | None) -> bool:
    return bool(name) and (rec.name or "").strip().casefold() == name.strip().casefold()
