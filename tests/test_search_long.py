"""A long ticket's search document: appended batch by batch in parts, as a rebuild makes it,
without reading the ticket's stored messages back."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from deskmove.config import Project, init_project
from deskmove.mail import parallel
from deskmove.sources import mbox
from deskmove.store import Store, search
from deskmove.sync import import_source
from tests.mailhelp import at, mail

SUPPORT = '[mail]\nsupport_addresses = ["support@shop.example"]\n'
TEXT = "Dobrý den, zásilka č. {i} ještě nedorazila, žluťoučký kůň úpěl ďábelské ódy. "


def long_thread(path: Path, count: int) -> Path:
    """One conversation of ``count`` mails, each a reply to the one before, customer and
    support in turn, each with words of its own; half-way a colleague of the customer's
    joins (a new name in the document's header, which every part repeats)."""
    out = []
    for i in range(count):
        agent = i % 2 == 1
        customer = (
            "Petr Černý <petr@example.cz>"
            if i == count // 2
            else "Jana Dvořáková <jana@example.cz>"
        )
        raw = mail(
            frm="support@shop.example" if agent else customer,
            to="jana@example.cz" if agent else "support@shop.example",
            subject=("Re: " if i else "") + "Reklamace",
            mid=f"<long{i}@example.cz>",
            irt=f"<long{i - 1}@example.cz>" if i else None,
            date=at(i),
            body=TEXT.format(i=i) * 4 + f"slovo{i}\n",
        )
        out.append(b"From z@example.cz Mon Mar  3 09:00:00 2025\n" + raw + b"\n")
    path.write_bytes(b"".join(out))
    return path


def documents(conn: sa.Connection) -> list[tuple[int, str]]:
    """(ticket id, document) of every part, in part order."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(sa.text("SELECT rowid, doc FROM search_fts ORDER BY rowid"))
        return [(rowid // search.PARTS, doc) for rowid, doc in rows]
    q = "SELECT ticket_id, doc FROM search_docs ORDER BY ticket_id, part"
    return [(tid, doc) for tid, doc in conn.execute(sa.text(q))]


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of 1,000 characters (not 200,000), and 5 mails per batch: a thread of a
    hundred mails spans many batches and many parts."""
    monkeypatch.setattr(search, "PART_CHARS", 1000)
    monkeypatch.setattr(search, "DOC_CHARS", search.PARTS * 1001, raising=False)
    monkeypatch.setattr(mbox, "BATCH_MAILS", 5)
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")


def import_thread(store: Store, tmp_path: Path, count: int) -> tuple[int, list[str]]:
    """Import the thread; returns its ticket's id and the SELECTs that read message text."""
    box = long_thread(tmp_path / "long.mbox", count)
    root = tmp_path / "p"
    init_project(root)
    (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    project = Project.load(root)
    reads: list[str] = []

    def spy(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "body_text" in statement:
            reads.append(statement)

    event.listen(Engine, "before_cursor_execute", spy)
    try:
        report = import_source(project, store, f"mbox:{box}")
    finally:
        event.remove(Engine, "before_cursor_execute", spy)
    assert report.counts.new["message"] == count and report.counts.new["ticket"] == 1
    with store.begin() as conn:
        (tid,) = conn.execute(sa.text("SELECT id FROM tickets")).scalars()
    return tid, reads


def test_a_long_tickets_document_grows_part_by_part_as_a_rebuild_makes_it(
    any_store: Store, tmp_path: Path, small_parts: None
) -> None:
    tid, reads = import_thread(any_store, tmp_path, 40)  # about 13,000 characters: 13 parts
    assert reads == []  # no batch read the ticket's earlier messages back
    with any_store.begin() as conn:
        appended = documents(conn)
        assert {t for t, _ in appended} == {tid}
        assert 8 <= len(appended) < search.PARTS
        assert all(doc.startswith("reklamace ") and "\n" in doc for _, doc in appended)
        assert all("petr cerny" in doc.partition("\n")[0] for _, doc in appended)
        words = " ".join(doc.partition("\n")[2] for _, doc in appended).split()
        assert [w for w in words if w.startswith("slovo")] == [f"slovo{i}" for i in range(40)]
        search.index_tickets(conn, [tid])
        assert documents(conn) == appended


def test_a_ticket_past_the_last_part_keeps_sixteen_parts_and_reads_no_messages(
    any_store: Store, tmp_path: Path, small_parts: None
) -> None:
    tid, reads = import_thread(any_store, tmp_path, 100)  # about 33,000 characters
    assert reads == []
    with any_store.begin() as conn:
        appended = documents(conn)
        assert len(appended) == search.PARTS
        assert all(len(doc) <= 1000 + len(doc.partition("\n")[0]) + 1 for _, doc in appended)
        search.index_tickets(conn, [tid])  # from the messages, as far as the parts hold
        rebuilt = documents(conn)
    assert rebuilt[:-1] == appended[:-1]
    last, again = appended[-1][1], rebuilt[-1][1]
    assert last.startswith(again) and len(last) - len(again) < 50  # a few words at most
