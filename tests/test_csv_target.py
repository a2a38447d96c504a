"""The csv target: the canonical layout, counted against the id map, written atomically."""

from __future__ import annotations

import csv
import hashlib
import os

import pytest
import sqlalchemy as sa

from deskmove import csvlayout
from deskmove.errors import UsageError
from deskmove.model import Ticket
from deskmove.sync import export_target, import_source
from tests.csvhelp import EXAMPLES, canonical_folder, message_row, ticket_row


def read(path):
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@pytest.fixture
def loaded(project, store):
    import_source(project, store, f"csv:{EXAMPLES / 'helpdesk'}")
    return store


def test_export_writes_the_canonical_layout(project, loaded, tmp_path):
    out = tmp_path / "out"
    _name, rep = export_target(project, loaded, f"csv:{out}")
    assert sorted(p.name for p in out.iterdir()) == [
        "attachments",
        "attachments.csv",
        "deskmove-export.json",
        "messages.csv",
        "people.csv",
        "tickets.csv",
    ]
    for name, columns in csvlayout.FILES.items():
        assert tuple(read(out / name)[0]) == columns
    tickets, messages = read(out / "tickets.csv")[1:], read(out / "messages.csv")[1:]
    assert (
        len(tickets) == 320
        and rep.created["ticket"] == 320
        and rep.created["message"] == len(messages)
    )
    assert (out / "tickets.csv").read_bytes().count(b"\r\n") >= 321  # RFC 4180 line ends
    for row in read(out / "attachments.csv")[1:]:
        data = (out / row[5]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row[4] and len(data) == int(row[3])
    people = {r[0]: r for r in read(out / "people.csv")[1:]}
    assert any(r[5] for r in people.values())  # several addresses survive in other_emails
    assert all(t[13].endswith("+00:00") for t in tickets)


def test_a_second_export_is_unchanged_and_a_change_is_an_update(project, loaded, tmp_path):
    out = tmp_path / "out"
    export_target(project, loaded, f"csv:{out}")
    _n, again = export_target(project, loaded, f"csv:{out}")
    assert sum(again.created.values()) == sum(again.updated.values()) == 0
    assert again.unchanged["ticket"] == 320
    with loaded.engine.begin() as c:
        c.execute(
            sa.update(Ticket.__table__).where(Ticket.__table__.c.id == 5).values(subject="Změněno")
        )
    _n, third = export_target(project, loaded, f"csv:{out}")
    assert third.updated["ticket"] == 1 and third.unchanged["ticket"] == 319
    assert ["5", "Změněno"] == [r for r in read(out / "tickets.csv") if r[0] == "5"][0][::3][:2]


def test_dry_run_writes_nothing(project, loaded, tmp_path):
    out = tmp_path / "out"
    _n, rep = export_target(project, loaded, f"csv:{out}", dry_run=True)
    assert rep.dry_run and rep.created["ticket"] == 320 and not out.exists()
    _n, real = export_target(project, loaded, f"csv:{out}")
    assert real.created["ticket"] == 320  # the dry run recorded nothing


def test_a_folder_with_other_files_is_refused(project, loaded, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"precious")
    with pytest.raises(UsageError, match="already holds files that deskmove did not export"):
        export_target(project, loaded, f"csv:{out}")
    assert (out / "thesis.docx").read_bytes() == b"precious"


def test_leftovers_of_a_crashed_export_are_cleaned_and_the_old_export_restored(
    project, loaded, tmp_path
):
    out = tmp_path / "out"
    export_target(project, loaded, f"csv:{out}")
    # A crash between the two renames of the swap: the old export moved away, the new one not in place.
    os.rename(out, tmp_path / ".out.old-999")
    (tmp_path / ".out.tmp-abc").mkdir()
    (tmp_path / ".out.tmp-abc/tickets.csv").write_text("half", encoding="utf-8")
    _n, rep = export_target(project, loaded, f"csv:{out}")
    assert rep.unchanged["ticket"] == 320
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []
    assert len(read(out / "tickets.csv")) == 321


def test_message_offsets_and_flags_are_written(project, store, tmp_path):
    folder = canonical_folder(
        tmp_path / "in",
        [ticket_row("1")],
        [
            message_row("10", "1", created_at="2024-03-01T09:30:00+01:00"),
            message_row(
                "11",
                "1",
                created_at="2024-03-01T10:30:00.250000Z",
                public="false",
                direction="outbound",
            ),
        ],
    )
    import_source(project, store, f"csv:{folder}")
    out = tmp_path / "out"
    export_target(project, store, f"csv:{out}")
    msgs = read(out / "messages.csv")[1:]
    assert [(m[8], m[7], m[6]) for m in msgs] == [
        ("2024-03-01T09:30:00+01:00", "true", "inbound"),
        ("2024-03-01T10:30:00.250000Z", "false", "outbound"),
    ]
