"""`deskmove rollback` and sample runs: remove exactly what deskmove created, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from deskmove.store import Store
from tests.rest.conftest import api, creds, do_export, do_import, seed, sleeps  # noqa: F401
from tests.rest.fakezendesk import FakeZendesk
from tests.sync_helpers import mail_line
from tests.test_sync import arrive, plan  # noqa: F401
from tests.test_verify import edit_desk


def tickets(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))["tickets"]


def add_foreign_ticket(path: Path) -> None:
    """A ticket the team made by hand in the new helpdesk: rollback must never touch it."""

    def add(t: dict) -> None:
        t["999"] = {
            "external_id": None,
            "subject": "ruční",
            "comments": [
                {
                    "id": "999.1",
                    "key": "x",
                    "author": "agent@shop.example",
                    "public": True,
                    "created_at": None,
                    "attachments": [],
                }
            ],
        }

    edit_desk(path, add)


def id_map_size(project, target: str = "new-desk") -> int:  # noqa: ANN001
    store = Store.open(project.store_url, project.blob_root)
    try:
        return sum(len(store.id_map(target, k)) for k in ("ticket", "message"))
    finally:
        store.close()


def answer(cli, reply: str, *args: str):  # noqa: ANN001, ANN201
    """Run the CLI with ``reply`` typed at its prompt."""
    from deskmove.cli import app

    argv = ["--project", str(cli.project_dir), *args]
    return cli.runner.invoke(app, argv, input=reply + "\n", catch_exceptions=False)


def run_undo(cli, command: str):  # noqa: ANN001, ANN201
    """Run a printed undo command as it stands (from any folder: it names its project)."""
    import shlex

    from deskmove.cli import app

    argv = shlex.split(command)
    assert argv[0] == "deskmove" and "--project" in argv
    return cli.runner.invoke(app, [*argv[1:], "--yes"], catch_exceptions=False)


def run_ids(cli) -> list[int]:  # noqa: ANN001
    data = json.loads(cli("--json", "status").stdout)
    return [r["id"] for r in data["runs"] if r["command"] == "export"]


def test_rollback_of_one_run_removes_only_what_it_created(cli, plan, project) -> None:  # noqa: F811
    arrive(plan["src"], mail_line("A", 1), mail_line("B", 1))
    assert cli("sync").exit_code == 0
    add_foreign_ticket(plan["desk"])
    before = tickets(plan["desk"])
    arrive(plan["src"], mail_line("A", 2), mail_line("C", 1))
    assert cli("sync").exit_code == 0
    second = max(run_ids(cli))
    assert len(tickets(plan["desk"])) == 4

    result = cli("rollback", "new-desk", "--run", str(second), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "deleted 1 messages, 1 tickets" in result.stdout and "(run #" in result.stdout
    assert tickets(plan["desk"]) == before  # A without its new message, B, and the foreign one
    assert id_map_size(project) == 4  # tickets A, B and their first messages
    # the watermark was reset: the next sync puts the removed objects back, once
    assert "2 messages, 1 tickets created" in cli("sync").stdout
    assert len(tickets(plan["desk"])) == 4


def test_full_rollback_asks_first_and_spares_foreign_objects(cli, plan, project) -> None:  # noqa: F811
    arrive(plan["src"], mail_line("A", 1), mail_line("A", 2), mail_line("B", 1))
    assert cli("sync").exit_code == 0
    add_foreign_ticket(plan["desk"])
    no = answer(cli, "n", "rollback", "new-desk")
    assert no.exit_code == 1 and "Delete 3 messages, 2 tickets from new-desk?" in no.stderr
    assert len(tickets(plan["desk"])) == 3
    yes = answer(cli, "y", "rollback", "new-desk")
    assert yes.exit_code == 0, yes.stderr
    assert list(tickets(plan["desk"])) == ["999"]
    assert id_map_size(project) == 0
    again = cli("rollback", "new-desk", "--yes")
    assert again.exit_code == 0 and "deleted nothing" in again.stdout


def test_rollback_of_a_run_that_did_not_push_there_is_refused(cli, plan) -> None:  # noqa: F811
    arrive(plan["src"], mail_line("A", 1))
    assert cli("sync").exit_code == 0
    result = cli("rollback", "new-desk", "--run", "1", "--yes")  # run 1 was the import
    assert result.exit_code == 2 and "run #1 did not push to new-desk" in result.stderr


def test_sample_pushes_representative_tickets_and_is_undone(cli, plan, project) -> None:  # noqa: F811
    lines = [mail_line(f"T{i}", 1, day=i) for i in range(10)]
    lines.append(mail_line("T5", 2, day=5, attach="faktura.pdf"))
    lines.append(mail_line("T7", 2, day=7, note=True))
    arrive(plan["src"], *lines)
    result = cli("--json", "migrate", "old-inbox", "new-desk", "--sample", "4")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    chosen = data["sample"]["tickets"]
    assert len(chosen) == 4
    # oldest (T0), newest (T9), with an attachment (T5), with an internal note (T7)
    assert sorted(chosen) == [1, 6, 8, 10]
    pushed = tickets(plan["desk"])
    assert sorted(t["external_id"] for t in pushed.values()) == [f"dm-{i}" for i in (1, 10, 6, 8)]
    assert sum(len(t["comments"]) for t in pushed.values()) == 6
    text = cli("migrate", "old-inbox", "new-desk", "--sample", "4").stdout  # resumes, no duplicates
    assert f"undo: deskmove --project {project.root} rollback new-desk --run" in text
    assert len(tickets(plan["desk"])) == 4

    result = run_undo(cli, data["sample"]["undo"])
    assert result.exit_code == 0 and tickets(plan["desk"]) == {}
    assert id_map_size(project) == 0


def test_sample_and_rollback_on_the_zendesk_target(project, store, api) -> None:  # noqa: F811
    from deskmove.rollback import rollback
    from deskmove.sample import push_sample

    source = seed(FakeZendesk(page_size=3), tickets=6, comments=3)
    target = FakeZendesk(host="target.zendesk.com")
    api.serve(source)
    api.serve(target)
    foreign = target.next_id()
    target.tickets[foreign] = {"id": foreign, "subject": "made by hand", "external_id": None}
    do_import(project, store)
    name, report, run_id, ids = push_sample(project, store, "zendesk://target", 2)
    assert report.created["ticket"] == 2 and len(ids) == 2
    assert len(target.tickets) == 3
    result = rollback(project, store, "zendesk://target", run_id)
    assert result.deleted["ticket"] == 2 and not result.failed, result.as_dict()
    assert list(target.tickets) == [foreign]
    assert store.id_map(name, "ticket") == {}
    users = set(target.users)
    assert users and store.id_map(name, "person")  # users stay: one may have existed before
    everything = rollback(project, store, "zendesk://target", include_people=True)
    assert everything.deleted["person"] > 0 and everything.deleted["ticket"] == 0
    assert store.id_map(name, "person") == {} and len(target.users) < len(users)
    assert target.me_id in target.users  # the API user was never deskmove's
    do_export(project, store)  # a full migration afterwards still creates every ticket once
    assert len(target.tickets) == 7
