"""One unreachable attachment host: the attachment is quarantined with its URL, the rest imports,
and `deskmove quarantine retry` fetches it once the host answers."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from deskmove.model import Attachment, Quarantine
from tests.rest.conftest import do_import, seed
from tests.rest.fakezendesk import FakeZendesk

HOST = "files.unreachable.example"


def _attachments(store) -> list[tuple[str, str]]:  # noqa: ANN001
    with store.begin() as c:
        return [
            tuple(r)
            for r in c.execute(
                sa.select(Attachment.__table__.c.filename, Attachment.__table__.c.sha256)
            )
        ]


def test_an_unreachable_attachment_is_quarantined_and_retried_later(api, project, store, cli):
    fake = seed(FakeZendesk(), tickets=3, comments=1)
    other = FakeZendesk(host=HOST)
    other.files["far"] = b"%PDF- faktura z jineho hostu"
    fake.comments[1001][0]["attachments"].append(
        {
            "id": 77,
            "file_name": "daleko.pdf",
            "content_type": "application/pdf",
            "size": 27,
            "inline": False,
            "content_url": other.url("/attachments/token/far/", name="daleko.pdf"),
        }
    )
    api.serve(fake)
    down = api.route(host=HOST).mock(side_effect=httpx.ConnectError("connection refused"))

    report = do_import(project, store)
    assert report.balanced and report.new == 6 and report.quarantined == 1  # 3 tickets, 3 messages
    assert down.call_count > 1  # retried before giving up on that one file
    assert sorted(f for f, _s in _attachments(store)) == ["faktura.pdf"] * 3
    with store.begin() as c:
        item = c.execute(sa.select(Quarantine.__table__)).mappings().one()
    assert item["kind"] == "attachment"
    assert (
        f"https://{HOST}/attachments/token/far/" in item["reason"]
        and "connection refused" in item["reason"]
    )

    down.side_effect = None
    api.serve(other)  # the host answers again
    result = cli("quarantine", "retry")
    assert result.exit_code == 0, result.output
    names = sorted(f for f, _s in _attachments(store))
    assert names == ["daleko.pdf"] + ["faktura.pdf"] * 3
    sha = next(s for f, s in _attachments(store) if f == "daleko.pdf")
    assert store.blobs.get(sha) == b"%PDF- faktura z jineho hostu"
    assert cli("--json", "status").exit_code == 0
    again = cli("quarantine", "retry")  # nothing open any more: nothing added twice
    assert sorted(f for f, _s in _attachments(store)) == names, again.output
