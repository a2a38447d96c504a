"""The store's upsert-by-provenance, on SQLite and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from deskmove.errors import StoreError
from deskmove.model import Attachment, Message, Person, PersonEmail, Quarantine, Ticket
from deskmove.records import (
    AttachmentRec,
    Batch,
    MessageRec,
    PersonRec,
    PersonRef,
    QuarantineRec,
    TicketRec,
)
from deskmove.store.engine import current_revision

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))


def ticket(
    nid: str, subject: str = "Objednávka č. 42 nedorazila", n_messages: int = 2, **kw
) -> TicketRec:
    msgs = [
        MessageRec(
            native_id=f"{nid}/m{i}",
            created_at=T0 + timedelta(hours=i),
            author=PersonRef(email="jana@zakaznik.cz", name="Jana Nováková")
            if i % 2 == 0
            else PersonRef(email="agent@shop.example", name="Agent", role="agent"),
            direction="inbound" if i % 2 == 0 else "outbound",
            body_text=f"zpráva {i}",
        )
        for i in range(n_messages)
    ]
    return TicketRec(
        native_id=nid,
        subject=subject,
        requester=PersonRef(email="jana@zakaznik.cz"),
        tags=["vip", "cz"],
        custom_fields={"order": 42},
        created_at=T0,
        updated_at=T0,
        messages=msgs,
        **kw,
    )


def count(store, model) -> int:
    with store.engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one()


def test_schema_is_at_the_newest_migration(any_store):
    from alembic.script import ScriptDirectory

    from deskmove.store.engine import MIGRATIONS

    heads = ScriptDirectory(str(MIGRATIONS)).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    assert current_revision(any_store.engine) == heads[0]


def test_ingest_twice_changes_nothing_the_second_time(any_store):
    ing = any_store.ingestor("csv:test", None)
    first = ing.ingest(Batch(tickets=[ticket("1"), ticket("2")], read=6))
    assert first.new["ticket"] == 2 and first.new["message"] == 4
    again = any_store.ingestor("csv:test", None).ingest(
        Batch(tickets=[ticket("1"), ticket("2")], read=6)
    )
    assert (sum(again.new.values()), sum(again.changed.values())) == (0, 0)
    assert again.unchanged["ticket"] == 2 and again.unchanged["message"] == 4
    assert count(any_store, Ticket) == 2 and count(any_store, Message) == 4


def test_a_changed_ticket_is_updated_not_duplicated(any_store):
    any_store.ingestor("c", None).ingest(Batch(tickets=[ticket("1")]))
    res = any_store.ingestor("c", None).ingest(Batch(tickets=[ticket("1", subject="Nová věc")]))
    assert res.changed["ticket"] == 1 and res.unchanged["message"] == 2
    with any_store.engine.connect() as c:
        assert c.execute(sa.select(Ticket.__table__.c.subject)).scalars().all() == ["Nová věc"]


def test_timestamps_come_back_aware_in_utc(any_store):
    any_store.ingestor("c", None).ingest(Batch(tickets=[ticket("1")]))
    with any_store.engine.connect() as c:
        created = c.execute(sa.select(Ticket.__table__.c.created_at)).scalar_one()
    assert created == T0 and created.tzinfo is not None and created.utcoffset() == timedelta(0)


def test_people_are_matched_by_email_and_roles_only_upgrade(any_store):
    ing = any_store.ingestor("c", None)
    ing.ingest(
        Batch(
            people=[
                PersonRec(native_id="u1", name="Jana", emails=["jana@zakaznik.cz", "jana@home.cz"])
            ]
        )
    )
    ing.ingest(Batch(tickets=[ticket("1")]))
    assert count(any_store, Person) == 2  # Jana (two addresses) and the agent
    assert count(any_store, PersonEmail) == 3
    with any_store.engine.connect() as c:
        roles = dict(c.execute(sa.select(Person.__table__.c.name, Person.__table__.c.role)).all())
    assert roles == {"Jana": "customer", "Agent": "agent"}


def test_the_same_native_id_twice_in_one_batch(any_store):
    res = any_store.ingestor("c", None).ingest(
        Batch(tickets=[ticket("1"), ticket("1", subject="later")])
    )
    assert res.new["ticket"] == 1 and res.changed["ticket"] == 1
    assert count(any_store, Ticket) == 1


def test_attachments_follow_a_changed_message(any_store):
    sha = any_store.blobs.put(b"%PDF-1.4 faktura")
    t = ticket("1", n_messages=1)
    t.messages[0].attachments = [AttachmentRec(sha256=sha, size=16, filename="faktura.pdf")]
    any_store.ingestor("c", None).ingest(Batch(tickets=[t]))
    t.messages[0].attachments.append(AttachmentRec(sha256=sha, size=16, filename="kopie.pdf"))
    res = any_store.ingestor("c", None).ingest(Batch(tickets=[t]))
    assert res.changed["message"] == 1
    assert count(any_store, Attachment) == 2
    assert any_store.blobs.get(sha) == b"%PDF-1.4 faktura"


def test_quarantine_and_state_commit_with_the_batch(any_store):
    batch = Batch(
        tickets=[ticket("1")],
        quarantined=[QuarantineRec("line 7", "bad date '32.13.2024'", b"7,x,32.13.2024")],
        state={"tickets.csv": {"offset": 1234}},
        read=4,
    )
    res = any_store.ingestor("c", 5).ingest(batch)
    assert res.quarantined == 1
    assert any_store.get_state("c") == {"tickets.csv": {"offset": 1234}}
    with any_store.engine.connect() as c:
        q = c.execute(sa.select(Quarantine.__table__)).one()
    assert (q.native_ref, q.run_id) == ("line 7", 5)
    assert any_store.blobs.get(q.raw_sha256) == b"7,x,32.13.2024"


def test_a_failing_batch_leaves_no_trace(any_store):
    bad = ticket("2")
    bad.created_at = datetime(2024, 1, 1)  # naive: refused by the store
    with pytest.raises(StoreError, match="naive datetime"):  # mapped, never a raw SQL error
        any_store.ingestor("c", None).ingest(
            Batch(tickets=[ticket("1"), bad], state={"s": {"x": 1}})
        )
    assert count(any_store, Ticket) == 0 and count(any_store, Message) == 0
    assert any_store.get_state("c") == {}


def test_a_locked_store_during_ingest_is_a_clear_error(store):
    import sqlite3

    from sqlalchemy import event

    store.engine.dispose()
    event.listen(store.engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=200"))
    other = sqlite3.connect(store.engine.url.database, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match="locked by another deskmove process"):
            store.ingestor("c", None).ingest(Batch(tickets=[ticket("1")], state={"s": {"x": 1}}))
    finally:
        other.close()
    assert count(store, Ticket) == 0 and store.get_state("c") == {}


def test_id_map_round_trip(any_store):
    any_store.map_put("zendesk:shop", "ticket", 7, None, pushed_hash=None, state="pending")
    any_store.map_put("zendesk:shop", "ticket", 7, "9001", pushed_hash="h1")
    assert any_store.id_map("zendesk:shop", "ticket") == {7: ("9001", "h1", "done")}


def test_runs_are_recorded(any_store):
    run = any_store.begin_run("import", "csv:x")
    any_store.finish_run(run, "done", {"read": 3})
    info = any_store.summary()
    assert info["runs"][0]["status"] == "done" and info["runs"][0]["counts"] == {"read": 3}
    assert info["runs"][0]["finished_at"] is not None


def test_utc_offset_is_normalised(any_store):
    t = ticket("1")
    t.created_at = datetime(2024, 6, 1, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    any_store.ingestor("c", None).ingest(Batch(tickets=[t]))
    with any_store.engine.connect() as c:
        created = c.execute(sa.select(Ticket.__table__.c.created_at)).scalar_one()
    assert created == datetime(2024, 6, 2, 4, 0, tzinfo=UTC)


def test_opening_a_store_at_the_newest_migration_skips_alembic(tmp_path, monkeypatch) -> None:
    from deskmove.store import Store
    from deskmove.store import engine as store_engine

    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(url, tmp_path / "blobs").close()  # created by the migrations
    assert store_engine.head_revision() == store_engine.current_revision(
        store_engine.make_engine(url)
    )
    import alembic.command

    def refuse(*_a, **_k):
        raise AssertionError("Alembic ran on a store that is at the newest revision")

    monkeypatch.setattr(alembic.command, "upgrade", refuse)
    Store.open(url, tmp_path / "blobs").close()  # no Alembic: one SELECT
    from deskmove.store import newstore

    monkeypatch.setattr(newstore, "SCHEMA", tmp_path / "none.sql")  # no schema file to make it
    with pytest.raises(AssertionError, match="Alembic ran"):
        Store.open(
            f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "blobs"
        )  # a new store still migrates


def test_a_new_sqlite_store_has_large_pages_and_an_old_one_keeps_its_own(tmp_path) -> None:
    import sqlite3

    from deskmove.store import Store
    from deskmove.store.engine import PAGE_BYTES

    def page_size(path) -> int:
        with sqlite3.connect(path) as con:
            return con.execute("PRAGMA page_size").fetchone()[0]

    new = tmp_path / "new.db"
    Store.open(f"sqlite:///{new}", tmp_path / "blobs").close()
    assert page_size(new) == PAGE_BYTES == 16384

    old = tmp_path / "old.db"  # made by a deskmove before the larger pages: 4 KB, WAL
    with sqlite3.connect(old) as con:
        con.execute("PRAGMA page_size=4096")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE kept (x)")
    store = Store.open(f"sqlite:///{old}", tmp_path / "blobs")
    try:  # migrated, and written as before
        done = store.ingestor("csv:test", None).ingest(Batch(tickets=[ticket("1")], read=3))
        assert done.new["ticket"] == 1 and count(store, Ticket) == 1
    finally:
        store.close()
    assert page_size(old) == 4096
