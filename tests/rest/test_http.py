"""The client: retries, rate limits, pacing, errors, redaction, credentials per host."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from deskmove.config import parse_spec
from deskmove.errors import (
    AuthError,
    FatalRemoteError,
    MissingSecret,
    RemoteUnavailable,
    RetriableError,
)
from deskmove.rest.adapter import spec_for
from deskmove.rest.http import RemoteFailure, RestClient
from deskmove.rest.spec import AuthSpec, SecretRef

URL = "https://acme.zendesk.com/api/v2/groups.json"
OK = httpx.Response(200, json={"groups": []})
TOKEN = "s3cr3t-t0ken-value"


@pytest.fixture
def client(creds):  # noqa: ANN001
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:  # recorded, and the clock moves on
        slept.append(seconds)
        now[0] += seconds

    c = RestClient(
        spec_for("zendesk"), parse_spec("zendesk://acme"), sleep=sleep, clock=lambda: now[0]
    )
    c.slept = slept  # type: ignore[attr-defined]
    yield c
    c.close()


@respx.mock
def test_429_storm_waits_for_retry_after(client):
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"})] * 5 + [OK]
    )
    _r, body = client.json("GET", URL)
    assert body == {"groups": []} and route.call_count == 6
    assert client.slept == [7.0] * 5 and client.stats["429"] == 5


@respx.mock
def test_429_without_retry_after_backs_off_exponentially(client):
    respx.get(URL).mock(side_effect=[httpx.Response(429)] * 4 + [OK])
    client.json("GET", URL)
    assert client.slept == [1.0, 2.0, 4.0, 8.0]


@respx.mock
def test_5xx_burst_is_retried(client):
    codes = [500, 502, 503, 504]
    respx.get(URL).mock(side_effect=[httpx.Response(c) for c in codes] + [OK])
    client.json("GET", URL)
    assert client.stats["requests"] == 5


@respx.mock
def test_409_conflict_fails_at_once(client):
    """A duplicate (Freshdesk answers 409 for a contact whose e-mail exists) is not transient."""
    body = {
        "description": "Validation failed",
        "errors": [{"field": "email", "code": "duplicate_value"}],
    }
    route = respx.post(URL).mock(return_value=httpx.Response(409, json=body))
    with pytest.raises(RemoteFailure) as info:
        client.json("POST", URL, json={"email": "a@example.com"})
    assert info.value.status == 409 and route.call_count == 1 and client.slept == []


@respx.mock
def test_timeouts_are_retried_then_reported(client):
    respx.get(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(RetriableError, match="still failing after 8 attempts: timed out"):
        client.json("GET", URL)
    assert client.stats["timeouts"] == 8


@respx.mock
def test_unreachable_server_is_remote_unavailable(client):
    respx.get(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(RemoteUnavailable):
        client.json("GET", URL)


@respx.mock
def test_truncated_json_is_retried(client):
    respx.get(URL).mock(side_effect=[httpx.Response(200, content=b'{"groups": [{"id": 1, "na'), OK])
    _r, body = client.json("GET", URL)
    assert body == {"groups": []} and client.stats["bad_json"] == 1


@respx.mock
def test_401_is_an_auth_error_naming_the_variables_not_the_secret(client):
    respx.get(URL).mock(
        return_value=httpx.Response(401, json={"error": "Couldn't authenticate you"})
    )
    with pytest.raises(AuthError) as info:
        client.json("GET", URL)
    text = str(info.value)
    assert "refused the credentials (401)" in text and "ZENDESK_API_TOKEN" in text
    assert TOKEN not in text and client.stats["requests"] == 1


@respx.mock
def test_other_4xx_fails_at_once_with_a_redacted_message(client):
    respx.get(url__startswith=URL).mock(return_value=httpx.Response(422, text=f"bad token {TOKEN}"))
    with pytest.raises(FatalRemoteError) as info:
        client.json("GET", URL, params={"api_token": "plain-secret-in-url"})
    text = str(info.value)
    assert "422" in text and TOKEN not in text and "plain-secret-in-url" not in text
    assert client.stats["requests"] == 1


@respx.mock
def test_paces_from_remaining_quota_before_the_limit(client):
    low = httpx.Response(
        200, json={"groups": []}, headers={"ratelimit-remaining": "1", "ratelimit-reset": "13"}
    )
    respx.get(URL).mock(side_effect=[low, OK])
    client.json("GET", URL)
    client.json("GET", URL)
    assert client.slept == [13.0] and client.stats["429"] == 0


@respx.mock
def test_freshdesk_remaining_header_is_read(creds, monkeypatch):
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-key-123456")
    slept: list[float] = []
    c = RestClient(spec_for("freshdesk"), parse_spec("freshdesk://acme"), sleep=slept.append)
    low = httpx.Response(
        200, json=[], headers={"X-Ratelimit-Remaining": "0", "X-Ratelimit-Total": "700"}
    )
    route = respx.get("https://acme.freshdesk.com/api/v2/groups").mock(return_value=low)
    c.json("GET", "/api/v2/groups")
    assert slept == [pytest.approx(60.0, abs=0.05)]
    assert route.calls[0].request.headers["authorization"].startswith("Basic ")


@respx.mock
def test_credentials_only_go_to_the_account_host(client):
    own = respx.get("https://acme.zendesk.com/a").mock(
        return_value=httpx.Response(302, headers={"Location": "https://cdn.example/b"})
    )
    other = respx.get("https://cdn.example/b").mock(
        return_value=httpx.Response(200, content=b"bytes")
    )
    assert client.download("https://acme.zendesk.com/a") == b"bytes"
    assert own.calls[0].request.headers["authorization"].startswith("Basic ")
    assert "authorization" not in other.calls[0].request.headers


@respx.mock
def test_logs_are_redacted(client, caplog):
    respx.get(url__startswith=URL).mock(return_value=OK)
    with caplog.at_level(logging.DEBUG):
        client.json("GET", URL, params={"token": TOKEN})
    assert "HTTP Request" in caplog.text  # httpx's own line is there, and redacted too
    assert caplog.text and TOKEN not in caplog.text


def test_missing_secret_names_the_variables(monkeypatch):
    for v in ("ZENDESK_EMAIL", "ZENDESK_API_TOKEN", "ZENDESK_OAUTH_TOKEN"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(MissingSecret) as info:
        RestClient(spec_for("zendesk"), parse_spec("zendesk://acme"))
    assert "ZENDESK_EMAIL and ZENDESK_API_TOKEN (or ZENDESK_OAUTH_TOKEN)" in str(info.value)


@respx.mock
def test_oauth_bearer_when_only_the_oauth_token_is_set(monkeypatch):
    monkeypatch.delenv("ZENDESK_EMAIL", raising=False)
    monkeypatch.delenv("ZENDESK_API_TOKEN", raising=False)
    monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", "oauth-abcdef")
    route = respx.get(URL).mock(return_value=OK)
    c = RestClient(spec_for("zendesk"), parse_spec("zendesk://acme"))
    c.json("GET", URL)
    assert route.calls[0].request.headers["authorization"] == "Bearer oauth-abcdef"


@respx.mock
def test_api_key_in_a_header_and_base_url_override(monkeypatch):
    monkeypatch.setenv("DESK_KEY", "k-123456")
    spec = spec_for("zendesk").model_copy(
        update={
            "auth": [AuthSpec(type="api_key", secret=SecretRef(env="DESK_KEY"), header="X-Api-Key")]
        }
    )
    route = respx.get("http://127.0.0.1:9/api/v2/groups.json").mock(return_value=OK)
    c = RestClient(spec, parse_spec("zendesk://acme?base_url=http://127.0.0.1:9"))
    c.json("GET", "/api/v2/groups.json")
    assert route.calls[0].request.headers["x-api-key"] == "k-123456"


@respx.mock
def test_requests_per_minute_ceiling_paces_without_429(creds):
    slept: list[float] = []
    now = [0.0]
    c = RestClient(
        spec_for("zendesk"),
        parse_spec("zendesk://acme?requests_per_minute=120"),
        sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)),
        clock=lambda: now[0],
    )
    respx.get(URL).mock(return_value=OK)
    for _ in range(3):
        c.json("GET", URL)
    assert slept == [0.5, 0.5]


@respx.mock
def test_a_long_retry_after_is_honoured_whole_and_said(client, capsys):
    """Zendesk: the 429's "Retry-After header that tells you how many seconds to wait"."""
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "900"}), OK])
    _r, body = client.json("GET", URL)
    assert body == {"groups": []} and client.slept == [900.0]  # not cut to max_wait (300)


@respx.mock
def test_a_retry_after_beyond_an_hour_stops_and_says_when_to_resume(client):
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "7200"}), OK])
    with pytest.raises(
        RetriableError, match=r"asks to wait 7200 s \(until \d\d:\d\d UTC\)"
    ) as info:
        client.json("GET", URL)
    assert "run the same command again after" in str(info.value.hint) and client.slept == []
