"""The hooks contract: which functions a spec's hooks module must have, checked on load.

A hooks module is a plain Python module. :class:`ReadHooks` and
:class:`WriteHooks` spell out the functions by signature (for type checkers and
for authors of outside hooks); :func:`missing` says which of them a given spec
needs, from what the spec uses: a stream of kind ``person`` needs ``person()``,
``target.ticket.create`` needs ``ticket_payload()``, a job endpoint needs
``job_results()`` and ``job_state()``, and so on. ``load_spec`` and
``deskmove adapters check`` refuse a spec whose hooks module lacks one, naming
it. :class:`Hooks` wraps a checked module for the engine: the optional
functions and constants get their defaults there, so the engine never probes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from deskmove.records import GroupRec, OrgRec, PersonRec, QuarantineRec, TicketRec
    from deskmove.rest.hooks import HookContext, MessageDraft
    from deskmove.rest.pushrecords import MessagePush, OrgPush, PersonPush, TicketPush
    from deskmove.rest.spec import Spec
    from deskmove.targets.base import RemoteMessage


class ReadHooks(Protocol):
    """Native JSON -> canonical records, one function per stream kind (or ``hook:``)."""

    def person(self, raw: dict[str, Any], ctx: HookContext) -> PersonRec | None: ...
    def organization(self, raw: dict[str, Any], ctx: HookContext) -> OrgRec: ...
    def group(self, raw: dict[str, Any], ctx: HookContext) -> GroupRec: ...
    def ticket(self, raw: dict[str, Any], ctx: HookContext) -> TicketRec | QuarantineRec: ...
    def message(
        self, raw: dict[str, Any], ctx: HookContext, ticket_id: str | None = None
    ) -> list[MessageDraft]: ...


class WriteHooks(Protocol):
    """Typed push records -> the target's JSON (see :mod:`deskmove.rest.pushrecords`)."""

    def organization_payload(self, org: OrgPush, ctx: HookContext) -> dict[str, Any]: ...
    def person_payload(self, person: PersonPush, ctx: HookContext) -> dict[str, Any]: ...
    def ticket_payload(self, ticket: TicketPush, ctx: HookContext) -> dict[str, Any]: ...
    def append_payload(self, message: MessagePush, ctx: HookContext) -> dict[str, Any]: ...
    def remote_message(self, raw: dict[str, Any]) -> RemoteMessage: ...
    def job_results(self, job: dict[str, Any]) -> list[dict[str, Any]]: ...
    def job_state(self, job: dict[str, Any]) -> str: ...


def _needs(spec: Spec, module: ModuleType) -> Iterable[tuple[str, str]]:
    """(function, what in the spec needs it)."""
    history = callable(getattr(module, "ticket_history", None))
    for name, s in spec.streams.items():
        if not (history and s.kind == "message" and s.per_ticket):  # ticket_history reads those
            yield s.hook or s.kind, f"streams.{name}"
        for key, kind in s.sideloads.items():
            yield kind, f"streams.{name}.sideloads.{key}"
    t = spec.target
    if t is None:
        return
    # the write side reads back what a lookup found with the read side's converters
    for kind in ("organization", "person", "group"):
        if any(n.startswith("match") for n in getattr(t, kind)):
            yield kind, f"target.{kind}.match…"
    for kind in ("organization", "person", "ticket", "group"):
        if "create" in getattr(t, kind):
            yield f"{kind}_payload", f"target.{kind}.create"
    for name in ("append", "append_internal"):
        if name in t.message:
            yield "append_payload", f"target.message.{name}"
    if "list" in t.message:
        yield "remote_message", "target.message.list"
    if "followup" in t.ticket:
        yield "followup_payload", "target.ticket.followup"
    if "update" in t.ticket:
        yield "ticket_fields", "target.ticket.update"
        yield "update_payload", "target.ticket.update"
    if t.fields is not None:
        yield "field_values", "target.fields"
    endpoints = [
        e
        for k in ("organization", "person", "ticket", "group", "message")
        for e in getattr(t, k).values()
    ]
    if any(e.job for e in endpoints):
        yield "job_results", "a job endpoint (job: true)"
        yield "job_state", "a job endpoint (job: true)"


def missing(spec: Spec, module: ModuleType) -> list[str]:
    """The functions ``spec`` needs that ``module`` lacks, as "name() (for what)"."""
    out: dict[str, str] = {}
    for fn, why in _needs(spec, module):
        if not callable(getattr(module, fn, None)) and fn not in out:
            out[fn] = why
    return [f"{fn}() (for {why})" for fn, why in out.items()]


def _no_notes(ctx: HookContext) -> list[str]:
    return []


def _no_messages(raw: dict[str, Any], ctx: HookContext) -> list[MessageDraft]:
    return []


class Hooks:
    """A checked hooks module with the optional parts filled in.

    Optional: ``push_notes(ctx)``, ``ticket_messages(raw, ctx)`` (messages a ticket
    record carries itself), ``ticket_history(records, ctx, ticket_id)`` (every per-ticket
    message stream of one ticket at once, instead of one function per stream), ``INLINE_MESSAGES`` (how many messages go in with a
    created ticket; None: all), ``REOPEN_FROM``/``FOLLOWUP_FROM`` (target statuses
    a reply reopens, or that need a follow-up ticket), ``reopen(payload)``,
    ``ATTACHMENTS`` ("upload": uploaded first, a token in the payload;
    "multipart": sent with the create call; None: not supported) and
    ``ATTACHMENT_LIMIT`` (bytes per ticket), ``stream_values(ctx, client)`` (values for
    stream placeholders), ``ticket_fields(ticket, ctx)`` (what a delta push keeps in step;
    needed with ``target.ticket.update``) and ``remote_description(raw)`` (a ticket's own
    body as its first message, for verify). For targets like RT: ``target_values(ctx)``
    (placeholders for the target's lookups), ``find_agent(email, ctx)`` (an agent looked up
    by e-mail, where the target cannot list them), ``ATTACHMENT_PART`` (the multipart field
    of a file), ``REPLIES_CHANGE_STATUS`` (an appended reply changes the ticket's status, so
    its fields are sent again after), ``listed_id(raw)`` (the message id of a
    ``message.find`` record), ``remote_record(msg)`` (verify: a message read back through
    the spec's read side, when there is no ``message.list``) and ``STATUS_FIELD``.
    """

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.push_notes: Callable[[HookContext], list[str]] = getattr(
            module, "push_notes", _no_notes
        )
        self.ticket_messages = getattr(module, "ticket_messages", _no_messages)
        # optional functions the engine calls only when the module has them (None: it has not)
        self.ticket_history: Callable[..., list[MessageDraft]] | None = getattr(
            module, "ticket_history", None
        )
        self.stream_values: Callable[..., dict[str, Any]] | None = getattr(
            module, "stream_values", None
        )
        self.ticket_fields: Callable[..., dict[str, Any]] | None = getattr(
            module, "ticket_fields", None
        )
        self.remote_description: Callable[..., RemoteMessage | None] | None = getattr(
            module, "remote_description", None
        )
        self.inline_messages: int | None = getattr(module, "INLINE_MESSAGES", None)
        self.reopen_from: frozenset[str] = frozenset(getattr(module, "REOPEN_FROM", ()))
        self.followup_from: frozenset[str] = frozenset(getattr(module, "FOLLOWUP_FROM", ()))
        self.attachments: str | None = getattr(module, "ATTACHMENTS", "upload")
        self.attachment_limit: int | None = getattr(module, "ATTACHMENT_LIMIT", None)
        self.can_reopen = hasattr(module, "REOPEN_FROM")
        self.target_values: Callable[[HookContext], dict[str, Any]] | None = getattr(
            module, "target_values", None
        )
        self.remote_record: Callable[..., RemoteMessage] | None = getattr(
            module, "remote_record", None
        )
        self.attachment_part: str = getattr(module, "ATTACHMENT_PART", "attachments[]")
        self.replies_change_status: bool = bool(getattr(module, "REPLIES_CHANGE_STATUS", False))
        self.status_field: str = getattr(module, "STATUS_FIELD", "status")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def same_message(self, raw: dict[str, Any], payload: dict[str, Any]) -> bool:
        """A target message is the one an interrupted append made (False: cannot tell)."""
        fn = getattr(self.module, "same_message", None)
        return bool(fn(raw, payload)) if fn is not None else False

    def listed_id(self, raw: dict[str, Any]) -> str:
        fn = getattr(self.module, "listed_id", None)
        return str(fn(raw) if fn is not None else raw["id"])

    def reopen(self, payload: dict[str, Any]) -> dict[str, Any]:
        fn = getattr(self.module, "reopen", None)
        return fn(payload) if fn is not None else payload
