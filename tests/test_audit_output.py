"""What the consultant hands over: formats (PDF included), what each target loses, and
counts that add up."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from deskmove.audit.evidence import Evidence, Item
from deskmove.audit.formats import months_line
from deskmove.audit.html import sparkline
from tests.csvhelp import EXAMPLES

HELPDESK = EXAMPLES / "helpdesk"


@pytest.fixture
def filled(cli):
    assert cli("import", f"csv:{HELPDESK}").exit_code == 0
    return cli


# -- item 14: PDF, and no Markdown in a file named .pdf --------------------------------------
@pytest.mark.skipif(not shutil.which("chromium"), reason="Chromium is not installed")
def test_audit_out_pdf_is_a_pdf_printed_from_the_html_report(filled, tmp_path):
    out = tmp_path / "report.pdf"
    res = filled("audit", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"Wrote {out} (pdf): ")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and b"# Channel audit" not in data
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        assert "Channel audit and migration plan" in text and "Export and import" in text
    assert filled("audit", "--format", "pdf", "--out", str(tmp_path / "x.bin")).exit_code == 0
    assert (tmp_path / "x.bin").read_bytes().startswith(b"%PDF-")


def test_without_chromium_a_pdf_is_a_clear_error_and_no_file(filled, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("DESKMOVE_CHROMIUM", raising=False)
    out = tmp_path / "report.pdf"
    res = filled("audit", "--out", str(out))
    assert res.exit_code == 1
    assert res.stderr == (
        "Error: a PDF is printed by Chromium, which is not installed — install it "
        "(apt-get install chromium), or write --out audit.html and print that\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("name", ["report.docx", "report.txt", "report"])
def test_an_out_suffix_that_names_no_format_is_refused(filled, tmp_path, name):
    out = tmp_path / name
    res = filled("audit", "--out", str(out))
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: cannot tell the format from --out {name} — end it in .md")
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("a.md", "# Channel audit"),
        ("a.markdown", "# Channel audit"),
        ("a.html", "<!DOCTYPE html>"),
        ("a.json", "{"),
    ],
)
def test_known_suffixes_pick_their_format(filled, tmp_path, name, start):
    assert filled("audit", "--out", str(tmp_path / name)).exit_code == 0
    assert (tmp_path / name).read_text(encoding="utf-8").lstrip().lower().startswith(start.lower())


# -- item 15: "what is lost" from what each target writes -------------------------------------
def _capabilities(cli) -> dict:
    return json.loads(cli("--json", "audit").stdout)["plan"]["capabilities"]


def test_a_csv_target_does_not_lose_what_the_export_holds(filled, project_dir, tmp_path):
    with (project_dir / "deskmove.toml").open("a", encoding="utf-8") as f:
        f.write(
            f'\n[connections.out]\nspec = "csv:{tmp_path / "out"}"\n[sync]\ntargets = ["out"]\n'
        )
    cap = _capabilities(filled)
    (target,) = cap["targets"]
    lost = " ".join(target["import_lost"])
    for kept in ("To/Cc", "In-Reply-To", "mail headers", "second and further addresses"):
        assert kept not in lost, lost
    assert "raw original mail" in lost
    assert " ".join(cap["table"]["csv"]["import_lost"]) == lost


def test_each_targets_losses_follow_what_it_writes(filled):
    from deskmove.config import parse_spec
    from deskmove.registry import target_for
    from deskmove.targets.base import CONTENT

    table = _capabilities(filled)["table"]
    for scheme, spec in (
        ("csv", "csv:/tmp/x"),
        ("zendesk", "zendesk://x"),
        ("freshdesk", "freshdesk://x"),
    ):
        target = target_for(parse_spec(spec), None)  # type: ignore[arg-type]
        lost = [w for k, w in CONTENT.items() if k not in target.carried()]
        shown = [
            x.split(": not written")[0]
            for x in table[scheme]["import_lost"]
            if ": not written" in x
        ]
        assert shown == lost, scheme
    freshdesk = " ".join(table["freshdesk"]["import_lost"])
    assert "original time" in freshdesk and "attachments" not in freshdesk
    assert not table["mbox"]["target"]  # there is no mbox target to lose anything


def test_a_rest_target_that_sends_phones_and_domains_does_not_call_them_lost(filled):
    # The plan follows what each target's payloads carry: Zendesk and Freshdesk send a
    # person's phone and an organization's domains, so neither is listed as lost.
    from deskmove.config import parse_spec
    from deskmove.registry import target_for
    from deskmove.rest.pushrecords import OrgPush, PersonPush

    table = _capabilities(filled)["table"]
    for scheme, spec in (("zendesk", "zendesk://x"), ("freshdesk", "freshdesk://x")):
        target = target_for(parse_spec(spec), None)  # type: ignore[arg-type]
        hooks, ctx = target.hooks, target.ctx
        person = hooks.person_payload(PersonPush(1, "p1", "Eva", "eva@x.example", "+420 1"), ctx)
        org = hooks.organization_payload(OrgPush(1, "o1", "Shop", ["shop.example"]), ctx)
        lost = " ".join(table[scheme]["import_lost"])
        assert ("+420 1" in str(person)) == ("phone numbers" not in lost), (scheme, lost)
        assert ("shop.example" in str(org)) == ("mail domains" not in lost), (scheme, lost)


# -- item 16: the header reads right; months add up ---------------------------------------------
def test_the_header_says_how_many_sections_were_seen(filled):
    import re

    from deskmove.audit.formats import summary_line
    from deskmove.audit.report import Report

    head = filled("audit").stdout.splitlines()[2]
    assert "0 of 6 sections not seen" not in head
    assert re.search(
        r"all 6 sections seen in the data|[1-5] of 6 sections not seen|none of the 6", head
    )

    class Counted(Report):  # the wording for each count, without building a whole report
        def __init__(self, not_seen: int) -> None:
            self._n = not_seen

        def counts(self) -> dict:
            return {"items": 3, "checked": 0, "changed": 0, "not_seen": self._n}

    assert summary_line(Counted(0)).endswith("all 6 sections seen in the data")
    assert summary_line(Counted(2)).endswith(
        "2 of 6 sections not seen in the data (verify those by hand)"
    )
    assert summary_line(Counted(6)).endswith(
        "none of the 6 sections seen in the data (verify each by hand)"
    )


def _item(months: dict[str, int]) -> Item:
    ev = Evidence()
    for month, n in months.items():
        ev.add(datetime(int(month[:4]), int(month[5:7]), 15, tzinfo=UTC), n=n)
    return Item(id="forms", section="forms", title="Contact form", evidence=ev)


def test_the_markdown_months_line_keeps_months_older_than_a_year():
    months = {f"{2022 + (i // 12)}-{i % 12 + 1:02d}": i + 1 for i in range(20)}
    line = months_line(_item(months))
    assert line.startswith("2022-01 to 2022-08: 36 in 8 months · 2022-09: 9 · ")
    numbers = [int(p.rsplit(": ", 1)[1].split()[0]) for p in line.split(" · ")]
    assert sum(numbers) == sum(months.values())


def test_the_html_months_chart_says_what_is_before_it():
    months = {f"{2020 + (i // 12)}-{i % 12 + 1:02d}": 2 for i in range(30)}
    svg = sparkline(_item(months))
    assert "+ 12 from 2020-01 to 2020-06" in svg


# -- item 16: the form's sender and software; the team's line from an agent's signature ------
MAILS = [
    (
        "a.customer@example.com",
        "support@shop.example",
        "Order 17",
        "<c1@example.com>",
        None,
        {},
        "Hello, where is my order 17?\n\nAnna\n",
    ),
    (
        "support@shop.example",
        "a.customer@example.com",
        "Re: Order 17",
        "<r1@shop.example>",
        "<c1@example.com>",
        {},
        "Dear Anna,\nit left today.\n\nJana Novakova\nShop support\n+420 222 333 444\n",
    ),
    (
        "noreply@shop.example",
        "support@shop.example",
        "New message from the contact form",
        "<f1@shop.example>",
        None,
        {
            "Reply-To": "Petr <petr@example.org>",
            "X-Mailer": "WPMailSMTP/Mailer/smtp 4.0.1",
            "X-PHP-Originating-Script": "33:class-phpmailer.php",
        },
        "Name: Petr\nE-mail: petr@example.org\nMessage: do you ship to Slovakia?\n",
    ),
]


def _mbox(path):
    out = []
    for i, (frm, to, subject, mid, irt, extra, body) in enumerate(MAILS):
        head = [
            f"From {frm} Mon Jan  {i + 1} 10:00:00 2024",
            f"From: {frm}",
            f"To: {to}",
            f"Subject: {subject}",
            f"Message-ID: {mid}",
            f"Date: Mon, {i + 1} Jan 2024 10:00:00 +0100",
        ]
        if irt:
            head.append(f"In-Reply-To: {irt}")
        head += [f"{k}: {v}" for k, v in extra.items()]
        out.append("\n".join(head) + "\n\n" + body + "\n")
    path.write_text("".join(out), encoding="utf-8")
    return path


def test_forms_name_their_sender_and_software_and_a_signed_number_is_the_teams(
    cli, project_dir, tmp_path
):
    (project_dir / "deskmove.toml").write_text(
        '[mail]\nsupport_addresses = ["support@shop.example"]\nsupport_domains = ["shop.example"]\n'
        '[audit]\nregion = "CZ"\n',
        encoding="utf-8",
    )
    res = cli("import", f"mbox:{_mbox(tmp_path / 'box.mbox')}")
    assert res.exit_code == 0, res.output
    data = json.loads(cli("--json", "audit").stdout)
    sections = {s["section"]: s for s in data["checklist"]}
    (form,) = [i for i in sections["forms"].get("items", []) if i["id"].startswith("form:")]
    assert (
        "sent from noreply@shop.example" in form["title"]
        and "WPMailSMTP/Mailer/smtp 4.0.1" in form["title"]
    )
    assert "noreply@shop.example" in form["needs"] and "WPMailSMTP" in form["needs"]
    phones = sections["phones"]
    team = {i["id"]: i for i in phones.get("items", [])}
    assert "phone:+420222333444" in team, phones
    assert "in an agent's signature" in team["phone:+420222333444"]["title"]
    examples = phones.get("extra", {}).get("customer_examples", [])
    assert all(e["number"] != "+420 222 333 444" for e in examples)
    md = cli("audit").stdout
    assert "sent from noreply@shop.example by WPMailSMTP" in md
