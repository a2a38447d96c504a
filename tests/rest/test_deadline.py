"""Every REST request has a total deadline; ``?timeout=`` and ``--deadline`` bound the waits.

The servers here are real sockets on 127.0.0.1 that send headers and stall, or
trickle the answer a byte at a time, which per-read timeouts never cut.
"""

from __future__ import annotations

import time

import pytest

from deskmove import deadline, notify
from deskmove.config import parse_spec
from deskmove.errors import DeadlineExceeded, RetriableError, UsageError
from deskmove.rest.adapter import spec_for
from deskmove.rest.http import RestClient
from deskmove.rest.spec import RetrySpec
from tests.rest.slowserver import slow_server

PATH = "/api/v2/incremental/organizations.json"


@pytest.fixture(autouse=True)
def _no_run_deadline():
    yield
    deadline.start(None)
    notify.enable(False)


def _client(url: str, query: str = "", attempts: int = 2) -> RestClient:
    spec = spec_for("zendesk")
    spec = spec.model_copy(
        update={"retry": RetrySpec(attempts=attempts, base_wait=0.05, max_wait=0.1, timeout=60)}
    )
    return RestClient(spec, parse_spec(f"zendesk://acme?base_url={url}{query}"))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", ["trickle", "trickle-headers"], ids=["body", "headers"])
def test_a_trickling_server_is_cut_at_the_total_deadline(creds, mode):
    with slow_server(mode, pause=0.1) as url:
        c = _client(url, "&timeout=1")
        start = time.monotonic()
        with pytest.raises(RetriableError) as err:
            c.json("GET", PATH)
        took = time.monotonic() - start
        c.close()
    assert took < 4, took  # 2 attempts of 1 s each, plus a short pause
    assert "within 1 s" in str(err.value) and "2 attempts" in str(err.value)


@pytest.mark.timeout(30)
def test_timeout_option_is_honoured_on_zendesk(creds):
    with slow_server("stall") as url:
        c = _client(url, "&timeout=0.5")  # the spec says 60 s
        start = time.monotonic()
        with pytest.raises(RetriableError):
            c.json("GET", PATH)
        c.close()
    assert time.monotonic() - start < 3


def test_a_bad_timeout_is_a_usage_error(creds):
    with pytest.raises(UsageError, match=r"\?timeout=soon"):
        RestClient(spec_for("zendesk"), parse_spec("zendesk://acme?timeout=soon"))


@pytest.mark.timeout(30)
def test_the_run_deadline_bounds_every_attempt_and_pause(creds):
    with slow_server("stall") as url:
        c = _client(url, attempts=8)  # 8 × 60 s without a run deadline
        deadline.start(1.5)
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded) as err:
            c.json("GET", PATH)
        c.close()
    assert time.monotonic() - start < 3
    assert "--deadline 1.5 s" in str(err.value) and PATH in str(err.value)


@pytest.mark.timeout(30)
def test_the_first_retry_says_what_is_retried_and_for_how_long(creds, capsys):
    notify.enable(True)
    with slow_server("stall") as url:
        c = _client(url, "&timeout=0.3", attempts=3)
        with pytest.raises(RetriableError):
            c.json("GET", PATH)
        c.close()
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("Waiting:")]
    assert len(lines) == 1, lines  # once, on the first retry, not on every one
    assert f"zendesk: GET {url}{PATH}" in lines[0]
    assert "retrying up to 2 more times, for at most 1 s" in lines[0]


@pytest.mark.timeout(60)
def test_cli_deadline_stops_an_import_from_a_stalled_server(cli, creds):
    with slow_server("stall") as url:
        start = time.monotonic()
        # the deadline counts from the start of the run, module loading included: on a
        # busy machine that alone can take seconds, so leave room for a few retries
        result = cli("import", f"zendesk://acme?base_url={url}&timeout=0.5", "--deadline", "8")
    assert time.monotonic() - start < 20
    assert result.exit_code == 1
    assert "Waiting: zendesk: GET" in result.stderr
    assert "Error: the run's deadline (--deadline 8 s) passed while" in result.stderr
    assert "Traceback" not in result.output
    status = cli("--json", "status")
    assert '"status": "failed"' in status.stdout


@pytest.mark.timeout(30)
def test_a_slow_answer_says_what_is_waited_for_before_it_times_out(creds, capsys, monkeypatch):
    import deskmove.rest.http as http

    monkeypatch.setattr(http, "SLOW_AFTER", 0.5)
    notify.enable(True)
    with slow_server("stall") as url:
        c = _client(url, "&timeout=2", attempts=1)
        with pytest.raises(RetriableError):
            c.json("GET", PATH)
        c.close()
    err = capsys.readouterr().err
    assert (
        f"Waiting: zendesk: GET {url}{PATH} has not answered for 1 s (this attempt gives up after 2 s)"
        in err
    )


@pytest.mark.timeout(30)
def test_the_progress_line_shows_the_retry(creds):
    import io

    from tqdm import tqdm

    shown: list[str] = []
    out = io.StringIO()
    with tqdm(total=10, file=out, disable=False) as bar, notify.showing(bar):
        original = bar.set_postfix_str
        bar.set_postfix_str = lambda s="", refresh=True: (shown.append(s), original(s, refresh))  # type: ignore[method-assign]
        with slow_server("stall") as url:
            c = _client(url, "&timeout=0.3", attempts=3)
            with pytest.raises(RetriableError):
                c.json("GET", PATH)
            c.close()
    assert any(s.startswith("retry 1/2: timed out within 0.3 s") for s in shown), shown
    assert shown[-1] == ""  # cleared when the request is over
    assert "retry 2/2" in out.getvalue()
