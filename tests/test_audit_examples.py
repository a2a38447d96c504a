"""`deskmove audit` on the quickstart's sample data (examples/): every section filled."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from deskmove.audit import SECTIONS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HELPDESK = EXAMPLES / "helpdesk"
MAILBOX = EXAMPLES / "mailbox.mbox"


def audit_json(cli) -> dict:
    result = cli("--json", "audit")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def seen(data: dict) -> dict[str, bool]:
    return {s["id"]: s["seen"] for s in data["checklist"]}


def test_helpdesk_export_fills_what_a_helpdesk_can_show(cli):
    if not (HELPDESK / "tickets.csv").exists():
        pytest.skip("examples/helpdesk is not in this checkout")
    result = cli("import", f"csv:{HELPDESK}")
    assert result.exit_code == 0, result.stderr
    data = audit_json(cli)
    with (HELPDESK / "tickets.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert data["plan"]["volume"]["totals"]["tickets"] == len(rows)
    channels = {r["channel"] for r in rows}
    sections = seen(data)
    assert sections["emails"]  # the support address every inbound message went to
    assert sections["forms"] == ("web" in channels)
    assert sections["chat-social"] == bool({"chat", "social"} & channels)
    assert sections["phones"]
    # A CSV export has no mail headers: no notification senders, nothing invented.
    assert not sections["listings"] and not sections["integrations"]
    md = cli("audit").stdout
    assert md.count("not seen in the data — verify by hand") == 2


def test_quickstart_sample_fills_every_section(cli):
    if not MAILBOX.exists() or not (HELPDESK / "tickets.csv").exists():
        pytest.skip("examples/mailbox.mbox or examples/helpdesk is not in this checkout yet")
    assert cli("import", f"mbox:{MAILBOX}").exit_code in (0, 3)
    assert cli("import", f"csv:{HELPDESK}").exit_code == 0
    data = audit_json(cli)
    assert seen(data) == dict.fromkeys(SECTIONS, True)
    assert "verify by hand" not in cli("audit").stdout
    plan = data["plan"]
    assert plan["cutover"]["window"] is not None
    assert plan["activity"]["conversations"] > 0
    assert len(plan["capabilities"]["sources"]) == 2
