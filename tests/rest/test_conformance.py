"""Conformance: every spec in adapters/ is checked the same way, shipped or new.

A new helpdesk passes this suite by writing its spec (and hooks) right: the
spec validates, its hooks provide what its streams and target section use, its
mapping loads, its placeholders are ones the engine fills, and an empty account
imports cleanly (balanced, credentials only to its own host).
"""

from __future__ import annotations

import inspect
import re
import string
from pathlib import Path

import httpx
import pytest
import respx

from deskmove.config import parse_spec
from deskmove.registry import adapters, rest_specs
from deskmove.rest.adapter import RestSource, RestTarget
from deskmove.rest.hooks import load_hooks
from deskmove.rest.mapping import load_mapping
from deskmove.rest.spec import Spec, load_spec
from deskmove.sync import import_source

SPECS = rest_specs()
FILLED = {
    "id",
    "ids",
    "external_id",
    "external_tag",
    "email",
    "name",
    "domain",
    "filename",
    "ticket_id",
    "requester",
}
ENV = re.compile(r"^[A-Z][A-Z0-9_]*$")


@pytest.fixture(params=sorted(SPECS), ids=sorted(SPECS))
def spec(request) -> Spec:  # noqa: ANN001
    return load_spec(SPECS[request.param])


@pytest.fixture
def secrets(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    for a in spec.auth:
        for ref in (a.user, a.secret):
            if ref is not None:
                monkeypatch.setenv(ref.env, f"conformance-{ref.env.lower()}")


def _fields(template: str) -> set[str]:
    return {f for _t, f, _s, _c in string.Formatter().parse(template) if f}


def test_there_are_specs():
    assert {"zendesk", "freshdesk"} <= set(SPECS)


def _conn(spec: Spec) -> str:
    """An example connection: a SaaS subdomain, or a self-hosted host with one queue."""
    return f"{spec.name}://conformance/General"


def _host(spec: Spec) -> str:
    if "{host}" in spec.base_url:
        return "conformance"
    return f"conformance.{spec.base_url.split('.', 1)[1]}".rstrip("/")


def test_hooks_provide_what_the_spec_uses(spec: Spec):
    hooks = load_hooks(spec.hooks)
    for name, s in spec.streams.items():
        if s.kind == "message" and s.per_ticket and hasattr(hooks, "ticket_history"):
            assert len(inspect.signature(hooks.ticket_history).parameters) == 3
            continue
        fn = getattr(hooks, s.hook or s.kind, None)
        assert callable(fn), f"streams.{name}: hooks lack {s.hook or s.kind}()"
        assert len(inspect.signature(fn).parameters) >= 2
        for kind in s.sideloads.values():
            assert callable(getattr(hooks, kind, None))
    if spec.target is not None:
        for fn in ("organization_payload", "person_payload", "ticket_payload"):
            assert callable(getattr(hooks, fn, None)), f"hooks lack {fn}()"
        endpoints = [
            e
            for k in ("organization", "person", "ticket", "message")
            for e in getattr(spec.target, k).values()
        ]
        if any(e.job for e in endpoints):
            assert (
                spec.target.job is not None
                and callable(hooks.job_results)
                and callable(hooks.job_state)
            )
        if "append" in spec.target.message:
            assert callable(hooks.append_payload)
        if "list" in spec.target.message:
            assert callable(hooks.remote_message)


def _target_values(spec: Spec, project) -> set[str]:  # noqa: ANN001
    """Placeholders the hooks fill for the target's lookups (RT: the spec's queues)."""
    make = getattr(load_hooks(spec.hooks), "target_values", None)
    return set(make(RestTarget(parse_spec(_conn(spec)), project).ctx)) if make else set()


def test_mapping_and_placeholders(spec: Spec, project):
    load_mapping(spec.mapping)  # validated on load
    if "{host}" in spec.base_url:  # self-hosted: https unless ?tls=none
        assert _fields(spec.base_url) <= {"http", "host", "prefix"}
        assert spec.base_url.startswith("{http}://{host}")
    else:
        assert "https://" in spec.base_url.format(location="example")
        assert _fields(spec.base_url) <= {"location"}
    for a in spec.auth:
        assert all(ENV.match(r.env) for r in (a.user, a.secret) if r is not None)
    for name, s in spec.streams.items():
        assert _fields(s.path) <= ({"ticket_id"} if s.per_ticket else set()), f"streams.{name}.path"
    if spec.target is not None:
        known = FILLED | set(spec.options) | _target_values(spec, project)
        groups = [
            spec.target.organization,
            spec.target.person,
            spec.target.ticket,
            spec.target.message,
            {"upload": spec.target.upload, "job": spec.target.job},
        ]
        for group in groups:
            for ep in group.values():
                if ep is None:
                    continue
                used = _fields(ep.path) | {f for v in ep.params.values() for f in _fields(str(v))}
                assert used <= known, f"{ep.path}: unknown placeholders {used - known}"


def test_listed_as_source_and_target(spec: Spec):
    infos = {(i.scheme, i.role): i for i in adapters()}
    assert infos[(spec.name, "source")].kind == "rest" and infos[(spec.name, "source")].available
    if spec.target is not None:
        assert infos[(spec.name, "target")].available


def _empty_page(spec: Spec, request: httpx.Request) -> httpx.Response:
    for s in spec.streams.values():
        if s.kind != "message" or not s.per_ticket:
            if request.url.path == s.path:
                if s.records == "":
                    return httpx.Response(200, json=[])
                body: dict = {}
                cur = body
                *parents, last = s.records.split(".")
                for p in parents:
                    cur = cur.setdefault(p, {})
                cur[last] = []
                if s.paginator and s.paginator.stop_path:
                    body[s.paginator.stop_path] = True
                return httpx.Response(200, json=body)
    return httpx.Response(404, json={"error": "not a stream path"})


def test_an_empty_account_imports_cleanly(spec: Spec, secrets, project, store):
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().mock(side_effect=lambda r: _empty_page(spec, r))
        report = import_source(project, store, _conn(spec))
    assert report.balanced and report.read == 0
    host = _host(spec)
    assert route.call_count >= len([s for s in spec.streams.values() if not s.per_ticket]) - 1
    assert all(c.request.url.host == host for c in route.calls)
    assert all("authorization" in c.request.headers or c.request.url.params for c in route.calls)


def test_dry_run_push_of_an_empty_store_sends_nothing(spec: Spec, secrets, project, store):
    if spec.target is None:
        pytest.skip(f"{spec.name} is read-only")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().mock(return_value=httpx.Response(500))
        tgt = RestTarget(parse_spec(_conn(spec)), project)
        report = tgt.push(store, store.begin_run("export --dry-run", "x"), dry_run=True)
    assert report.dry_run and sum(report.created.values()) == 0 and route.call_count == 0


def test_source_needs_its_credentials(spec: Spec, project, monkeypatch):
    for a in spec.auth:
        for ref in (a.user, a.secret):
            if ref is not None:
                monkeypatch.delenv(ref.env, raising=False)
    src = RestSource(parse_spec(_conn(spec)), project)
    with pytest.raises(Exception) as info:
        src.check()
    assert spec.auth[0].secret.env in str(info.value)


def test_spec_files_are_utf8_and_named_by_their_scheme(spec: Spec):
    path = Path(SPECS[spec.name])
    path.read_text(encoding="utf-8")
    assert path.stem == spec.name
