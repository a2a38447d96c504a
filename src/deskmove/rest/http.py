"""The HTTP client every REST adapter uses: auth, retries, rate limits, redaction.

One ``validate`` decides what a response means: 429 and 5xx are retried
(429 waits for ``Retry-After``, else backs off exponentially), timeouts and
connection errors are retried, 401/403 is an :class:`AuthError`, any other 4xx
fails at once (409 too: a conflict such as a duplicate e-mail stays one however
often it is sent). A call made with ``once=True`` (a create or an append) is
not repeated when the target may already have done it: a 5xx other than 503,
a timeout or a dropped connection after the request went out raises
:class:`OutcomeUnknown`, and the caller asks the target before sending it
again (429 and 503 refuse a request before doing it, and are retried as
usual). Before the limit is hit, requests are paced from the
remaining-quota headers. Credentials are only ever sent to the account's own
host, and every URL and message that leaves this module is redacted.

Every attempt has a total deadline (``?timeout=`` seconds, the spec's
``retry.timeout`` by default) from connecting to the last byte of the answer,
however slowly the server trickles; a download's deadline grows with its
declared size. The run-wide ``--deadline`` bounds every attempt and every
pause between them. The first retry of a request says what is retried, why
and for how long at most; the progress bar shows it while it lasts.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx
import tenacity

from deskmove import deadline, notify
from deskmove.errors import (
    AuthError,
    DeskmoveError,
    FatalRemoteError,
    OutcomeUnknown,
    RemoteFailure,
    RemoteUnavailable,
    RetriableError,
    UsageError,
)
from deskmove.rest.auth import Redactor, resolve_auth
from deskmove.rest.transport import bounded, deadline_transport, extend

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
# Answers that refuse a request before doing anything with it (RFC 9110 15.6.4: 503 "the
# server is currently unable to handle the request"); any other 5xx may come after the work.
REFUSED_FIRST = {429, 503}
DOWNLOAD_MIN_RATE = 64 * 1024  # bytes/s a download may not fall below on average
SLOW_AFTER = 10.0  # seconds without an answer before deskmove says what it waits for


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(
        self,
        reason: str,
        wait: float | None = None,
        unreachable: bool = False,
        maybe_done: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.unreachable = unreachable
        self.maybe_done = maybe_done  # the request went out: the target may have acted on it


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
    """``?base_url=`` wins; a full host name (``acme.freshdesk.com``) is used as it is.

    A spec for a self-hosted helpdesk (``rt://HOST[:PORT]/…``) writes its base URL
    with ``{http}`` (https, or http with ``?tls=none``), ``{host}`` (host[:port])
    and ``{prefix}``: there ``?base_url=/rt`` is a path prefix on that host.
    """
    url = conn.option("base_url")
    if "{host}" in spec.base_url and (not url or str(url).startswith("/")):
        host = conn.location + (f":{conn.port}" if conn.port else "")
        http = "http" if str(conn.option("tls", "")).lower() == "none" else "https"
        prefix = "/" + str(url or "").strip("/") if url else ""
        return spec.base_url.format(http=http, host=host, prefix=prefix.rstrip("/"))
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
        self._lanes: dict[str, deque[float]] = {}  # lane -> when its last N requests went
        self._lock = threading.Lock()
        self.timeout = request_timeout(spec, conn)
        self.watch = _Watch(SLOW_AFTER)
        self.http = httpx.Client(
            transport=transport or deadline_transport(),
            timeout=self.timeout,
            follow_redirects=False,
            headers={"User-Agent": "deskmove", "Accept": "application/json"},
        )

    def close(self) -> None:
        self.watch.stop()
        self.http.close()

    # -- public -----------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        return (
            path_or_url
            if "://" in path_or_url
            else urljoin(self.base_url + "/", path_or_url.lstrip("/"))
        )

    def json(
        self, method: str, path_or_url: str, *, once: bool = False, **kw: Any
    ) -> tuple[httpx.Response, Any]:
        """A request whose answer must be JSON (a truncated body is retried).

        ``once``: the request creates or appends something, so it is not repeated when
        the target may have done it already (:class:`OutcomeUnknown`)."""
        return self._with_retries(method, self.url(path_or_url), parse=True, once=once, **kw)

    def request(
        self, method: str, path_or_url: str, *, once: bool = False, **kw: Any
    ) -> httpx.Response:
        return self._with_retries(method, self.url(path_or_url), parse=False, once=once, **kw)[0]

    def backoff(self, attempt: int) -> None:
        """The pause before the ``attempt``-th repeat of a call the caller retries itself."""
        r = self.spec.retry
        self._sleep(min(r.base_wait * 2 ** max(0, attempt - 1), r.max_wait))

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
        self, method: str, url: str, *, parse: bool, once: bool = False, **kw: Any
    ) -> tuple[httpx.Response, Any]:
        r = self.spec.retry

        def worth_it(exc: BaseException) -> bool:
            return isinstance(exc, _Retry) and not (once and exc.maybe_done)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(worth_it),
            stop=tenacity.stop_after_attempt(r.attempts),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=lambda state: self._retrying(method, url, state),
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, parse, **kw)
        except _Retry as exc:
            if once and exc.maybe_done:
                raise OutcomeUnknown(
                    f"{method} {self.redact.url(url)}: {exc.reason}, after the request went out; "
                    "the target may have done it",
                    "re-run later; deskmove asks the target before sending it again",
                ) from None
            cls = RemoteUnavailable if exc.unreachable else RetriableError
            raise cls(
                f"{method} {self.redact.url(url)} still failing after {r.attempts} attempts: {exc.reason}",
                "re-run later; deskmove resumes where it stopped",
            ) from None
        finally:
            notify.waiting(None)

    def worst_case(self) -> float:
        """Seconds one request may take at most, every attempt and pause included."""
        r = self.spec.retry
        pauses = sum(min(r.base_wait * 2**i, r.max_wait) for i in range(r.attempts - 1))
        return r.attempts * self.timeout + pauses

    def _retrying(self, method: str, url: str, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, _Retry) else str(exc)
        what = f"{self.spec.name}: {method} {self.redact.url(url)}"
        attempts = self.spec.retry.attempts
        if state.attempt_number == 1:
            budget = self.worst_case()
            left = deadline.remaining()
            limit = (
                f"{budget:.0f} s" if left is None or left > budget else f"{left:.0f} s (--deadline)"
            )
            notify.say(
                f"Waiting: {what} {reason}; retrying up to {attempts - 1} more times, "
                f"for at most {limit}"
            )
        asked = exc.wait if isinstance(exc, _Retry) else None
        if asked is not None and asked > self.spec.retry.max_wait:  # a long Retry-After: say it
            until = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + asked))
            notify.say(f"Waiting: {self.spec.name} asks for {asked:.0f} s; resuming at {until}")
        notify.waiting(f"retry {state.attempt_number}/{attempts - 1}: {reason}")

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """The pause before the next attempt: a server's Retry-After is honoured whole
        (Zendesk: "a Retry-After header that tells you how many seconds to wait"), up to
        ``retry.max_retry_after``; a longer one stops the run, saying when to resume."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.wait is not None:
            limit = self.spec.retry.max_retry_after
            if exc.wait > limit:
                until = time.strftime("%H:%M UTC", time.gmtime(time.time() + exc.wait))
                raise RetriableError(
                    f"{self.spec.name} asks to wait {exc.wait:.0f} s (until {until}) before the "
                    f"next request, longer than the {limit:.0f} s deskmove waits",
                    f"run the same command again after {until}; deskmove resumes where it stopped",
                )
            return exc.wait
        r = self.spec.retry
        return min(r.base_wait * 2 ** (state.attempt_number - 1), r.max_wait)

    def _sleep(self, seconds: float) -> None:
        left = deadline.remaining()
        if left is not None and left < seconds:
            raise deadline.exceeded(f"pausing {seconds:.0f} s before the next request")
        if seconds > 0:
            self.stats["slept"] += seconds
            self.sleep(seconds)

    def _pace(self, lane: tuple[str, float] | None = None) -> None:
        """Wait for our own ceiling, for a pause another request asked for, and for the
        request's lane (endpoints with a limit of their own, e.g. Zendesk's incremental
        exports at 10 a minute) — thread-safe."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next_at, self._paused_until)
            if lane is not None:  # at most N requests in any minute: a burst, then spaced
                sent = self._lanes.setdefault(lane[0], deque(maxlen=max(1, int(lane[1]))))
                if len(sent) == sent.maxlen:
                    start = max(start, sent[0] + 61.0)  # a second spare for clock skew
                sent.append(start)
            if self._interval:
                self._next_at = start + self._interval
        if start > now:
            self._sleep(start - now)

    def _attempt(
        self, method: str, url: str, parse: bool, accept: str | None = None, **kw: Any
    ) -> tuple[httpx.Response, Any]:
        self._pace(kw.pop("lane", None))
        headers = dict(kw.pop("headers", None) or {})
        if accept:
            headers["Accept"] = accept
        params = dict(kw.pop("params", None) or {})
        if self._may_authenticate(url):
            headers.update(self.creds.headers)
            params.update(self.creds.params)
        self.stats["requests"] += 1
        what = f"waiting for {method} {self.redact.url(url)}"
        if deadline.expired():
            raise deadline.exceeded(what)
        ends = time.monotonic() + self.timeout
        left = deadline.remaining()
        try:
            with (
                bounded(ends if left is None else min(ends, time.monotonic() + left)),
                self.watch.waiting(
                    f"{self.spec.name}: {method} {self.redact.url(url)}", self.timeout
                ),
            ):
                resp = self._send(method, url, headers, params, kw, download=not parse)
        except httpx.TimeoutException as exc:
            if deadline.expired():
                raise deadline.exceeded(what) from None
            self.stats["timeouts"] += 1
            total = "no complete answer" if "deadline" in str(exc) else "timed out"
            raise _Retry(
                f"{total} within {self.timeout:g} s ({type(exc).__name__})",
                maybe_done=not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout),
            ) from None
        except httpx.TransportError as exc:
            sent = not isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol)
            what = "the connection broke" if sent else "cannot connect"
            raise _Retry(
                self.redact(f"{what}: {exc}"), unreachable=not sent, maybe_done=sent
            ) from None
        self.log(f"{method} {self.redact.url(str(resp.request.url))} -> {resp.status_code}")
        self._validate(method, url, resp)
        self._throttle(resp)
        if not parse:
            return resp, None
        try:
            return resp, json.loads(resp.content) if resp.content else None
        except ValueError:
            self.stats["bad_json"] += 1
            raise _Retry(
                "the answer was not complete JSON (truncated?)", maybe_done=resp.status_code < 300
            ) from None

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        params: dict[str, str],
        kw: dict[str, Any],
        *,
        download: bool,
    ) -> httpx.Response:
        """One request, its answer read whole; a download may take longer when it is big."""
        req = self.http.build_request(method, url, headers=headers, params=params or None, **kw)
        resp = self.http.send(req, stream=True)
        try:
            size = resp.headers.get("content-length", "")
            if download and size.isdigit():
                left = deadline.remaining()
                grown = time.monotonic() + self.timeout + int(size) / DOWNLOAD_MIN_RATE
                extend(grown if left is None else min(grown, time.monotonic() + left))
            resp.read()
        finally:
            resp.close()
        return resp

    def _validate(self, method: str, url: str, resp: httpx.Response) -> None:
        code = resp.status_code
        if code < 400 or resp.is_redirect:
            return
        if code == 429:
            self.stats["429"] += 1
            raise _Retry("rate limited (429)", retry_after(resp.headers.get("retry-after")))
        if code in RETRY_STATUS or code >= 500:
            self.stats[f"{code}"] += 1
            raise _Retry(
                f"server answered {code}",
                retry_after(resp.headers.get("retry-after")),
                maybe_done=code not in REFUSED_FIRST,
            )
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


class _Watch:
    """Says which requests have had no answer for a while (one thread, started when needed)."""

    def __init__(self, after: float) -> None:
        self.after = after
        self.inflight: dict[int, tuple[float, str, float]] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.ids = iter(range(1 << 62))
        self.told: set[str] = set()  # said once per request, until it gets an answer

    @contextmanager
    def waiting(self, what: str, timeout: float) -> Iterator[None]:
        with self.lock:
            key = next(self.ids)
            self.inflight[key] = (time.monotonic(), what, timeout)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="deskmove-watch", daemon=True)
                self.thread.start()
        answered = False
        try:
            yield
            answered = True
        finally:
            with self.lock:
                self.inflight.pop(key, None)
                if answered:
                    self.told.discard(what)

    def _run(self) -> None:
        while not self.stopped.wait(min(1.0, self.after)):
            now = time.monotonic()
            with self.lock:
                slow = [v for v in self.inflight.values() if now - v[0] >= self.after]
                fresh = [v for v in slow if v[1] not in self.told]
                self.told |= {v[1] for v in fresh}
            for started, what, timeout in fresh:
                notify.say(
                    f"Waiting: {what} has not answered for {now - started:.0f} s "
                    f"(this attempt gives up after {timeout:g} s)"
                )
            for started, what, _timeout in slow[-1:]:
                notify.waiting(f"waiting {now - started:.0f} s for {what}")

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(2)


def request_timeout(spec: Spec, conn: Connection) -> float:
    """``?timeout=`` seconds (or ``timeout =`` in deskmove.toml), else the spec's."""
    value = conn.option("timeout")
    if value is None or value == "":
        return spec.retry.timeout
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0:
        raise UsageError(f"?timeout={value} is not a number of seconds", "e.g. ?timeout=30")
    return seconds


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
