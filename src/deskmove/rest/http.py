"""The HTTP client every REST adapter uses: auth, retries, rate limits, redaction.

One ``validate`` decides what a response means: 429 and 5xx are retried
(429 waits for ``Retry-After``, else backs off exponentially), timeouts and
connection errors are retried, 401/403 is an :class:`AuthError`, any other 4xx
fails at once (409 too: a conflict such as a duplicate e-mail stays one however
often it is sent). Before the limit is hit, requests are paced from the
remaining-quota headers. Credentials are only ever sent to the account's own
host, and every URL and message that leaves this module is redacted.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx
import tenacity

from deskmove.errors import (
    AuthError,
    DeskmoveError,
    FatalRemoteError,
    RemoteUnavailable,
    RetriableError,
)
from deskmove.rest.auth import Redactor, resolve_auth

if TYPE_CHECKING:
    from deskmove.config import Connection
    from deskmove.rest.spec import Spec

log = logging.getLogger("deskmove.rest")


class _RedactFilter(logging.Filter):
    """Blanks every secret any client has seen in records of httpx, httpcore and deskmove.rest."""

    def __init__(self) -> None:
        super().__init__()
        self.redact = Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redact.secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
        return True


_FILTER = _RedactFilter()
for _name in ("httpx", "httpcore", "deskmove.rest"):
    logging.getLogger(_name).addFilter(_FILTER)
RETRY_STATUS = {429, 500, 502, 503, 504, 520, 521, 522, 524}


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, reason: str, wait: float | None = None, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.unreachable = unreachable


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def base_url_for(spec: Spec, conn: Connection) -> str:
    """``?base_url=`` wins; a full host name (``acme.freshdesk.com``) is used as it is."""
    url = conn.option("base_url")
    if not url and "." in conn.location:
        url = f"https://{conn.location}"
    url = url or spec.base_url.format(location=conn.location)
    return str(url).rstrip("/")


class RestClient:
    """A rate-limited, retrying, redacting client for one connection."""

    def __init__(
        self,
        spec: Spec,
        conn: Connection,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.conn = conn
        self.base_url = base_url_for(spec, conn)
        self.redact = Redactor()
        self.creds = resolve_auth(conn, spec.auth, self.redact)
        _FILTER.redact.secrets |= self.redact.secrets
        self.own_hosts = {urlsplit(self.base_url).hostname} | set(spec.credential_hosts)
        self.sleep = sleep
        self.clock = clock
        self.stats: Counter[str] = Counter()
        rpm = conn.option("requests_per_minute") or spec.rate_limit.requests_per_minute
        self._interval = 60.0 / float(rpm) if rpm else 0.0
        self._next_at = 0.0
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.http = httpx.Client(
            transport=transport,
            timeout=spec.retry.timeout,
            follow_redirects=False,
            headers={"User-Agent": "deskmove", "Accept": "application/json"},
        )

    def close(self) -> None:
        self.http.close()

    # -- public -----------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        return (
            path_or_url
            if "://" in path_or_url
            else urljoin(self.base_url + "/", path_or_url.lstrip("/"))
        )

    def json(self, method: str, path_or_url: str, **kw: Any) -> tuple[httpx.Response, Any]:
        """A request whose answer must be JSON (a truncated body is retried)."""
        return self._with_retries(method, self.url(path_or_url), parse=True, **kw)

    def request(self, method: str, path_or_url: str, **kw: Any) -> httpx.Response:
        return self._with_retries(method, self.url(path_or_url), parse=False, **kw)[0]

    def download(self, url: str, max_redirects: int = 5) -> bytes:
        """Bytes of an attachment; credentials go to the account's own host only."""
        for _ in range(max_redirects + 1):
            resp = self.request("GET", url, accept="*/*")
            if resp.is_redirect and resp.headers.get("location"):
                url = urljoin(str(resp.url), resp.headers["location"])
                continue
            return resp.content
        raise FatalRemoteError(
            f"too many redirects downloading {self.redact.url(url)}", "check the attachment URL"
        )

    def log(self, message: str) -> None:
        log.debug(self.redact(message))

    # -- internals --------------------------------------------------------------------
    def _may_authenticate(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.hostname in self.own_hosts and parts.scheme in ("https", "http")

    def _with_retries(
        self, method: str, url: str, *, parse: bool, **kw: Any
    ) -> tuple[httpx.Response, Any]:
        r = self.spec.retry
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            stop=tenacity.stop_after_attempt(r.attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, parse, **kw)
        except _Retry as exc:
            cls = RemoteUnavailable if exc.unreachable else RetriableError
            raise cls(
                f"{method} {self.redact.url(url)} still failing after {r.attempts} attempts: {exc.reason}",
                "re-run later; deskmove resumes where it stopped",
            ) from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.wait is not None:
            return min(exc.wait, self.spec.retry.max_wait)
        r = self.spec.retry
        return min(r.base_wait * 2 ** (state.attempt_number - 1), r.max_wait)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stats["slept"] += seconds
            self.sleep(seconds)

    def _pace(self) -> None:
        """Wait for our own ceiling and for a pause another request asked for (thread-safe)."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next_at, self._paused_until)
            if self._interval:
                self._next_at = start + self._interval
        if start > now:
            self._sleep(start - now)

    def _attempt(
        self, method: str, url: str, parse: bool, accept: str | None = None, **kw: Any
    ) -> tuple[httpx.Response, Any]:
        self._pace()
        headers = dict(kw.pop("headers", None) or {})
        if accept:
            headers["Accept"] = accept
        params = dict(kw.pop("params", None) or {})
        if self._may_authenticate(url):
            headers.update(self.creds.headers)
            params.update(self.creds.params)
        self.stats["requests"] += 1
        try:
            resp = self.http.request(method, url, headers=headers, params=params or None, **kw)
        except httpx.TimeoutException as exc:
            self.stats["timeouts"] += 1
            raise _Retry(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Retry(self.redact(f"cannot connect: {exc}"), unreachable=True) from None
        self.log(f"{method} {self.redact.url(str(resp.request.url))} -> {resp.status_code}")
        self._validate(method, url, resp)
        self._throttle(resp)
        if not parse:
            return resp, None
        try:
            return resp, json.loads(resp.content) if resp.content else None
        except ValueError:
            self.stats["bad_json"] += 1
            raise _Retry("the answer was not complete JSON (truncated?)") from None

    def _validate(self, method: str, url: str, resp: httpx.Response) -> None:
        code = resp.status_code
        if code < 400 or resp.is_redirect:
            return
        if code == 429:
            self.stats["429"] += 1
            raise _Retry("rate limited (429)", retry_after(resp.headers.get("retry-after")))
        if code in RETRY_STATUS or code >= 500:
            self.stats[f"{code}"] += 1
            raise _Retry(f"server answered {code}", retry_after(resp.headers.get("retry-after")))
        where = self.redact.url(url)
        if code in (401, 403):
            names = " and ".join(self.creds.variables) or "the credentials"
            what = "refused the credentials" if code == 401 else "refused access"
            raise AuthError(
                f"{self.spec.name} {what} ({code}) for {method} {where}",
                f"check {names}; the account needs admin rights for a migration",
            )
        detail = self.redact(resp.text[:200].replace("\n", " ")) if resp.content else ""
        raise RemoteFailure(code, f"{method} {where} failed with {code}: {detail}".rstrip(": "))

    def _throttle(self, resp: httpx.Response) -> None:
        rl = self.spec.rate_limit
        remaining = _first_number(resp.headers, rl.remaining_headers)
        # with N requests in flight, N may still be on their way: pause that much earlier
        if remaining is None or remaining > max(rl.min_remaining, rl.concurrency):
            return
        reset = _first_number(resp.headers, rl.reset_headers)
        wait = min(reset if reset is not None else rl.window_seconds, self.spec.retry.max_wait)
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + wait)
        self.stats["paced"] += 1
        self._pace()


class RemoteFailure(FatalRemoteError):
    """A 4xx the API meant: retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, "check the data or the spec; retrying will not help")
        self.status = status


def _first_number(headers: httpx.Headers, names: list[str]) -> float | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            try:
                return float(value)
            except ValueError:
                continue
    return None


def is_missing(exc: DeskmoveError) -> bool:
    return isinstance(exc, RemoteFailure) and exc.status == 404
