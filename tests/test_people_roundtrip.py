"""People survive re-imports and round trips: no agent added twice, no address rewritten."""

from __future__ import annotations

import csv
import json

import pytest

from tests.csvhelp import EXAMPLES


def _totals(cli) -> dict:
    return json.loads(cli("--json", "status").stdout)["totals"]


@pytest.mark.parametrize("name", ["zendesk", "freshdesk"])
def test_re_importing_a_mapped_export_adds_nobody(cli, name):
    spec = f"csv:{EXAMPLES / 'exports' / f'{name}-tickets.csv'}?mapping={name}-csv"
    cli("import", spec)
    first = _totals(cli)
    for _ in range(2):  # what a cron sync would do, again and again
        again = cli("import", spec)
        assert " 0 imported (0 new, 0 changed)" in again.stdout, again.output
        assert _totals(cli) == first


def _messages(path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_canonical_round_trip_keeps_each_messages_sending_address(cli, tmp_path):
    src = EXAMPLES / "helpdesk"
    assert cli("migrate", f"csv:{src}", f"csv:{tmp_path / 'out'}").exit_code == 0
    sent = {r["id"]: r["author_email"].strip().lower() for r in _messages(src / "messages.csv")}
    people = {}
    with (src / "people.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            people[r["email"]] = r.get("other_emails", "")
    assert any(people.values()), "the sample has people with more than one address"
    back = {r["source_id"]: r["author_email"] for r in _messages(tmp_path / "out" / "messages.csv")}
    changed = {k: (v, back.get(k)) for k, v in sent.items() if back.get(k) != v}
    assert not changed, (
        f"{len(changed)} messages came back with another address: {list(changed.items())[:3]}"
    )
