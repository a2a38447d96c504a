"""An httpx transport whose every socket wait is bounded by the request's total deadline.

httpx's timeouts bound each read, so a server that sends its headers and then
one byte every 20 seconds never times out. Here each connect, TLS handshake,
write and read waits at most until the deadline of the request in flight on
this thread (:func:`bounded`), and raises a timeout once it has passed: one
request never takes longer than its deadline, however the server trickles.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_local = threading.local()


@contextmanager
def bounded(deadline: float | None) -> Iterator[None]:
    """Requests on this thread inside the block end by ``deadline`` (time.monotonic)."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = deadline
    try:
        yield
    finally:
        _local.deadline = previous


def extend(deadline: float) -> None:
    """Move the current request's deadline later (a big download, once its size is known)."""
    current = getattr(_local, "deadline", None)
    if current is not None:
        _local.deadline = max(current, deadline)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        t = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, t))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        t = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_tcp(host, port, t, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        t = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_unix_socket(path, t, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings httpx would make for each client (certificate authorities from
    certifi, or SSL_CERT_FILE / SSL_CERT_DIR), made once per process: reading the
    authorities is most of what starting a client costs, and a sync starts one per
    connection."""
    return httpx.create_ssl_context()


def deadline_transport(**kw: Any) -> httpx.HTTPTransport:
    """httpx's own transport (TLS, proxies from the environment) over the bounded backend."""
    kw.setdefault("verify", tls_context())
    transport = httpx.HTTPTransport(**kw)
    pool = transport._pool  # noqa: SLF001 - httpx offers no public way to pick the backend
    if not hasattr(pool, "_network_backend"):  # pragma: no cover - a changed httpx must fail loudly
        raise RuntimeError("this httpx version has no network backend to bound")
    pool._network_backend = _Backend()  # noqa: SLF001
    return transport
