"""export csv, then import csv into a fresh project: nothing changes on the way."""

from __future__ import annotations

import json

import pytest

from deskmove.config import Project, init_project
from deskmove.store import Store
from deskmove.sync import export_target, import_source
from tests.csvhelp import (
    EXAMPLES,
    MESSAGE_HEADER,
    TICKET_HEADER,
    dump,
    message_row,
    ticket_row,
    write_csv,
)


def fresh(root):
    init_project(root)
    project = Project.load(root)
    return project, Store.open(project.store_url, project.blob_root)


def hop(src_project, src_store, tmp_path, name):
    out = tmp_path / f"export-{name}"
    export_target(src_project, src_store, f"csv:{out}")
    project, store = fresh(tmp_path / f"project-{name}")
    rep = import_source(project, store, f"csv:{out}")
    assert rep.quarantined == 0 and rep.balanced
    return project, store, out


def test_the_sample_helpdesk_survives_export_and_import(project, store, tmp_path):
    import_source(project, store, f"csv:{EXAMPLES / 'helpdesk'}")
    before = dump(store)
    p2, s2, out1 = hop(project, store, tmp_path, "b")
    try:
        after = dump(s2)
        assert after == before
        assert len(after["tickets"]) == 320 and any(len(p[4]) > 1 for p in after["people"].values())
        atts = [a for t in after["tickets"] for m in t[-1] for a in m[-1]]
        assert atts and all(s2.blobs.get(a[3]) == store.blobs.get(a[3]) for a in atts)
        # a second hop writes the same files (ids aside, which are the new store's own)
        p3, s3, out2 = hop(p2, s2, tmp_path, "c")
        assert dump(s3) == before
        assert (out2 / "people.csv").read_bytes() == (out1 / "people.csv").read_bytes()
        s3.close()
    finally:
        s2.close()


EDGE_BODIES = [
    'comma, "quotes" and\r\nnewlines\r\n\r\nand a blank line',
    "emoji 😀👍🏽 and Cyrillic: Съешь же ещё этих мягких французских булок",
    "a lone \r carriage return and a tab\there",
    "  leading and trailing spaces  ",
    "=SUM(A1:A2) looks like a formula",
    "x" * 200_000,
]


@pytest.mark.parametrize(
    "body",
    EDGE_BODIES,
    ids=["quotes-newlines", "emoji-cyrillic", "cr-tab", "spaces", "formula", "200k"],
)
def test_edge_case_bodies_survive(project, store, tmp_path, body):
    folder = tmp_path / "in"
    write_csv(
        folder / "tickets.csv",
        TICKET_HEADER,
        [
            ticket_row(
                "1",
                subject=body[:300],
                tags="a b",
                custom_fields=json.dumps({"poznámka": body[:50], "n": 1.5, "seznam": [1, "dva"]}),
            ),
            ticket_row("2", subject="", priority="", created_at="", requester_email=""),
        ],
    )
    write_csv(
        folder / "messages.csv",
        MESSAGE_HEADER,
        [
            message_row("10", "1", body=body, body_html=f"<p>{body[:100]}</p>"),
            message_row(
                "20", "2", body="", author_email="", author_name="Bez adresy", created_at=""
            ),
        ],
    )
    rep = import_source(project, store, f"csv:{folder}")
    assert rep.quarantined == 0
    before = dump(store)
    assert before["tickets"][-1][-1][0][6] == body or before["tickets"][0][-1][0][6] == body
    _p, s2, _out = hop(project, store, tmp_path, "b")
    try:
        assert dump(s2) == before
    finally:
        s2.close()


def test_round_trip_through_a_postgresql_store(tmp_path, postgres_url, monkeypatch):
    """The same hop with the first store on PostgreSQL: ingest and export are dialect-neutral."""
    monkeypatch.setenv("DESKMOVE_DATABASE_URL", postgres_url)
    pg_project, pg_store = fresh(tmp_path / "pg")
    try:
        first = import_source(pg_project, pg_store, f"csv:{EXAMPLES / 'helpdesk'}")
        again = import_source(pg_project, pg_store, f"csv:{EXAMPLES / 'helpdesk'}")
        assert first.quarantined == 0 and (again.new, again.changed) == (0, 0)
        out = tmp_path / "export"
        export_target(pg_project, pg_store, f"csv:{out}")
        monkeypatch.delenv("DESKMOVE_DATABASE_URL")
        project, store = fresh(tmp_path / "sqlite")
        try:
            rep = import_source(project, store, f"csv:{out}")
            assert rep.quarantined == 0
            assert dump(store) == dump(pg_store)
        finally:
            store.close()
    finally:
        pg_store.close()
