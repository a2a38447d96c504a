"""The REST adapter spec: what ``adapters/<name>.yaml`` may say, validated on load.

A spec is small on purpose: a base URL, how to authenticate, how the API tells
its rate limits, a few streams (path, records key, paginator, incremental
cursor), the write endpoints, and the name of a hooks module that turns native
JSON into canonical records and back. Anything a bad key holds is reported with
its path (``streams.tickets.paginator.type``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deskmove.errors import ConfigError
from deskmove.resources import load_yaml
from deskmove.rest.paginate import PAGINATORS

# The ?key=value options the engine reads for every spec (a spec adds its own `options:`);
# here rather than in adapter.py so deskmove.toml is checked without loading HTTP.
ENGINE_OPTIONS = (
    "base_url",
    "tls",
    "timeout",
    "requests_per_minute",
    "mapping",
    "external_id_prefix",
    "fallback_author_id",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Model):
    """A secret read from the environment: ``env`` by default, or the connection's ``key``."""

    env: str
    key: str | None = None  # the connection option in deskmove.toml that may rename the variable


class AuthSpec(_Model):
    type: Literal["api_token", "bearer", "basic", "api_key"]
    user: SecretRef | None = None  # api_token: the email; basic: the user name
    secret: SecretRef
    password: str | None = None  # basic auth with a fixed password (Freshdesk: "X")
    header: str | None = None  # api_key: the header that carries it
    prefix: str = ""  # api_key: written before the key in the header (RT: "token ")
    query: str | None = None  # api_key: or the query parameter that carries it

    @model_validator(mode="after")
    def _complete(self) -> AuthSpec:
        if self.type == "api_token" and self.user is None:
            raise ValueError("api_token auth needs 'user' (the email variable)")
        if self.type == "api_key" and not (self.header or self.query):
            raise ValueError("api_key auth needs 'header' or 'query'")
        return self


class RateLimitSpec(_Model):
    remaining_headers: list[str] = Field(default_factory=list)
    reset_headers: list[str] = Field(default_factory=list)  # seconds until the window resets
    window_seconds: float = 60.0
    requests_per_minute: int | None = None  # a ceiling of our own, below the API's
    min_remaining: int = 1  # pause when the remaining quota drops to this
    concurrency: int = Field(1, ge=1, le=16)  # requests at once, where the API allows it


class RetrySpec(_Model):
    attempts: int = Field(8, ge=1)
    base_wait: float = Field(1.0, ge=0)
    max_wait: float = Field(300.0, ge=0)  # our own back-off's longest pause
    max_retry_after: float = Field(3600.0, ge=0)  # a longer Retry-After stops the run instead
    timeout: float = Field(60.0, gt=0)


class PaginatorSpec(_Model):
    type: str
    cursor_param: str | None = None  # cursor: the request parameter
    cursor_path: str | None = None  # cursor: where the next token is in the body
    next_path: str | None = None  # next_url: where the next URL is in the body
    stop_path: str | None = None  # true there means the last page (end_of_stream)
    has_more_path: str | None = None  # false there means the last page (meta.has_more)
    page_param: str | None = None  # page_number
    offset_param: str | None = None  # offset
    size_param: str | None = None
    size: int | None = None
    max_pages: int | None = None  # the API's page cap (Freshdesk: 300)

    @model_validator(mode="after")
    def _known(self) -> PaginatorSpec:
        if self.type not in PAGINATORS:
            raise ValueError(
                f"unknown paginator '{self.type}'; valid: {', '.join(sorted(PAGINATORS))}"
            )
        PAGINATORS[self.type].validate_spec(self)
        return self


class PaceSpec(_Model):
    """Endpoints with a limit of their own: requests in one ``lane`` go ``per_minute``."""

    lane: str
    per_minute: float = Field(gt=0)


class IncrementalSpec(_Model):
    type: Literal["cursor", "time"]
    start_param: str  # the parameter of the first request (start_time, updated_since)
    start_format: Literal["unix", "iso", "hook"] = "unix"  # hook: the hooks' format_start
    template: str | None = None  # the start_param's value, with {start} and the hooks' values
    page_on_ties: bool = False  # page_number: a full window of one timestamp pages on
    initial: str | int = 0  # where a first run starts
    cursor_param: str | None = None  # cursor: the parameter that resumes
    cursor_path: str | None = None  # cursor: where the resume token is in the body
    end_path: str | None = None  # time: the body field that says where this page ended
    record_field: str | None = None  # time: the record's own timestamp field
    id_field: str = "id"
    lookback_seconds: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> IncrementalSpec:
        if self.type == "cursor" and not (self.cursor_param and self.cursor_path):
            raise ValueError("cursor incremental needs 'cursor_param' and 'cursor_path'")
        if self.type == "time" and not self.record_field:
            raise ValueError("time incremental needs 'record_field'")
        return self


class EndpointSpec(_Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str
    params: dict[str, Any] = Field(default_factory=dict)
    records: str = ""  # for lookups: the body key that holds the list
    wrap: str | None = None  # bulk: {wrap: [items]}; single: {wrap: item}
    batch: int = Field(1, ge=1, le=1000)
    job: bool = False  # the response is a job to poll
    # a lookup run before creating only by --dry-run; a push asks it for what the target
    # refused to create (a bulk create matches by itself, or refuses a taken unique value)
    dry_run_only: bool = False
    # "location": the new object's id is the last segment of the Location header (RT answers
    # a Correspond with a list of messages, and names the transaction it made only there)
    id_from: Literal["body", "location"] = "body"
    by_external_id: bool = False  # a find whose query itself matches the external id exactly


class StreamSpec(_Model):
    kind: Literal["person", "organization", "group", "ticket", "message"]
    path: str
    records: str = ""  # the body key that holds the list ("" for a bare list)
    params: dict[str, Any] = Field(default_factory=dict)
    paginator: PaginatorSpec | None = None
    incremental: IncrementalSpec | None = None
    per_ticket: bool = False  # path has {ticket_id}: fetched after each ticket page
    hook: str | None = None  # the hooks function that converts one record (default: the kind)
    role: str | None = None  # people: "agent" for an agents stream
    optional: bool = False  # a 403/404 here skips the stream with a note
    sideloads: dict[str, Literal["person", "organization", "group"]] = Field(default_factory=dict)
    lookup: EndpointSpec | None = None  # tickets: fetch some by id ({ids}), for late messages
    joins: dict[str, str] = Field(default_factory=dict)  # side-loaded list -> its record id field
    only_if: dict[str, str] = Field(default_factory=dict)  # used when these options match
    pace: PaceSpec | None = None  # this endpoint's own rate limit (shared by its lane)

    @model_validator(mode="after")
    def _per_ticket(self) -> StreamSpec:
        if self.per_ticket and "{ticket_id}" not in self.path:
            raise ValueError("a per_ticket stream's path must contain {ticket_id}")
        return self


class TargetSpec(_Model):
    """The write side. Per kind: ``create``, ``find`` (by external id, after a crash),
    ``match_*`` lookups tried in order before creating, ``delete``, …; messages:
    ``append``, ``append_internal`` (internal notes, where the target has an endpoint of
    their own: RT's Comment beside its Correspond), ``list`` (verify) and ``find``
    (a ticket's newest messages, to find an interrupted append); ``lists`` read
    the target's agents (``agents*``) and groups (``groups``) once per push; ``fields``
    reads the values the account accepts (its statuses, types)."""

    organization: dict[str, EndpointSpec] = Field(default_factory=dict)
    person: dict[str, EndpointSpec] = Field(default_factory=dict)
    group: dict[str, EndpointSpec] = Field(default_factory=dict)
    ticket: dict[str, EndpointSpec] = Field(default_factory=dict)
    message: dict[str, EndpointSpec] = Field(default_factory=dict)
    lists: dict[str, StreamSpec] = Field(default_factory=dict)
    fields: EndpointSpec | None = None
    upload: EndpointSpec | None = None
    job: EndpointSpec | None = None
    import_tag: str = "deskmove-import"
    keeps_timestamps: bool = True  # false: originals are written into the body
    keeps_authors: bool = True


class Spec(_Model):
    name: str
    description: str = ""
    base_url: str  # may use {location}: the subdomain/domain of the connection spec
    auth: list[AuthSpec] = Field(min_length=1)  # the first whose secrets are set wins
    hooks: str
    mapping: str | None = None
    credential_hosts: list[str] = Field(default_factory=list)  # beyond the base URL's host
    options: dict[str, str] = Field(default_factory=dict)  # defaults for ?key=value options
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    streams: dict[str, StreamSpec]
    target: TargetSpec | None = None

    @model_validator(mode="after")
    def _streams(self) -> Spec:
        if sum(s.kind == "ticket" for s in self.streams.values()) != 1:
            raise ValueError("a spec needs exactly one stream of kind 'ticket'")
        for name, s in self.streams.items():
            unknown = sorted(set(s.only_if) - set(self.options))
            if unknown:
                raise ValueError(f"streams.{name}.only_if names '{unknown[0]}', not in options")
        return self


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_spec_data(data: Any, origin: str) -> Spec:
    """Validate already-parsed YAML; errors name the path of the bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a spec must be a mapping", "see adapters/zendesk.yaml")
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{_where(err['loc'])}: {msg}")
        which = "that key" if len(problems) == 1 else f"these {len(problems)} keys"
        raise ConfigError(
            f"{origin}: {'; '.join(problems)}", f"fix {which} and run `deskmove adapters check`"
        ) from None


def check_hooks(spec: Spec, origin: str) -> None:
    """The spec's hooks module has every function the spec needs (see hooks/contract.py)."""
    from deskmove.rest.hooks import load_hooks
    from deskmove.rest.hooks.contract import missing

    lacking = missing(spec, load_hooks(spec.hooks))
    if lacking:
        more = (
            f" (and {len(lacking) - 1} more: {', '.join(lacking[1:])})" if len(lacking) > 1 else ""
        )
        raise ConfigError(
            f"{origin}: the hooks module '{spec.hooks}' has no {lacking[0]}{more}",
            "add the function to the hooks module, or fix 'hooks' in the spec",
        )


def load_spec(path: Path | str) -> Spec:
    """Read and validate one spec file, and check its hooks module against it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such spec file", "give the path of a YAML spec") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}", "save it as UTF-8 YAML") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{line}", "fix the YAML syntax") from None
    spec = parse_spec_data(data, str(path))
    check_hooks(spec, str(path))
    return spec
