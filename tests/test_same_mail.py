"""The same mail through two connections or two paths is one message (nothing doubled)."""

from __future__ import annotations

import mailbox
import shutil

import sqlalchemy as sa

from deskmove.config import Project
from deskmove.model import Message, Person, Ticket
from deskmove.sync import export_target, import_source
from tests.mailhelp import at, mail


def _mbox(path, n: int = 6):
    box = mailbox.mbox(str(path))
    for i in range(n):
        box.add(
            mail(
                mid=f"<q{i}@example.cz>",
                subject=f"Dotaz {i}",
                date=at(i),
                frm=f"Zákazník {i} <c{i}@example.cz>",
            )
        )
        box.add(
            mail(
                mid=f"<r{i}@shop.example>",
                irt=f"<q{i}@example.cz>",
                refs=f"<q{i}@example.cz>",
                subject=f"Re: Dotaz {i}",
                date=at(i + 60),
                frm="Podpora <support@shop.example>",
                to=f"c{i}@example.cz",
            )
        )
    box.close()
    return path


def _count(store, table) -> int:
    with store.engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(table.__table__)).scalar_one()


def _support(project_dir, extra: str = "") -> Project:
    (project_dir / "deskmove.toml").write_text(
        '[mail]\nsupport_addresses = ["support@shop.example"]\n' + extra, encoding="utf-8"
    )
    return Project.load(project_dir)


def test_inline_spec_then_a_named_connection_for_the_same_file(project_dir, store, tmp_path):
    box = _mbox(tmp_path / "support.mbox")
    project = _support(project_dir, f'[connections.old-mail]\nspec = "mbox:{box}"\n')
    first = import_source(project, store, f"mbox:{box}")
    assert first.counts.new["message"] == 12
    second = import_source(project, store, "old-mail")
    assert second.counts.new["message"] == 0 and second.read == 12 and second.balanced
    assert (_count(store, Ticket), _count(store, Message)) == (6, 12)


def test_a_byte_identical_copy_at_another_path(project_dir, store, tmp_path):
    project = _support(project_dir)
    box = _mbox(tmp_path / "a.mbox")
    copy = tmp_path / "elsewhere" / "a-copy.mbox"
    copy.parent.mkdir()
    shutil.copyfile(box, copy)
    import_source(project, store, f"mbox:{box}")
    people = _count(store, Person)
    again = import_source(project, store, f"mbox:{copy}")
    assert again.counts.new["message"] == 0 and again.counts.new["ticket"] == 0
    assert (_count(store, Ticket), _count(store, Message), _count(store, Person)) == (6, 12, people)
    out = tmp_path / "out"
    _name, pushed = export_target(project, store, f"csv:{out}")
    assert pushed.created["ticket"] == 6


def test_different_content_under_the_same_message_id_is_still_two(project_dir, store, tmp_path):
    project = _support(project_dir)
    a = mailbox.mbox(str(tmp_path / "a.mbox"))
    a.add(mail(mid="<same@example.cz>", body="první verze\n"))
    a.close()
    b = mailbox.mbox(str(tmp_path / "b.mbox"))
    b.add(mail(mid="<same@example.cz>", body="úplně jiný text, jiná zpráva\n"))
    b.close()
    import_source(project, store, f"mbox:{tmp_path / 'a.mbox'}")
    import_source(project, store, f"mbox:{tmp_path / 'b.mbox'}")
    assert _count(store, Message) == 2
