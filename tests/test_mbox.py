"""mbox: streaming, quoting, Gmail Takeout, Thunderbird, resuming a grown file, bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from deskmove.mail import mboxfile
from deskmove.mail.mboxfile import iter_mbox
from tests.mailhelp import at, mail

SUPPORT = (
    '[mail]\nsupport_addresses = ["support@shop.example"]\nsupport_domains = ["shop.example"]\n'
)


def from_line(n: int = 0) -> bytes:
    return f"From sender{n}@example.cz Mon Mar  3 09:{n % 60:02d}:00 2025\n".encode()


def mbox_bytes(mails: list[bytes], *, rd: bool = True) -> bytes:
    out = []
    for i, raw in enumerate(mails):
        body = raw.replace(b"\r\n", b"\n")
        if rd:
            body = b"\n".join(
                (b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln)
                for ln in body.split(b"\n")
            )
        out.append(from_line(i) + body.rstrip(b"\n") + b"\n\n")
    return b"".join(out)


@pytest.fixture
def setup(project_dir: Path, cli):
    (project_dir / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    return project_dir, cli


def rows(project_dir: Path, sql: str) -> list:
    engine = sa.create_engine(f"sqlite:///{project_dir / 'deskmove.db'}")
    with engine.connect() as c:
        out = list(c.execute(sa.text(sql)))
    engine.dispose()
    return out


def report(cli, path: Path) -> tuple[int, dict]:
    result = cli("--json", "import", f"mbox:{path}")
    return result.exit_code, json.loads(result.stdout)


def test_mboxrd_quoting_and_body_from_lines(tmp_path, setup):
    project_dir, cli = setup
    body = "Hello,\nFrom now on the order is late.\n>From a quoted line\n"
    path = tmp_path / "a.mbox"
    path.write_bytes(mbox_bytes([mail(body=body), mail(mid="<m2@example.cz>", date=at(5))]))
    code, rep = report(cli, path)
    assert code == 0, rep
    assert rep["read"] == 2 and rep["new"] == 2
    texts = [r[0] for r in rows(project_dir, "select body_text from messages order by created_at")]
    assert texts[0].replace("\r", "") == body


def test_split_is_streamed_in_small_chunks(monkeypatch):
    mails = [mail(mid=f"<s{i}@x.cz>", body=f"body {i}\nFrom here\n" * 50) for i in range(30)]
    data = mbox_bytes(mails, rd=False)
    whole = [e.raw for e in iter_mbox(io.BytesIO(data))]
    monkeypatch.setattr(mboxfile, "CHUNK", 17)
    chunked = list(iter_mbox(io.BytesIO(data)))
    assert [e.raw for e in chunked] == whole and len(whole) == 30
    assert chunked[0].start == 0 and all(
        a.end == b.start for a, b in zip(chunked, chunked[1:], strict=False)
    )
    assert chunked[-1].end == len(data)


def test_grown_file_reads_only_the_tail_and_rewrite_is_detected(tmp_path, setup):
    project_dir, cli = setup
    path = tmp_path / "grow.mbox"
    first = [mail(mid=f"<g{i}@example.cz>", subject=f"Dotaz {i}", date=at(i)) for i in range(3)]
    path.write_bytes(mbox_bytes(first))
    assert report(cli, path)[1]["new"] == 3
    code, rep = report(cli, path)
    assert rep["read"] == 0 and code == 0  # nothing new: nothing read
    more = [mail(mid=f"<g{i}@example.cz>", subject=f"Dotaz {i}", date=at(i)) for i in range(3, 5)]
    with path.open("ab") as fh:
        fh.write(mbox_bytes(more))
    code, rep = report(cli, path)
    assert rep["read"] == 2 and rep["new"] == 2
    # Thunderbird compacts: the same mails, rewritten in another order -> read again, unchanged
    path.write_bytes(mbox_bytes(list(reversed(first + more))))
    code, rep = report(cli, path)
    assert rep["read"] == 5 and rep["unchanged"] == 5 and rep["new"] == 0
    assert any("rewritten" in n for n in rep["notes"])
    assert rows(project_dir, "select count(*) from messages")[0][0] == 5


def test_thunderbird_deleted_is_quarantined_not_imported(tmp_path, setup):
    project_dir, cli = setup
    path = tmp_path / "Inbox"
    kept = mail(mid="<k@example.cz>", extra="X-Mozilla-Status: 0001")
    gone = mail(mid="<d@example.cz>", extra="X-Mozilla-Status: 0009", date=at(3))
    path.write_bytes(mbox_bytes([kept, gone]))
    code, rep = report(cli, path)
    assert code == 3
    assert rep["read"] == 2 and rep["new"] == 1 and rep["quarantined"] == 1
    reasons = [r[0] for r in rows(project_dir, "select reason from quarantine")]
    assert reasons == ["deleted in Thunderbird (X-Mozilla-Status), kept here instead of imported"]


def test_gmail_takeout_labels_and_thread_ids(tmp_path, setup):
    project_dir, cli = setup
    a = mail(
        mid="<ga@example.cz>",
        subject="Reklamace",
        extra="X-GM-THRID: 1790001\nX-Gmail-Labels: Inbox,Opened,Reklamace,Category Updates",
    )
    b = mail(
        frm="support@shop.example",
        to="jan@example.cz",
        mid="<gb@shop.example>",
        subject="Reklamace - odpověď",
        date=at(40),
        extra="X-GM-THRID: 1790001\nX-Gmail-Labels: Sent",
    )
    gmail_from = b"From 1790001234567890123@xxx Mon Mar 03 09:00:00 +0000 2025\n"
    data = b"".join(gmail_from + m.replace(b"\r\n", b"\n") + b"\n\n" for m in (a, b))
    path = tmp_path / "All mail Including Spam and Trash.mbox"
    path.write_bytes(data)
    code, rep = report(cli, path)
    assert code == 0 and rep["new"] == 2
    tickets = rows(project_dir, "select tags from tickets")
    assert len(tickets) == 1  # joined by X-GM-THRID though no References
    assert json.loads(tickets[0][0]) == ["label:reklamace"]


def test_truncated_and_garbage_mbox_never_loses_a_message(tmp_path, setup):
    project_dir, cli = setup
    good = mail(mid="<ok@example.cz>")
    garbage = b"\x00\xff\xfe binary junk \x00" * 20
    cut = mail(mid="<cut@example.cz>", body="a long body " * 50)[:180]
    data = mbox_bytes([good]) + from_line(7) + garbage + b"\n\n" + from_line(8) + cut
    path = tmp_path / "broken.mbox"
    path.write_bytes(data)
    code, rep = report(cli, path)
    assert rep["read"] == 3
    assert rep["read"] == rep["imported"] + rep["unchanged"] + rep["quarantined"]
    assert (
        code == 3 and rep["quarantined"] == 1
    )  # the junk; the truncated mail is imported as far as it goes
    subjects = [r[0] for r in rows(project_dir, "select message_id from messages order by id")]
    assert "<cut@example.cz>" in subjects


def test_not_an_mbox_is_a_clear_error(tmp_path, setup):
    _project_dir, cli = setup
    path = tmp_path / "message.eml"
    path.write_bytes(mail())
    result = cli("import", f"mbox:{path}")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "eml:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    result = cli("import", f"mbox:{tmp_path / 'missing.mbox'}")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_crlf_mbox_and_from_line_date_fallback(tmp_path, setup):
    project_dir, cli = setup
    undated = mail(mid="<nodate@example.cz>", date=None)
    data = (from_line(0) + undated.replace(b"\r\n", b"\n") + b"\n\n").replace(b"\n", b"\r\n")
    path = tmp_path / "crlf.mbox"
    path.write_bytes(data)
    code, rep = report(cli, path)
    assert code == 0 and rep["new"] == 1
    created = rows(project_dir, "select created_at from messages")[0][0]
    assert str(created).startswith("2025-03-03 09:00:00")


def test_sample_mailbox_is_reproducible_and_imports_cleanly(tmp_path, project_dir, cli):
    import runpy

    repo = Path(__file__).resolve().parents[1]
    sample = repo / "examples" / "mailbox.mbox"
    runpy.run_path(str(repo / "examples" / "make_mailbox.py"), run_name="make").get("main")(
        tmp_path / "again.mbox"
    )
    assert (tmp_path / "again.mbox").read_bytes() == sample.read_bytes()
    assert sample.stat().st_size < 2 << 20
    (project_dir / "deskmove.toml").write_text(
        '[mail]\nsupport_addresses = ["support@shop.example", "podpora@shop.example", '
        '"info@shop.example"]\nsupport_domains = ["shop.example"]\n',
        encoding="utf-8",
    )
    code, rep = report(cli, sample)
    assert code == 0 and rep["quarantined"] == 0 and rep["read"] == rep["new"] >= 300
    directions = dict(
        rows(project_dir, "select direction, count(*) from messages group by direction")
    )
    assert directions["outbound"] > 100 and directions["inbound"] > 150
    channels = dict(rows(project_dir, "select channel, count(*) from tickets group by channel"))
    assert channels["web"] == 2
    tags = {
        t for (tags,) in rows(project_dir, "select tags from tickets") for t in json.loads(tags)
    }
    assert {"auto-reply", "bounce", "bulk"} <= tags
    text = " ".join(
        r[0] for r in rows(project_dir, "select body_text || ' ' || subject from messages")
    )
    for word in (
        "Objednávka",
        "Dzień dobry",
        "Здравствуйте",
        "Повреждённая упаковка",
        "Záruka na kávovar",
    ):
        assert word in text
    for mojibake in ("Ã", "Ð", "Ä›", "\ufffd"):
        assert mojibake not in text
    forwarded = rows(
        project_dir, "select headers from messages where headers like '%x-forwarded-to%'"
    )
    assert len(forwarded) == 1
    multi = rows(
        project_dir,
        "select count(*) from (select ticket_id from messages group by ticket_id having count(*) >= 4)",
    )
    assert multi[0][0] > 20  # threads with References stay together


def test_interrupted_import_resumes_to_the_same_end_state(tmp_path, project_dir, monkeypatch):
    from deskmove.config import Project
    from deskmove.sources import mbox as mbox_source
    from deskmove.store.ingest import Ingestor
    from deskmove.sync import import_source, open_store

    (project_dir / "deskmove.toml").write_text(SUPPORT, encoding="utf-8")
    monkeypatch.setattr(mbox_source, "BATCH_MAILS", 10)
    mails = []
    for i in range(35):
        refs = f"<c{i - 1}@example.cz>" if i % 5 else None  # replies cross batch boundaries
        mails.append(
            mail(
                mid=f"<c{i}@example.cz>", subject=f"Dotaz {i // 5}", refs=refs, irt=refs, date=at(i)
            )
        )
    path = tmp_path / "crash.mbox"
    path.write_bytes(mbox_bytes(mails))
    project = Project.load(project_dir)
    real = Ingestor.ingest
    calls = {"n": 0}

    def dies_on_third_batch(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if killed mid-run: this batch's transaction never commits
        return real(self, batch)

    monkeypatch.setattr(Ingestor, "ingest", dies_on_third_batch)
    store = open_store(project)
    with pytest.raises(KeyboardInterrupt):
        import_source(project, store, f"mbox:{path}")
    assert rows(project_dir, "select count(*) from messages")[0][0] == 20
    monkeypatch.setattr(Ingestor, "ingest", real)
    report = import_source(project, store, f"mbox:{path}")
    store.close()
    assert report.read == 15 and report.new == 15  # resumed after the last committed batch
    assert rows(project_dir, "select count(*) from messages")[0][0] == 35
    sizes = rows(project_dir, "select count(*) from messages group by ticket_id")
    assert sorted(s[0] for s in sizes) == [5] * 7
