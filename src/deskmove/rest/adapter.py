"""``RestSource`` and ``RestTarget``: every ``adapters/<scheme>.yaml`` runs through these."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from deskmove.errors import ConfigError, UsageError
from deskmove.records import Batch
from deskmove.rest.hooks import HookContext, load_hooks
from deskmove.rest.hooks.contract import Hooks
from deskmove.rest.http import RestClient, base_url_for
from deskmove.rest.mapping import Mapping, load_mapping
from deskmove.rest.spec import ENGINE_OPTIONS, Spec, StreamSpec, load_spec
from deskmove.sources.base import Source
from deskmove.targets.base import PushReport, RemoteTicket, Target

if TYPE_CHECKING:
    from deskmove.config import Connection, Project
    from deskmove.store import Store, TicketScope


def spec_for(scheme: str) -> Spec:
    from deskmove.registry import rest_specs

    specs = rest_specs()
    if scheme not in specs:
        raise UsageError(f"there is no REST spec for '{scheme}'", "see `deskmove adapters list`")
    return load_spec(specs[scheme])


class RestAdapter:
    """What the source and target share: spec, hooks, mapping, client."""

    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(
        self,
        conn: Connection,
        *,
        spec: Spec | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.spec = spec or spec_for(conn.scheme)
        if not conn.location and not conn.option("base_url"):
            raise UsageError(
                f"'{conn.spec}' names no account",
                f"write it as {conn.scheme}://SUBDOMAIN (or add ?base_url=URL)",
            )
        self._transport = transport
        self._sleep = sleep or type(self).sleep
        self.hooks = Hooks(load_hooks(self.spec.hooks))
        self.mapping: Mapping = load_mapping(conn.option("mapping") or self.spec.mapping)
        self.ctx = HookContext(
            self.spec, conn, self.mapping, base_url_for(self.spec, conn), options=dict(conn.params)
        )

    @cached_property
    def client(self) -> RestClient:
        """The connection's client; the hooks' ``prepare_client`` may log in first (RT)."""
        client = RestClient(self.spec, self.ctx.conn, transport=self._transport, sleep=self._sleep)
        prepare = getattr(self.hooks, "prepare_client", None)
        if prepare is not None:
            prepare(client, self.ctx)
        return client

    def option_names(self) -> set[str]:
        """The engine's own options and the ones the spec declares (``options:``)."""
        return set(ENGINE_OPTIONS) | set(self.spec.options)

    def option(self, key: str) -> str:
        return str(self.ctx.conn.option(key, self.spec.options.get(key, "")))

    def streams(self) -> dict[str, StreamSpec]:
        """The spec's streams this connection uses (``only_if`` against its options)."""
        return {
            name: s
            for name, s in self.spec.streams.items()
            if all(self.option(k) == v for k, v in s.only_if.items())
        }

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()


class RestSource(Source, RestAdapter):
    scheme = "rest"
    option_names = RestAdapter.option_names  # the spec's options, not the code adapters' list
    description = "a REST helpdesk described by adapters/<scheme>.yaml"
    example = "zendesk://SUBDOMAIN"

    def __init__(self, conn: Connection, project: Project, **kw: Any) -> None:
        Source.__init__(self, conn, project)
        RestAdapter.__init__(self, conn, **kw)
        self.description = self.spec.description
        self.notes = self.ctx.notes

    def check(self) -> None:
        _ = self.client  # resolves the credentials: a missing one fails before the run

    def batches(self, state: dict[str, dict[str, Any]], store: Store) -> Iterator[Batch]:
        from deskmove.rest.source import SourceRun, prefetched

        try:
            yield from prefetched(lambda: SourceRun(self, state, store).batches())
        finally:
            self.close()

    def retry(self, items: list[Any], store: Store) -> Iterator[tuple[list[int], Batch]]:
        """Read quarantined items again, one by one: a ticket (deleted, or gone while its
        messages were read) through the ticket stream's ``lookup``, imported with its
        messages when the account has it again; an attachment downloaded again and added
        to its stored message. A spec without a ticket lookup refuses before any work."""
        from deskmove.rest.source import fetch_again, quarantined_ticket, ticket_stream

        tickets = [i for i in items if quarantined_ticket(i) is not None]
        if tickets and ticket_stream(self) is None:
            raise UsageError(
                f"item #{tickets[0].id} ({tickets[0].native_ref}) cannot be read again on its "
                f"own: the {self.spec.name} spec has no ticket lookup",
                f"import {self.conn.name} again (a restored ticket comes back with it), or "
                f"review it and use `deskmove quarantine drop {tickets[0].id} --why TEXT`",
            )
        try:
            for item in items:
                yield [item.id], fetch_again(self, store, item)
        finally:
            self.close()


class RestTarget(Target, RestAdapter):
    scheme = "rest"
    option_names = RestAdapter.option_names  # the spec's options, not the code adapters' list
    description = "a REST helpdesk described by adapters/<scheme>.yaml"
    example = "zendesk://SUBDOMAIN"

    def __init__(self, conn: Connection, project: Project, **kw: Any) -> None:
        Target.__init__(self, conn, project)
        RestAdapter.__init__(self, conn, **kw)
        if self.spec.target is None:
            raise ConfigError(
                f"the {self.spec.name} spec has no target section",
                f"{self.spec.name} can be read from, not written to",
            )

    def check(self) -> None:
        """Credentials and reachability, with one cheap authenticated read (who am I), so a
        wrong token fails before anything is imported or pushed."""
        _ = self.client
        assert self.spec.target is not None
        ep = self.spec.target.person.get("me")
        if ep is not None and self.me is None:
            from deskmove.rest.paginate import dig

            _resp, data = self.client.json(ep.method, ep.path)
            found = dig(data, ep.records) if ep.records else data
            self.me = str(found) if found not in (None, "") else ""

    me: str | None = None  # the API user's id, once check() asked

    def check_config(self) -> None:
        _ = self.client  # the spec, the options and the credentials, no request

    def carried(self) -> frozenset[str]:
        """What a push through this spec writes: ticket fields and people, bodies and
        internal notes; original times and authors when the API lets them be set
        (``keeps_timestamps``, ``keeps_authors``); attachments with an upload endpoint
        or sent with the create call (the hooks' ``ATTACHMENTS = "multipart"``)."""
        t = self.spec.target
        assert t is not None
        kept = {"ticket.fields", "ticket.people", "message.bodies", "message.internal"}
        if t.keeps_timestamps:
            kept |= {"ticket.times", "message.time"}
        if t.keeps_authors:
            kept.add("message.author")
        if t.upload is not None or self.hooks.attachments == "multipart":
            kept.add("attachments")  # uploaded first, or sent with the create call
        return frozenset(kept | self._sent_by_payloads())

    def _sent_by_payloads(self) -> set[str]:
        """Phones and organization domains, when the hooks' payloads send them: asked of
        the payload functions with a record that has them, so the plan follows the code."""
        from deskmove.rest.pushrecords import OrgPush, PersonPush

        probes = {
            "person.phone": ("person_payload", PersonPush(0, "p", "P", "p@x.invalid", "+0 0")),
            "organization.domains": ("organization_payload", OrgPush(0, "o", "O", ["x.invalid"])),
        }
        mark = {"person.phone": "+0 0", "organization.domains": "x.invalid"}
        out = set()
        for key, (fn_name, record) in probes.items():
            fn = getattr(self.hooks.module, fn_name, None)
            try:
                payload = fn(record, self.ctx) if fn is not None else None
            except (KeyError, LookupError, TypeError, ValueError, AttributeError):
                payload = None  # a payload that needs more than the probe has: not claimed
            if payload is not None and mark[key] in repr(payload):
                out.add(key)
        return out

    def push(
        self,
        store: Store,
        run_id: int,
        *,
        dry_run: bool = False,
        progress: bool = False,
        only: TicketScope | None = None,
    ) -> PushReport:
        from deskmove.rest.target import Push

        try:
            return Push(self, store, run_id, dry_run=dry_run, only=only, progress=progress).run()
        finally:
            self.close()

    def fetch_ticket(self, native_id: str) -> RemoteTicket | None:
        from deskmove.rest.target import fetch_ticket

        return fetch_ticket(self, native_id)

    def delete(self, kind: str, native_id: str) -> None:
        from deskmove.rest.target import delete

        delete(self, kind, native_id)
