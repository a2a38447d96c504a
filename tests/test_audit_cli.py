"""`deskmove audit` and `audit check`: formats, files, ticks that survive re-runs, errors."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from deskmove.audit import SECTIONS, check, run_audit
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from tests.test_audit_data import PLANTED, fill

CET = timezone(timedelta(hours=1))


def more_mail(store, to: str, n: int, original: str | None = None) -> None:
    """Another import brings n more mails to ``to`` (optionally through an alias)."""
    headers = {"delivered-to": ["podpora@kolo-shop.cz"]}
    if original:
        headers["x-original-to"] = [original]
    tickets = [
        TicketRec(
            native_id=f"later{i}-{to}",
            channel="email",
            messages=[
                MessageRec(
                    native_id=f"later{i}-{to}/1",
                    created_at=datetime(2024, 4, 2 + i, 10, tzinfo=CET),
                    created_tz=60,
                    author=PersonRef(email=f"zakaznik{i}@email.cz"),
                    to=[original or to],
                    headers=headers,
                    body_text="Dobrý den",
                )
            ],
        )
        for i in range(n)
    ]
    store.ingestor("mbox:/data/later.mbox", None).ingest(Batch(tickets=tickets, read=n))


def test_audit_prints_markdown_with_every_section(cli, store):
    fill(store)
    result = cli("audit")
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    for title in (
        "Email addresses the team receives on",
        "Website contact forms",
        "Phone numbers",
        "Forums, communities and external listings",
        "Chat and social channels",
        "Integrations and plugins",
        "## Migration plan",
        "### Data quality",
        "### Quietest cutover window",
        "### What customers will notice",
    ):
        assert title in md
    for ids in PLANTED.values():
        for item_id in ids:
            assert re.search(rf"^- \[ \] \*\*.+\*\* `{re.escape(item_id)}`$", md, re.M), item_id
    assert "deskmove --quiet sync" in md


def test_empty_project_says_verify_by_hand_for_every_section(cli, store):
    md = cli("audit").stdout
    assert md.count("not seen in the data — verify by hand") == len(SECTIONS)


def test_json_output_for_tools(cli, store):
    fill(store)
    result = cli("--json", "audit")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [s["id"] for s in data["checklist"]] == list(SECTIONS)
    forms = next(s for s in data["checklist"] if s["id"] == "forms")
    assert {i["id"] for i in forms["items"]} == PLANTED["forms"]
    assert data["plan"]["volume"]["totals"]["tickets"] == 17
    assert len(data["plan"]["cutover"]["grid"]) == 7


def test_out_file_format_from_suffix(cli, store, tmp_path):
    fill(store)
    out = tmp_path / "audit.html"
    result = cli("audit", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Wrote {out} (html): ")
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    as_json = cli("--json", "audit", "--format", "md", "--out", str(tmp_path / "a.md"))
    assert json.loads(as_json.stdout)["format"] == "md"
    assert (tmp_path / "a.md").read_text(encoding="utf-8").startswith("# Channel audit")


def test_check_persists_and_rerun_keeps_ticks_and_notes(cli, store):
    fill(store)
    result = cli("audit", "check", "email:info@kolo-shop.cz", "--note", "přesměrování nastaveno")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Ticked email:info@kolo-shop.cz")
    assert cli("audit", "check", "chat-social").exit_code == 0
    more_mail(store, "podpora@kolo-shop.cz", 3)  # more data arrives; nothing new in kind
    md = cli("audit").stdout
    assert "- [x] **info@kolo-shop.cz → podpora@kolo-shop.cz** `email:info@kolo-shop.cz`" in md
    assert "  - note: přesměrování nastaveno" in md
    assert "- [x] Section reviewed `chat-social`" in md
    assert "CHANGED" not in md


def test_changed_evidence_is_flagged_until_ticked_again(project, store):
    fill(store)
    check(project, store, "emails", note="all four addresses confirmed")
    check(project, store, "email:info@kolo-shop.cz")
    more_mail(store, "podpora@kolo-shop.cz", 2, original="servis@kolo-shop.cz")  # a new alias
    report = run_audit(project, store)
    emails = report.sections["emails"]
    assert emails.checked and emails.changed and emails.note == "all four addresses confirmed"
    assert report.item("email:servis@kolo-shop.cz") is not None
    assert not report.item("email:info@kolo-shop.cz").changed  # its own evidence is the same
    check(project, store, "emails")
    again = run_audit(project, store).sections["emails"]
    assert again.checked and not again.changed and again.note == "all four addresses confirmed"


def test_changed_flag_in_markdown_and_json(cli, project, store):
    fill(store)
    check(project, store, "emails")
    more_mail(store, "podpora@kolo-shop.cz", 1, original="servis@kolo-shop.cz")
    assert "- [x] Section reviewed `emails` **CHANGED**" in cli("audit").stdout
    data = json.loads(cli("--json", "audit").stdout)
    assert data["summary"]["changed"] == 1
    assert next(s for s in data["checklist"] if s["id"] == "emails")["evidence_changed"] is True


def test_uncheck_keeps_the_note(cli, store):
    fill(store)
    cli("audit", "check", "phones", "--note", "ústředna +420 222 333 444")
    assert cli("audit", "uncheck", "phones").exit_code == 0
    md = cli("audit").stdout
    assert "- [ ] Section reviewed `phones`" in md
    assert "  - note: ústředna +420 222 333 444" in md


def test_unknown_item_is_a_usage_error_with_suggestions(cli, store):
    fill(store)
    result = cli("audit", "check", "email:info@kolo-shop.com")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: no audit item 'email:info@kolo-shop.com' — did you mean"
    )
    assert "email:info@kolo-shop.cz" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_format_and_unwritable_out_are_clear_errors(cli, store, tmp_path):
    bad = cli("audit", "--format", "docx")
    assert bad.exit_code == 2
    assert bad.stderr == "Error: unknown format 'docx' — use one of: md, html, json, pdf\n"
    stdout_pdf = cli("audit", "--format", "pdf")
    assert stdout_pdf.exit_code == 2
    assert stdout_pdf.stderr == "Error: a PDF needs a file — add --out audit.pdf\n"
    nowhere = cli("audit", "--out", str(tmp_path / "missing" / "audit.md"))
    assert nowhere.exit_code == 2
    assert nowhere.stderr.startswith("Error: cannot write ")


def test_bad_region_is_a_config_error(cli, project_dir, store):
    path = project_dir / "deskmove.toml"
    path.write_text(
        path.read_text(encoding="utf-8") + '\n[audit]\nregion = "Czechia"\n', encoding="utf-8"
    )
    result = cli("audit")
    assert result.exit_code == 2
    assert "Error: [audit] region = 'CZECHIA' is not a country code" in result.stderr


def test_help_has_examples(cli):
    for args in (("audit", "--help"), ("audit", "check", "--help"), ("audit", "uncheck", "--help")):
        result = cli(*args)
        assert result.exit_code == 0 and "Example:" in result.stdout


def test_a_ticked_item_that_left_the_data_is_still_listed(project, store, cli):
    more_mail(store, "podpora@kolo-shop.cz", 1, original="servis@kolo-shop.cz")
    check(project, store, "email:servis@kolo-shop.cz", note="alias zrušen")
    with store.begin() as conn:  # the mail that showed the alias is gone (e.g. a fresh store)
        conn.exec_driver_sql("DELETE FROM messages")
    md = cli("audit").stdout
    assert "### Ticked earlier, no longer in the data" in md
    assert "- [x] `email:servis@kolo-shop.cz` — note: alias zrušen" in md
    data = json.loads(cli("--json", "audit").stdout)
    assert data["orphaned_checks"] == [
        {"id": "email:servis@kolo-shop.cz", "checked": True, "note": "alias zrušen"}
    ]
