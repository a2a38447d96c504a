"""One real Request Tracker per test session (see tests/servers/rt.py)."""

from __future__ import annotations

import pytest

from tests.conftest import unavailable


@pytest.fixture(scope="session")
def rt_server():
    from tests.servers.rt import RTServer

    try:
        server = RTServer()
        server.init_database()
        server.start()
    except Exception as exc:  # noqa: BLE001
        unavailable(f"cannot start Request Tracker: {exc}")
    yield server
    server.cleanup()


@pytest.fixture
def rt_env(rt_server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The administrator's credentials, as a user would export them."""
    env = {"RT_USER": rt_server.user, "RT_PASSWORD": rt_server.password}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RT_TOKEN", raising=False)
    return env


def rt_spec(server, queues: str, **params: str) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in {"tls": "none", "timezone": "Europe/Prague", **params}.items()
    )
    return f"rt://127.0.0.1:{server.port}/{queues}?{query}"
