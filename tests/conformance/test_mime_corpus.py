"""The shared MIME corpus: every .eml parsed without a crash, compared with the expected files.

The expected values are another library's output (imap_tools), not ground truth.
Addresses, subjects, dates and attachment names are compared strictly; each
disagreement deskmove keeps on purpose is listed in ACCEPTED with the reason.
The agreement rate per field is printed (run with -s to see it).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deskmove.mail.parse import ParsedMail, parse_mail
from deskmove.store.blobs import BlobStore

SENTINEL = "1900-01-01T00:00:00"  # what imap_tools reports for a missing or unreadable Date

UNNAMED_PART = "deskmove keeps every non-body part as an attachment, named or not; imap_tools lists only parts it considers attachments"
INNER_EML = "an attached message is kept whole as one .eml attachment (named after its subject); imap_tools also lists the attachments inside it or leaves it unnamed"
BARE_LINE = "a header line without leading white space ('quite Delivered-To: …') inside the header block is read as a continuation, as mail clients do, so From, To and Subject below it are kept; imap_tools ends the headers there"
ACCEPTED: dict[tuple[str, str], str] = {
    ("attachment_emails/attachment_message_rfc822.eml", "attachments"): INNER_EML,
    ("forwarded_message.eml", "attachments"): INNER_EML,
    ("mime_emails/raw_email_with_mimepart_without_content_type.eml", "attachments"): INNER_EML,
    ("multipart_report_emails/multi_address_bounce1.eml", "attachments"): INNER_EML,
    ("multipart_report_emails/multi_address_bounce2.eml", "attachments"): INNER_EML,
    ("multipart_report_emails/multipart_report_multiple_status.eml", "attachments"): INNER_EML
    + "; its two delivery-status parts become body text",
    ("error_emails/missing_content_disposition.eml", "attachments"): UNNAMED_PART,
    (
        "text_with_content_id.eml",
        "attachments",
    ): "a text/plain part with a Content-ID is still the body text for a helpdesk",
    (
        "error_emails/invalid_subject_characters.eml",
        "subject",
    ): "raw 8-bit subject: deskmove decodes it (windows-1252: 'Formação', 'Verão'); imap_tools drops the bytes",
    (
        "plain_emails/raw_email_bad_time.eml",
        "date",
    ): "the Date says year 3609: a future date is clamped to the Received date (the original is kept in headers)",
    (
        "rfc2822/example14.eml",
        "subject",
    ): "folding white space before an encoded word is kept (RFC 5322 unfolding removes only the line breaks); imap_tools drops it",
    (
        "rfc2822/example13.eml",
        "from",
    ): "RFC 2822 obsolete syntax (spaces before the colon, comments): deskmove reads the address; imap_tools gives up",
    (
        "plain_emails/raw_email_with_at_display_name.eml",
        "to",
    ): "a display name holding an @ (Mikel@Lindsaar <raasdnil@gmail.com>) is the name, as mail clients show it; imap_tools adds it as a second address",
    (
        "plain_emails/mix_caps_content_type.eml",
        "from",
    ): "an address written after an unbracketed display name (Big Bug bb@bug.com) is read as the address; imap_tools glues the name to it",
    (
        "error_emails/missing_body.eml",
        "to",
    ): "<Undisclosed-Recipient:@mailman.enron.com;> is a group with no address; imap_tools keeps '@mailman.enron.com'",
    **{
        ("plain_emails/raw_email_incorrect_header.eml", f): BARE_LINE
        for f in ("subject", "from", "to")
    },
}


def _emails(items: list[tuple[str, str]]) -> list[str]:
    return [addr for _name, addr in items]


def _expected_emails(items: list[dict]) -> list[str]:
    return [a["email"].lower() for a in items if a.get("email")]


def _date(p: ParsedMail, expected: str) -> tuple[str, str]:
    e = datetime.fromisoformat(expected)
    if e.tzinfo is None:  # compare wall-clock time, as the sender wrote it
        ours = (p.date + timedelta(minutes=p.date_tz or 0)).replace(tzinfo=None)
        return ours.isoformat(), e.isoformat()
    return p.date.isoformat(), e.astimezone(UTC).isoformat()


def _compare(p: ParsedMail, exp: dict) -> dict[str, tuple[object, object]]:
    sender = exp.get("from") or {}
    fields: dict[str, tuple[object, object]] = {
        "subject": (p.subject, (exp.get("subject") or "").strip()),
        "from": (p.sender[1] if p.sender else "", (sender.get("email") or "").lower()),
        "to": (_emails(p.to), _expected_emails(exp.get("to", []))),
        "cc": (_emails(p.cc), _expected_emails(exp.get("cc", []))),
        "attachments": (
            sorted(a.filename or "" for a in p.attachments),
            sorted(a.get("filename") or "" for a in exp.get("attachments", [])),
        ),
    }
    if exp.get("date") and exp["date"] != SENTINEL:
        fields["date"] = _date(p, exp["date"])
    return fields


def test_mime_corpus(corpora: Path, tmp_path: Path) -> None:
    root = corpora / "mime" / "messages"
    blobs = BlobStore(tmp_path / "blobs")
    files = sorted(root.rglob("*.eml"))
    assert len(files) >= 100, "the MIME corpus looks incomplete"
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    unexpected, accepted, sentinel_dates = [], [], 0
    for eml in files:
        rel = eml.relative_to(root).as_posix()
        parsed = parse_mail(eml.read_bytes(), blobs)  # raises (fails the test) on any crash
        exp_file = eml.with_name(eml.name[: -len(".eml")] + ".expected.json")
        if not exp_file.exists():
            continue
        exp = json.loads(exp_file.read_text(encoding="utf-8"))
        if exp.get("date") == SENTINEL:
            sentinel_dates += 1
            assert parsed.date is not None  # deskmove always gives a date, with a fallback
        for field, (ours, theirs) in _compare(parsed, exp).items():
            total[field] += 1
            if ours == theirs:
                agree[field] += 1
            elif (rel, field) in ACCEPTED:
                accepted.append(
                    f"{rel} {field}: ours={ours!r} theirs={theirs!r} — {ACCEPTED[(rel, field)]}"
                )
            else:
                unexpected.append(f"{rel} {field}: ours={ours!r} theirs={theirs!r}")
    print("\nMIME corpus agreement:")
    for field in sorted(total):
        print(
            f"  {field:12} {agree[field]}/{total[field]} ({100 * agree[field] / total[field]:.1f}%)"
        )
    print(f"  dates imap_tools could not read (1900-01-01), deskmove fell back: {sentinel_dates}")
    print("Accepted disagreements:\n  " + "\n  ".join(accepted))
    assert not unexpected, "unexplained disagreements:\n" + "\n".join(unexpected)
    stale = [
        k for k in ACCEPTED if not any(line.startswith(f"{k[0]} {k[1]}:") for line in accepted)
    ]
    assert not stale, f"accepted disagreements that no longer occur: {stale}"
    for field in total:
        assert agree[field] / total[field] >= 0.9, field


@pytest.mark.parametrize("name", ["error_emails", "mime_emails", "multipart_report_emails"])
def test_folders_exist(corpora: Path, name: str) -> None:
    assert (corpora / "mime" / "messages" / name).is_dir()
