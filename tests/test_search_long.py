"""A long ticket's search document: appended batch by batch in parts, as a rebuild makes it,
without reading the ticket's stored messages back and rewriting no more than its first and
last parts; found by words in any of its parts; cut anew by the migration that gave the
header a part of its own; indexed as the words folding made."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine

from deskmove.config import Project, init_project
from deskmove.mail import parallel
from deskmove.sources import mbox
from deskmove.store import Store, search
from deskmove.store.revision import MIGRATIONS
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


def body_words(parts: list[str]) -> list[str]:
    """The words of a document's body: after the first part's line break, then the rest."""
    return " ".join([parts[0].partition("\n")[2], *parts[1:]]).split()


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of 1,000 characters (not 12,500), and 5 mails per batch: a thread of a
    hundred mails spans many batches and many parts."""
    monkeypatch.setattr(search, "PART_CHARS", 1000)
    monkeypatch.setattr(search, "DOC_CHARS", search.PARTS * 1001, raising=False)
    monkeypatch.setattr(mbox, "BATCH_MAILS", 5)
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")


def import_thread(
    store: Store, tmp_path: Path, count: int
) -> tuple[int, list[str], list[list[int]]]:
    """Import the thread; returns its ticket's id, the SELECTs that read message text, and
    the numbers of the parts each write to the search index wrote."""
    box = long_thread(tmp_path / "long.mbox", count)
    root = tmp_path / "p"
    init_project(root)
    (root / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    project = Project.load(root)
    reads: list[str] = []
    writes: list[list[int]] = []

    def spy(_conn, _cursor, statement, params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "body_text" in statement:
            reads.append(statement)
        if statement.startswith("INSERT INTO search_fts "):
            rows = [params] if isinstance(params[0], int) else params  # one row, or many
            writes.append([rowid % search.PARTS for rowid, _doc in rows])
        elif statement.startswith("INSERT INTO search_docs"):
            writes.append([row["p"] for row in ([params] if isinstance(params, dict) else params)])

    event.listen(Engine, "before_cursor_execute", spy)
    try:
        report = import_source(project, store, f"mbox:{box}")
    finally:
        event.remove(Engine, "before_cursor_execute", spy)
    assert report.counts.new["message"] == count and report.counts.new["ticket"] == 1
    with store.begin() as conn:
        (tid,) = conn.execute(sa.text("SELECT id FROM tickets")).scalars()
    return tid, reads, writes


def test_a_long_tickets_document_grows_part_by_part_as_a_rebuild_makes_it(
    any_store: Store, tmp_path: Path, small_parts: None
) -> None:
    tid, reads, writes = import_thread(any_store, tmp_path, 40)  # about 13,000 characters
    assert reads == []  # no batch read the ticket's earlier messages back
    with any_store.begin() as conn:
        appended = documents(conn)
        assert {t for t, _ in appended} == {tid}
        parts = [doc for _, doc in appended]
        assert 8 <= len(parts) < search.PARTS
        assert parts[0].startswith("reklamace ") and "petr cerny" in parts[0].partition("\n")[0]
        assert all("\n" not in doc and len(doc) <= 1000 for doc in parts[1:])  # body alone
        words = body_words(parts)
        assert [w for w in words if w.startswith("slovo")] == [f"slovo{i}" for i in range(40)]
        search.index_tickets(conn, [tid])
        assert documents(conn) == appended
    # Each batch wrote its new parts, its last part again, and the first when the header
    # changed (Petr joined half-way): never the parts in between.
    assert len(writes) == 8  # 40 mails, 5 per batch
    top = 0
    for written in writes[1:]:
        assert all(k == 0 or k >= top for k in written), (top, written)
        top = max(top, *written)
    assert any(0 in w and min(k for k in w if k) > 1 for w in writes[1:] if len(w) > 1)


def test_a_ticket_past_the_last_part_keeps_its_parts_and_reads_no_messages(
    any_store: Store, tmp_path: Path, small_parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "PARTS", 16)  # the store is new: its rowids follow suit
    monkeypatch.setattr(search, "DOC_CHARS", 16 * 1001)
    tid, reads, _writes = import_thread(any_store, tmp_path, 100)  # about 33,000 characters
    assert reads == []
    with any_store.begin() as conn:
        appended = documents(conn)
        assert len(appended) == 16
        assert all(len(doc) <= 1000 for _, doc in appended[1:])
        search.index_tickets(conn, [tid])  # from the messages, as far as the parts hold
        rebuilt = documents(conn)
    assert rebuilt[:-1] == appended[:-1]
    last, again = appended[-1][1], rebuilt[-1][1]
    assert last.startswith(again) and len(last) - len(again) < 50  # a few words at most


def test_a_ticket_is_found_by_words_in_different_parts(
    any_store: Store, tmp_path: Path, small_parts: None
) -> None:
    tid, _reads, _writes = import_thread(any_store, tmp_path, 40)
    with any_store.begin() as conn:
        parts = [doc for _, doc in documents(conn)]
        where = {w: k for k, doc in enumerate(parts) for w in doc.split() if w.startswith("slovo")}
        assert where["slovo0"] == 0 and where["slovo39"] >= 8
        for query in ("jana slovo39", "slovo0 slovo39", "reklamace slovo2", "petr slovo39"):
            words = search.terms(query)
            assert search.first_matches(conn, words, 10) == [tid], query
            ids = conn.execute(search.matching_ids(conn.dialect.name, words)).scalars()
            assert list(ids) == [tid], query
        assert search.first_matches(conn, search.terms("slovo39 slovo40"), 10) == []
        one_word = search.first_matches(conn, search.terms("slovo3"), 10)  # slovo3, slovo30-39
        assert set(one_word) == {tid} and len(one_word) > 1  # once per part that holds it


def _migrate(store: Store, revision: str, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_the_migration_cuts_stored_documents_anew_as_a_rebuild_would(
    any_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    monkeypatch.setattr(mbox, "BATCH_MAILS", 5)
    tid, _reads, _writes = import_thread(any_store, tmp_path, 100)  # 3 parts of 12,500
    with any_store.begin() as conn:
        new = documents(conn)
        words = body_words([doc for _, doc in new])
    assert len(new) == 3
    _migrate(any_store, "0009", down=True)  # the layout before: the header in every part
    with any_store.begin() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.execute(sa.text("SELECT rowid, doc FROM search_fts ORDER BY rowid"))
            old = [(rowid // 16, rowid % 16, doc) for rowid, doc in rows]
        else:
            q = "SELECT ticket_id, part, doc FROM search_docs ORDER BY 1, 2"
            old = [tuple(r) for r in conn.execute(sa.text(q))]
    header = new[0][1].partition("\n")[0]
    assert [(t, k) for t, k, _ in old] == [(tid, 0)]  # 33,000 characters fit in one old part
    assert old[0][2] == f"{header}\n{' '.join(words)}"
    _migrate(any_store, "head")
    with any_store.begin() as conn:
        assert documents(conn) == new
        search.index_tickets(conn, [tid])
        assert documents(conn) == new
        assert search.first_matches(conn, search.terms("jana slovo99"), 10) == [tid]


# -- the index's words --------------------------------------------------------------
def _index_words(conn: sa.Connection, doc: str) -> list[str]:
    """The words SQLite's search index makes of ``doc``, in order."""
    conn.exec_driver_sql("DELETE FROM search_fts")
    conn.exec_driver_sql("INSERT INTO search_fts (rowid, doc) VALUES (1, ?)", (doc,))
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, search_fts, instance)"
    )
    try:
        return list(conn.exec_driver_sql("SELECT term FROM temp.words ORDER BY offset").scalars())
    finally:
        conn.exec_driver_sql("DROP TABLE temp.words")


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def test_the_sqlite_index_words_are_the_folded_words(store: Store) -> None:
    """Documents and queries are folded before SQLite sees them, so the index splits at the
    spaces folding left and changes nothing else (but ASCII case: folding leaves "No" of
    "№"). Letters its own Unicode tables class otherwise, such as New Tai Lue's vowels or
    Greek letters that compatibility forms decompose to, stay as folded."""
    import random

    rng = random.Random(11)
    letters = [chr(c) for c in range(0x20, 0x3000) if not 0xD800 <= c < 0xE000]
    letters += ["😀", "𝐀", "𝚨", "ϒ", "\u0301", "ǅ", "Ⅻ", "①", "²", "_", "ß", "İ", "№", "ꭰ"]
    texts = ["ᦵᦶ Ꭰꭰ 𝚨 ϒ № 5 ǅungla", "Žluťoučký kůň, Łódź, Здравствуйте"]
    for _ in range(1500):
        size = rng.randrange(60)
        texts.append(
            "".join(
                rng.choice(letters) if rng.random() < 0.3 else rng.choice("abc ščř ł ÓŁ дЖ ")
                for _ in range(size)
            )
        )
    with store.begin() as conn:
        for text in texts:
            folded = search.normalise(text)
            assert _index_words(conn, folded) == folded.translate(_ASCII_LOWER).split(), text


def _tokenizer(conn: sa.Connection) -> str:
    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'search_fts'")
    return sql.scalar_one().partition("tokenize")[2]


def test_the_migration_to_folded_words_keeps_every_document(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(parallel.WORKERS_ENV, "1")
    monkeypatch.setattr(mbox, "BATCH_MAILS", 5)
    tid, _reads, _writes = import_thread(store, tmp_path, 40)
    with store.begin() as conn:
        new = documents(conn)
        assert "'ascii'" in _tokenizer(conn)
    _migrate(store, "0010", down=True)  # the tokenizer before: Unicode tables again
    with store.begin() as conn:
        assert "unicode61 remove_diacritics 2" in _tokenizer(conn)
        assert documents(conn) == new
        assert search.first_matches(conn, search.terms("zlutoucky slovo39"), 10) == [tid]
    _migrate(store, "head")
    with store.begin() as conn:
        assert "'ascii'" in _tokenizer(conn)
        assert documents(conn) == new
        for query in ("zlutoucky slovo39", "dvorakova", "jana slovo0", "ddabel"):
            expected = [] if query == "ddabel" else [tid]
            assert search.first_matches(conn, search.terms(query), 10) == expected, query
        search.index_tickets(conn, [tid])
        assert documents(conn) == new
