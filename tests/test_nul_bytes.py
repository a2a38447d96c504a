"""NUL bytes in text: one rule on SQLite and PostgreSQL — stripped at the store's door, noted.

PostgreSQL refuses NUL in text columns; SQLite would keep it and the CSV export
would write it. The raw original (the mail's blob) keeps its bytes untouched.
"""

from __future__ import annotations

import mailbox

import pytest
import sqlalchemy as sa

from deskmove.config import Project
from deskmove.model import Message, Person, PersonEmail, Ticket
from deskmove.store import Store
from deskmove.sync import export_target, import_source
from tests.csvhelp import TICKET_HEADER, ticket_row, write_csv
from tests.mailhelp import mail


@pytest.fixture(params=["sqlite", "postgres"])
def nul_project(request, project_dir, monkeypatch):
    if request.param == "postgres":
        monkeypatch.setenv("DESKMOVE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    project = Project.load(project_dir)
    store = Store.open(project.store_url, project.blob_root)
    yield project, store
    store.close()


def _mbox(tmp_path, n: int = 5):
    path = tmp_path / "nul.mbox"
    box = mailbox.mbox(str(path))
    for i in range(n):
        frm = "Jan\x00 Novák <jan\x00@example.cz>" if i == 2 else f"Petr {i} <p{i}@example.cz>"
        subject = "Objedn\x00ávka" if i == 2 else f"Dotaz {i}"
        box.add(mail(frm=frm, subject=subject, mid=f"<m{i}@example.cz>", body=f"Tělo\x00 {i}\n"))
    box.close()
    return path


def _texts(store: Store) -> list[str]:
    out: list[str] = []
    with store.engine.connect() as c:
        for table, cols in (
            (Ticket, ("subject",)),
            (Message, ("subject", "body_text")),
            (Person, ("name",)),
            (PersonEmail, ("email",)),
        ):
            t = table.__table__
            out += [v for row in c.execute(sa.select(*(t.c[x] for x in cols))) for v in row if v]
    return out


@pytest.mark.timeout(120)
def test_nul_in_from_subject_and_body_is_stripped_with_a_note(nul_project, tmp_path):
    project, store = nul_project
    rep = import_source(project, store, f"mbox:{_mbox(tmp_path)}")
    assert rep.counts.new["message"] == 5 and rep.quarantined == 0 and rep.balanced
    texts = _texts(store)
    assert not [t for t in texts if "\x00" in t]
    assert "Objednávka" in texts and "jan@example.cz" in texts
    assert any("NUL" in n and "stripped" in n for n in rep.notes), rep.notes
    with store.engine.connect() as c:
        sha = c.execute(
            sa.select(Message.__table__.c.raw_sha256).where(
                Message.__table__.c.subject == "Objednávka"
            )
        ).scalar_one()
    assert b"Objedn\x00" in store.blobs.get(sha)  # the original is untouched
    again = import_source(project, store, f"mbox:{_mbox(tmp_path)}")
    assert again.imported == 0  # and a re-run changes nothing

    out = tmp_path / "out"
    export_target(project, store, f"csv:{out}")
    for f in out.glob("*.csv"):
        assert b"\x00" not in f.read_bytes(), f.name


@pytest.mark.timeout(120)
def test_nul_in_a_csv_row_is_stripped_too(nul_project, tmp_path):
    project, store = nul_project
    path = write_csv(
        tmp_path / "t.csv",
        TICKET_HEADER,
        [ticket_row("1", subject="Faktura\x00 č. 7", tags="a\x00b")],
    )
    rep = import_source(project, store, f"csv:{path}")
    assert rep.imported == 1 and rep.quarantined == 0
    assert "Faktura č. 7" in _texts(store)


def test_the_csv_export_never_writes_nul_even_from_an_older_store(project, store, tmp_path):
    path = write_csv(tmp_path / "t.csv", TICKET_HEADER, [ticket_row("1", subject="Faktura")])
    import_source(project, store, f"csv:{path}")
    with store.engine.begin() as c:  # as a store written before the rule would hold it
        c.execute(Ticket.__table__.update().values(subject="Fak\x00tura"))
    out = tmp_path / "out"
    export_target(project, store, f"csv:{out}")
    data = (out / "tickets.csv").read_bytes()
    assert b"\x00" not in data and b"Faktura" in data
