"""One timestamp reader: the same text means the same instant in CSV, mappings and REST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from deskmove import csvlayout
from deskmove.rest.hooks import parse_time
from deskmove.rest.streams import to_epoch
from deskmove.timestamps import parse_instant, parse_iso

INSTANT = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["2024-03-01T08:30:00Z", "2024-03-01T09:30:00+01:00", "2024-03-01 08:30:00+00:00", 1709281800],
    ids=["zulu", "offset", "space", "unix"],
)
def test_every_reader_agrees(text) -> None:  # noqa: ANN001
    assert parse_instant(text) == INSTANT
    assert parse_time(text) == INSTANT
    assert to_epoch(text) == INSTANT.timestamp()
    if isinstance(text, str):
        assert csvlayout.parse_time(text)[0] == INSTANT


def test_naive_times_are_read_in_the_zone_given_or_refused() -> None:
    prague = timezone(timedelta(hours=1))
    assert parse_iso("2024-03-01 09:30", naive_tz=prague) == INSTANT
    assert parse_instant("2024-03-01T08:30:00") == INSTANT  # REST payloads without offset: UTC
    with pytest.raises(ValueError, match="has no UTC offset"):
        parse_iso("2024-03-01 09:30", naive_tz=None)
    assert csvlayout.parse_time("2024-03-01 09:30", prague) == (INSTANT, None)


def test_formats_and_offsets() -> None:
    prague = timezone(timedelta(hours=1))
    assert parse_iso("01.03.2024 09:30", naive_tz=prague, formats=["%d.%m.%Y %H:%M"]) == INSTANT
    assert csvlayout.parse_time("2024-03-01T09:30:00+01:00")[1] == 60
    assert csvlayout.parse_time("2024-03-01T08:30:00Z")[1] is None
    with pytest.raises(ValueError, match="is not an ISO 8601 timestamp"):
        parse_iso("včera")
    assert to_epoch("včera") is None
