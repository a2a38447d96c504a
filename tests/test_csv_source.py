"""The csv source: canonical folders, mapped exports, encodings, quarantine, idempotency."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from deskmove.errors import ConfigError, InputError
from deskmove.model import Attachment, Message, Quarantine, Ticket
from deskmove.sync import import_source
from tests.csvhelp import (
    EXAMPLES,
    MESSAGE_HEADER,
    TICKET_HEADER,
    canonical_folder,
    message_row,
    ticket_row,
    write_csv,
)


def rows(store, table, *cols, order=None):
    t = table.__table__
    with store.engine.connect() as c:
        q = sa.select(*(t.c[x] for x in cols)).order_by(order if order is not None else t.c.id)
        return [tuple(r) for r in c.execute(q)]


def quarantined(store):
    return rows(store, Quarantine, "native_ref", "reason", "raw_sha256")


def test_the_sample_helpdesk_imports_completely_and_twice_changes_nothing(project, store):
    first = import_source(project, store, f"csv:{EXAMPLES / 'helpdesk'}")
    n_tickets = sum(1 for _ in (EXAMPLES / "helpdesk/tickets.csv").open(encoding="utf-8")) - 1
    assert first.quarantined == 0 and first.counts.new["ticket"] == n_tickets == 320
    assert first.read == first.imported and first.counts.new["message"] > 1000
    assert first.notes[0] == "tickets.csv: utf-8, delimiter ','"
    again = import_source(project, store, f"csv:{EXAMPLES / 'helpdesk'}")
    assert (again.new, again.changed, again.unchanged) == (0, 0, first.read)
    assert len(rows(store, Ticket, "id")) == 320


def test_a_changed_row_is_changed_not_duplicated(project, store, tmp_path):
    folder = canonical_folder(
        tmp_path / "in",
        [ticket_row("1"), ticket_row("2")],
        [message_row("10", "1"), message_row("20", "2")],
    )
    import_source(project, store, f"csv:{folder}")
    canonical_folder(
        folder,
        [ticket_row("1", subject="Nový předmět"), ticket_row("2")],
        [message_row("10", "1"), message_row("20", "2", body="upraveno")],
    )
    rep = import_source(project, store, f"csv:{folder}")
    assert (rep.new, rep.changed, rep.unchanged) == (0, 2, 2)
    assert rows(store, Ticket, "subject") == [("Nový předmět",), ("Objednávka č. 42",)]
    assert rows(store, Message, "body_text") == [("Dobrý den",), ("upraveno",)]


def test_malformed_rows_are_quarantined_with_line_and_reason(project, store, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = ",".join(f'"{v}"' if "," in v or '"' in v else v for v in ticket_row("1")).encode()
    lines = [
        ",".join(TICKET_HEADER).encode(),
        good,  # line 2
        ",".join(ticket_row("2", created_at="32.13.2024")).encode(),  # bad date
        ",".join(ticket_row("", subject="bez id")).encode(),  # missing id
        b'5,,,"Unclosed quote,open,,,email,a@b.cz,,,,,2024-03-01T09:30:00Z,,,0,',  # broken quoting
        b"6,,,too few columns",  # wrong column count
        ",".join(ticket_row("7", status="archived")).encode(),  # unknown status
        ",".join(ticket_row("8", subject="poslední")).encode(),
    ]
    (folder / "tickets.csv").write_bytes(b"\r\n".join(lines) + b"\r\n")
    rep = import_source(project, store, f"csv:{folder}")
    assert rep.read == 7 and rep.quarantined == 5 and rep.imported == 2 and rep.balanced
    got = {ref: reason for ref, reason, _sha in quarantined(store)}
    assert got["tickets.csv line 3"].startswith("bad date in created_at: '32.13.2024'")
    assert got["tickets.csv line 4"] == "missing id"
    assert got["tickets.csv line 5"].startswith("broken quoting")
    assert got["tickets.csv line 6"] == "wrong column count: 4 columns, expected 18"
    assert got["tickets.csv line 7"].startswith("unknown status 'archived'")
    raw = {ref: sha for ref, _r, sha in quarantined(store)}
    assert store.blobs.get(raw["tickets.csv line 5"]) == lines[4] + b"\r\n"
    assert rows(store, Ticket, "subject") == [("Objednávka č. 42",), ("poslední",)]
    again = import_source(project, store, f"csv:{folder}")
    assert again.quarantined == 5 and len(quarantined(store)) == 5  # kept once, not piled up


@pytest.mark.parametrize(
    ("encoding", "delimiter", "bom", "label", "text"),
    [
        ("utf-8", ",", False, "utf-8", "Žluťoučký kůň úpěl ďábelské ódy"),
        ("utf-8", ",", True, "utf-8 with BOM", "Zażółć gęślą jaźń"),
        ("cp1250", ";", False, "windows-1250", "Příliš žluťoučký kůň; Zażółć gęślą jaźń"),
        ("cp1251", ";", False, "windows-1251", "Съешь же ещё этих мягких французских булок"),
        ("iso8859_2", "\t", False, "iso-8859-2", "Příliš žluťoučký kůň úpěl ďábelské ódy, šťastný"),
    ],
    ids=["utf8", "utf8-bom", "cp1250-semicolon", "cp1251", "iso8859-2-tab"],
)
def test_encoding_and_delimiter_are_detected(
    project, store, tmp_path, encoding, delimiter, bom, label, text
):
    tickets = [ticket_row(str(i), subject=f"{text} {i}") for i in range(1, 30)]
    path = write_csv(
        tmp_path / "tickets.csv",
        TICKET_HEADER,
        tickets,
        encoding=encoding,
        delimiter=delimiter,
        bom=bom,
    )
    rep = import_source(project, store, f"csv:{path}")
    shown = "\\t" if delimiter == "\t" else delimiter
    assert rep.notes == [f"tickets.csv: {label}, delimiter '{shown}'"]
    assert rep.imported == 29 and rep.quarantined == 0
    assert rows(store, Ticket, "subject")[0] == (f"{text} 1",)


def test_encoding_can_be_given(project, store, tmp_path):
    path = write_csv(
        tmp_path / "t.csv", TICKET_HEADER, [ticket_row("1", subject="Łódź")], encoding="cp1250"
    )
    rep = import_source(project, store, f"csv:{path}?encoding=cp1250&delimiter=,")
    assert rows(store, Ticket, "subject") == [("Łódź",)] and rep.notes[0].startswith(
        "t.csv: windows-1250"
    )


def test_bytes_invalid_in_the_detected_encoding_are_quarantined(project, store, tmp_path):
    path = write_csv(tmp_path / "t.csv", TICKET_HEADER, [ticket_row(str(i)) for i in range(1, 5)])
    path.write_bytes(
        path.read_bytes() + b"5,,,Chybn\xe9 k\xf3dov\xe1n\xed,open,,,email,,,,,,,,,,\r\n"
    )
    rep = import_source(project, store, f"csv:{path}?encoding=utf-8")
    assert rep.imported == 4 and rep.quarantined == 1
    assert quarantined(store)[0][1] == "line 6 is not valid utf-8 text"


def test_messages_in_any_order_are_joined_to_their_tickets(project, store, tmp_path):
    tickets = [ticket_row(str(i)) for i in range(1, 6)]
    messages = [
        message_row(f"{i}{k}", str(i), body=f"t{i} m{k}") for k in range(3) for i in (5, 1, 3, 2, 4)
    ]
    messages.append(message_row("99", "77"))  # no such ticket
    folder = canonical_folder(tmp_path / "in", tickets, messages)
    rep = import_source(project, store, f"csv:{folder}")
    assert (
        "messages.csv is not in tickets.csv order: joined through a temporary index (slower)"
        in rep.notes
    )
    assert rep.counts.new["message"] == 15 and rep.quarantined == 1 and rep.balanced
    assert quarantined(store)[0][:2] == ("messages.csv line 17", "no ticket with this ticket_id")
    with store.engine.connect() as c:
        m, t = Message.__table__.c, Ticket.__table__.c
        pairs = c.execute(
            sa.select(t.subject, m.body_text).join_from(Message.__table__, Ticket.__table__)
        ).all()
    assert len(pairs) == 15


def test_a_quarantined_ticket_takes_its_messages_along(project, store, tmp_path):
    folder = canonical_folder(
        tmp_path / "in",
        [ticket_row("1", created_at="yesterday"), ticket_row("2")],
        [message_row("10", "1"), message_row("11", "1"), message_row("20", "2")],
    )
    rep = import_source(project, store, f"csv:{folder}")
    assert (rep.imported, rep.quarantined, rep.read) == (2, 3, 5)
    reasons = sorted(r for _ref, r, _s in quarantined(store))
    assert reasons[-1] == "its ticket (tickets.csv line 2) was quarantined"


def test_attachments_are_stored_and_checked(project, store, tmp_path):
    folder = canonical_folder(
        tmp_path / "in", [ticket_row("1")], [message_row("10", "1"), message_row("11", "1")]
    )
    pdf = b"%PDF-1.4 faktura \x00\xff"
    (folder / "files").mkdir()
    (folder / "files/faktura.pdf").write_bytes(pdf)
    sha = hashlib.sha256(pdf).hexdigest()
    write_csv(
        folder / "attachments.csv",
        ["message_id", "filename", "content_type", "size", "sha256", "path"],
        [
            ["10", "faktura.pdf", "application/pdf", str(len(pdf)), sha, "files/faktura.pdf"],
            ["10", "chybí.png", "image/png", "", "", "files/missing.png"],
            ["11", "jiná.pdf", "application/pdf", "", "0" * 64, "files/faktura.pdf"],
        ],
    )
    rep = import_source(project, store, f"csv:{folder}")
    assert rep.quarantined == 2 and rep.counts.new["message"] == 2 and rep.balanced
    assert rows(store, Attachment, "filename", "sha256", "size") == [("faktura.pdf", sha, len(pdf))]
    assert store.blobs.get(sha) == pdf
    reasons = sorted(r for _ref, r, _s in quarantined(store))
    assert reasons == [
        "attachment file 'files/missing.png' is missing",
        "files/faktura.pdf: the bytes do not match sha256 000000000000…",
    ]


def test_zendesk_style_export_through_its_mapping(project, store):
    path = EXAMPLES / "exports/zendesk-tickets.csv"
    rep = import_source(project, store, f"csv:{path}?mapping=zendesk-csv")
    assert rep.notes == ["zendesk-tickets.csv: utf-8 with BOM, delimiter ','"]
    assert rep.imported == 60 and rep.quarantined == 1
    assert quarantined(store)[0][:2] == ("zendesk-tickets.csv line 62", "unknown status 'Archived'")
    with store.engine.connect() as c:
        t = c.execute(sa.select(Ticket.__table__).order_by(Ticket.__table__.c.id)).first()
    assert t.status in ("new", "open", "pending", "hold", "solved", "closed")
    assert set(t.custom_fields) == {"Order number", "Product"}
    assert t.created_at.utcoffset().total_seconds() == 0 and t.created_at.tzinfo is not None


def test_freshdesk_style_export_in_windows_1250(project, store):
    path = EXAMPLES / "exports/freshdesk-tickets.csv"
    rep = import_source(project, store, f"csv:{path}?mapping=freshdesk-csv")
    assert rep.notes == ["freshdesk-tickets.csv: windows-1250, delimiter ';'"]
    assert (
        rep.counts.new["ticket"] == 50 and rep.counts.new["message"] == 50 and rep.quarantined == 1
    )
    assert quarantined(store)[0][1] == "bad date '31.02.2025 25:61' in Created time"
    subjects = " ".join(s for (s,) in rows(store, Ticket, "subject"))
    assert any(ch in subjects for ch in "ěščřžýáíéůúĄąĘęŁłŃńŚśŹźŻż")  # Czech/Polish text survived
    with store.engine.connect() as c:
        t = c.execute(sa.select(Ticket.__table__).where(Ticket.__table__.c.tags != "[]")).first()
    assert t.tags and "," not in "".join(t.tags)


def test_unknown_mapping_lists_the_valid_ones(project, store, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["Id"], [["1"]])
    with pytest.raises(ConfigError) as err:
        import_source(project, store, f"csv:{path}?mapping=nosuch")
    assert str(err.value).startswith("unknown mapping 'nosuch' — valid mappings: ")
    assert "zendesk-csv" in str(err.value) and "freshdesk-csv" in str(err.value)


def test_a_bad_mapping_key_is_reported_with_its_path(project, store, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["Id"], [["1"]])
    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "name: mine\ncolumns: {id: Id}\ndates: {formatz: ['%d.%m.%Y']}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"mine.yaml: dates.formatz: unknown key"):
        import_source(project, store, f"csv:{path}?mapping={bad}")
    bad.write_text(
        "name: mine\ncolumns: {id: Id}\nvalues: {status: {Hotovo: done}}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"values.status.Hotovo: 'done' is not a status"):
        import_source(project, store, f"csv:{path}?mapping={bad}")


def test_a_users_own_mapping_file(project, store, tmp_path):
    path = write_csv(
        tmp_path / "export.csv",
        ["Číslo", "Předmět", "Stav", "Založeno"],
        [
            ["A-1", "Reklamace", "Vyřízeno", "01.03.2024 09:30"],
            ["A-2", "Dotaz", "Otevřeno", "02.03.2024 10:00"],
        ],
        encoding="cp1250",
        delimiter=";",
    )
    mine = tmp_path / "muj.yaml"
    mine.write_text(
        "name: muj\ncolumns: {id: Číslo, subject: Předmět, status: Stav, created_at: Založeno}\n"
        "values: {status: {Vyřízeno: solved, Otevřeno: open}}\n"
        "dates: {formats: ['%d.%m.%Y %H:%M'], timezone: Europe/Prague}\n",
        encoding="utf-8",
    )
    rep = import_source(project, store, f"csv:{path}?mapping={mine}")
    assert rep.imported == 2
    got = rows(store, Ticket, "subject", "status", "created_at")
    assert [(s, st) for s, st, _c in got] == [("Reklamace", "solved"), ("Dotaz", "open")]
    assert got[0][2].isoformat() == "2024-03-01T08:30:00+00:00"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("csv:{tmp}/nowhere", "{tmp}/nowhere does not exist — check the path"),
        ("csv:{tmp}", "{tmp} has no tickets.csv — give a folder in the canonical CSV layout"),
        (
            "csv:{tmp}/other.csv",
            "other.csv is not in deskmove's canonical CSV layout (it has no 'id' column) — pass ?mapping=NAME",
        ),
        (
            "csv:{tmp}/other.csv?mapping=zendesk-csv",
            "other.csv has no column 'Id' that mapping zendesk-csv reads ticket ids from",
        ),
        (
            "csv:{tmp}/utf16.csv",
            "utf16.csv is UTF-16, which the csv source does not read — save it as UTF-8",
        ),
        ("csv:{tmp}/other.csv?encoding=klingon", "unknown encoding 'klingon'"),
    ],
    ids=["missing", "no-tickets-csv", "not-canonical", "mapping-column", "utf16", "bad-encoding"],
)
def test_unreadable_input_is_a_clear_error(project, store, tmp_path, spec, message):
    (tmp_path / "other.csv").write_text("Ticket,Subject\n1,x\n", encoding="utf-8")
    (tmp_path / "utf16.csv").write_bytes("id,subject\n1,x\n".encode("utf-16"))
    with pytest.raises((InputError, ConfigError)) as err:
        import_source(project, store, spec.format(tmp=tmp_path))
    assert str(err.value).startswith(message.format(tmp=tmp_path))
    assert err.value.exit_code == 2


def test_broken_quoting_does_not_swallow_the_rows_after_it(project, store, tmp_path):
    header = ",".join(MESSAGE_HEADER).encode()
    lines = [header]
    for i in range(1, 9):
        body = '"unclosed body' if i == 3 else f'"multi\nline ""{i}"", ok"'
        lines.append(f"{i},1,,,a@b.cz,A,inbound,true,2024-03-01T09:30:00Z,,{body},,0".encode())
    folder = tmp_path / "in"
    write_csv(folder / "tickets.csv", TICKET_HEADER, [ticket_row("1")])
    (folder / "messages.csv").write_bytes(b"\n".join(lines) + b"\n")
    rep = import_source(project, store, f"csv:{folder}")
    assert rep.counts.new["message"] == 7 and rep.quarantined == 1 and rep.balanced
    assert quarantined(store)[0][0] == "messages.csv line 6"
    assert ('multi\nline "8", ok',) in rows(store, Message, "body_text")


def test_an_unreadable_ticket_row_takes_its_messages_and_attachments_along(
    project, store, tmp_path
):
    folder = canonical_folder(
        tmp_path / "in",
        [ticket_row("1"), ticket_row("2", subject="BAD"), ticket_row("3")],
        [
            message_row("10", "1"),
            message_row("20", "2"),
            message_row("21", "2"),
            message_row("30", "3"),
        ],
    )
    tickets = folder / "tickets.csv"
    tickets.write_bytes(tickets.read_bytes().replace(b"BAD", b"Chybn\xe9"))  # latin-1, not UTF-8
    (folder / "a").mkdir()
    for name in ("x", "y", "z"):
        (folder / "a" / name).write_bytes(name.encode() * 10)
    header = ["message_id", "filename", "content_type", "size", "sha256", "path"]
    write_csv(
        folder / "attachments.csv",
        header,
        [
            ["10", "x.txt", "text/plain", "", "", "a/x"],
            ["21", "y.txt", "text/plain", "", "", "a/y"],
            ["30", "z.txt", "text/plain", "", "", "a/z"],
        ],
    )
    rep = import_source(project, store, f"csv:{folder}?encoding=utf-8")
    assert not any("temporary index" in n for n in rep.notes)  # the fast, merged join
    assert (rep.counts.new["ticket"], rep.counts.new["message"], rep.quarantined) == (2, 2, 4)
    reasons = sorted(r for _ref, r, _s in quarantined(store))
    assert reasons == [
        "its message was quarantined (its ticket (tickets.csv line 3) was quarantined)",
        "its ticket (tickets.csv line 3) was quarantined",
        "its ticket (tickets.csv line 3) was quarantined",
        "line 3 is not valid utf-8 text",
    ]
    assert sorted(f for (f,) in rows(store, Attachment, "filename")) == ["x.txt", "z.txt"]


def test_message_times_and_flags_in_every_form_the_csv_may_write(project, store, tmp_path):
    """The times deskmove writes are read on a fast path; every other form reads as before."""
    forms = [
        dict(created_at="2024-03-01T09:30:00Z"),
        dict(created_at="2024-03-01T09:30:00+05:30"),
        dict(created_at=" 2024-03-01T09:30:00z "),
        dict(created_at="2024-03-01 09:30:00-02:00"),
        dict(created_at="2024-03-01T09:30:00"),
        dict(created_at="2024-02-30T09:30:00Z"),
        dict(created_at=""),
        dict(public=" TRUE "),
        dict(public="no"),
        dict(public="maybe"),
    ]
    folder = canonical_folder(
        tmp_path / "in",
        [ticket_row("1", updated_at="2024-03-02T10:00:00Z"), ticket_row("2", solved_at="nikdy")],
        [message_row(str(n), "1", **kw) for n, kw in enumerate(forms, 1)],
    )
    import_source(project, store, f"csv:{folder}")
    with store.engine.connect() as c:
        m = Message.__table__.c
        kept = [
            (str(created)[:19] if created else None, tz, public)
            for created, tz, public in c.execute(
                sa.select(m.created_at, m.created_tz, m.public).order_by(m.id)
            )
        ]
    assert kept == [
        ("2024-03-01 09:30:00", None, True),  # Z: UTC, no local offset kept
        ("2024-03-01 04:00:00", 330, True),
        ("2024-03-01 11:30:00", -120, True),
        (None, None, True),
        ("2024-03-01 08:30:00", 60, True),
        ("2024-03-01 08:30:00", 60, False),
    ]
    assert {ref: why for ref, why, _sha in quarantined(store)} == {
        "messages.csv line 4": "bad date in created_at: '2024-03-01T09:30:00z' "
        "is not an ISO 8601 timestamp",
        "messages.csv line 6": "bad date in created_at: '2024-03-01T09:30:00' has no UTC offset",
        "messages.csv line 7": "bad date in created_at: '2024-02-30T09:30:00Z' "
        "is not an ISO 8601 timestamp",
        "messages.csv line 11": "public: 'maybe' is not true or false",
        "tickets.csv line 3": "bad date in solved_at: 'nikdy' is not an ISO 8601 timestamp",
    }
