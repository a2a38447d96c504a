"""The channel audit on a realistic store with known answers: every channel found, none invented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from deskmove.audit import NOT_SEEN, SECTIONS, run_audit
from deskmove.audit.phones import find_numbers
from deskmove.config import Project
from deskmove.errors import ConfigError
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from tests.test_audit_data import CUSTOMER_NUMBERS, FORWARDS, PLANTED, at, fill

NOW = at(12, 12)  # 2024-03-12 12:00 CET, in the middle of the data


def found_ids(report) -> dict[str, set[str]]:
    return {s: {i.id for i in report.in_section(s)} for s in SECTIONS}


def test_every_planted_channel_is_found_and_nothing_invented(project, any_store):
    fill(any_store)
    report = run_audit(project, any_store, now=NOW)
    assert found_ids(report) == PLANTED
    assert all(report.sections[s].evidence.seen for s in SECTIONS)


def test_aliases_and_forwards_say_which_address_reaches_which(project, store):
    fill(store)
    report = run_audit(project, store, now=NOW)
    for item_id, target in FORWARDS.items():
        item = report.item(item_id)
        assert f"reaches {target}" in item.evidence.facts
        assert item.title == f"{item_id.partition(':')[2]} → {target}"
    mailbox = report.item("email:podpora@kolo-shop.cz")
    assert not any(f.startswith("reaches") for f in mailbox.evidence.facts)
    assert "seen in delivered-to" in mailbox.evidence.facts
    assert mailbox.evidence.count == 13  # 12 inbound mails + the REST ticket's recipient
    assert mailbox.evidence.first.date().isoformat() == "2024-03-04"
    assert mailbox.evidence.months == {"2024-03": 13}


def test_customers_and_their_colleagues_are_not_support_addresses(project, store):
    fill(store)
    emails = found_ids(run_audit(project, store, now=NOW))["emails"]
    for outsider in (
        "kolega@firma-tomas.cz",
        "jana.novakova@seznam.cz",
        "petr.dvorak@kolo-shop.cz",
    ):
        assert f"email:{outsider}" not in emails


def test_form_submission_names_its_customer_and_script(project, store):
    fill(store)
    form = run_audit(project, store, now=NOW).item("form:wordpress@kolo-shop.cz")
    assert "script kontakt.php" in form.evidence.facts
    assert "customer address in Reply-To" in form.evidence.facts
    assert "marek.kowalski@wp.pl" in form.evidence.examples[0]


def test_phone_numbers_team_lines_and_customers_own(project, store):
    fill(store)
    report = run_audit(project, store, now=NOW)
    assert {i.id for i in report.in_section("phones")} == {"phone:+420222333444", "phone:voice"}
    extra = report.extras["phones"]
    assert extra["region"] == "CZ"  # from the team's own domain
    assert {c["number"] for c in extra["customer_examples"]} == CUSTOMER_NUMBERS
    assert extra["customer_numbers"] == len(CUSTOMER_NUMBERS)
    team = report.item("phone:+420222333444")
    assert "quoted by customers too" in team.evidence.facts  # Jana called the shop's line
    assert team.evidence.count == 2  # signatures above the quote (m3b quotes first: cut off)


@pytest.mark.parametrize(
    ("text", "regions", "expected"),
    [
        ("Tel.: +420 601 123 456", ("CZ",), ["+420601123456"]),
        ("mobil 601123456", ("CZ",), ["+420601123456"]),
        ("tel. 22 123 45 67", ("PL", "CZ"), ["+48221234567"]),
        ("Тел.: +7 (495) 123-45-67", ("CZ",), ["+74951234567"]),
        ("бесплатно 8 (800) 555-35-35", ("RU",), ["+78005553535"]),
        ("zadzwoń 0048 22 123 45 67", ("CZ",), ["+48221234567"]),
        ("objednávka č. 601123456", ("CZ",), []),
        ("dne 2024-03-01 v 10:30", ("CZ",), []),
        ("účet CZ65 0800 0000 1920 0014 5399", ("CZ",), []),
        ("sledování balíku 1234 5678 90", ("CZ",), []),
        ("PSČ 110 00 Praha 1", ("CZ",), []),
        ("+420 123", ("CZ",), []),
    ],
    ids=[
        "cz-intl",
        "cz-keyword",
        "pl-local",
        "ru-intl",
        "ru-tollfree",
        "pl-00",
        "order-no",
        "date-time",
        "iban",
        "tracking",
        "postcode",
        "too-short",
    ],
)
def test_find_numbers(text, regions, expected):
    assert [n for n, _raw in find_numbers(text, regions)] == expected


def test_quoted_text_is_not_the_agents_number(project, store):
    fill(store)
    report = run_audit(project, store, now=NOW)
    every = {i.id for i in report.all_items()} | {
        c["number"] for c in report.extras["phones"]["customer_examples"]
    }
    assert "phone:+420731222333" not in every and "+420 731 222 333" not in every


def test_out_of_office_reply_is_not_an_integration(project, store):
    fill(store)
    integrations = found_ids(run_audit(project, store, now=NOW))["integrations"]
    assert not any("novakova" in i for i in integrations)


def test_a_mailbox_alone_leaves_chat_and_social_unseen(project, store):
    fill(store, desk=False)
    report = run_audit(project, store, now=NOW)
    assert not report.sections["chat-social"].evidence.seen
    assert report.sections["chat-social"].as_dict()["evidence"] == NOT_SEEN
    assert found_ids(report)["forms"] == {"form:wordpress@kolo-shop.cz"}
    assert found_ids(report)["phones"] == {"phone:+420222333444"}


def test_empty_store_lists_every_section_as_not_seen(project, store):
    report = run_audit(project, store)
    assert list(report.sections) == list(SECTIONS)
    assert not report.items
    assert all(s.as_dict()["evidence"] == NOT_SEEN for s in report.sections.values())
    assert report.plan["cutover"]["window"] is None
    assert report.plan["activity"]["median_hours"] is None


def test_without_envelope_headers_an_address_needs_several_senders(project, store):
    def mail(n: int, sender: str, to: list[str]) -> TicketRec:
        when = datetime(2024, 5, n, 10, tzinfo=UTC)
        return TicketRec(
            native_id=f"t{n}",
            channel="email",
            created_at=when,
            messages=[
                MessageRec(
                    native_id=f"t{n}/1", created_at=when, author=PersonRef(email=sender), to=to
                )
            ],
        )

    tickets = [mail(i + 1, f"customer{i}@example.org", ["help@desk.example"]) for i in range(3)]
    tickets.append(mail(9, "customer0@example.org", ["help@desk.example", "boss@customer.example"]))
    store.ingestor("csv:x", None).ingest(Batch(tickets=tickets, read=4))
    assert found_ids(run_audit(project, store))["emails"] == {"email:help@desk.example"}


def test_plan_volume_quality_and_activity(project, store):
    fill(store)
    plan = run_audit(project, store, now=NOW).plan
    assert plan["volume"]["totals"]["tickets"] == 17
    assert plan["volume"]["totals"]["messages"] == 20
    assert plan["volume"]["per_year"][0]["year"] == "2024"
    assert plan["volume"]["first"].startswith("2024-03-04")
    quality = {q["key"]: q for q in plan["quality"]}
    assert quality["tickets_without_requester"]["count"] == 6
    assert quality["tickets_without_messages"]["count"] == 1
    assert quality["people_with_several_addresses"]["count"] == 1
    assert "jana@novakova.cz" in quality["people_with_several_addresses"]["examples"][0]
    assert quality["broken_threads"]["count"] == 1
    assert "<not-in-this-mailbox@mail.example>" in quality["broken_threads"]["examples"][0]
    assert quality["undecodable_text"]["count"] == 1
    assert quality["quarantined"]["count"] == 1
    assert quality["dates_in_future"]["count"] == 0
    assert quality["messages_without_date"]["count"] == 0
    a = plan["activity"]
    assert a["conversations"] == 3  # tickets with a reply: m1, m2, m3
    assert a["median_hours"] == 2.0
    assert 18 < a["p90_hours"] < 20
    assert a["delta_window_days"] == 1
    assert a["active_now"] == 2  # m3 (open) and m4 (pending) had a message in the last day
    assert a["open_not_solved"] == 3
    assert a["cron"].endswith("deskmove --quiet sync")
    assert str(project.root) in a["cron"]


def test_future_and_undated_messages_are_counted(project, store):
    future = datetime.now(UTC) + timedelta(days=400)
    store.ingestor("csv:x", None).ingest(
        Batch(
            tickets=[
                TicketRec(
                    native_id="f",
                    channel="email",
                    messages=[
                        MessageRec(native_id="f1", created_at=future, body_text="from the future"),
                        MessageRec(native_id="f2", created_at=None, body_text="no date"),
                    ],
                )
            ],
            read=1,
        )
    )
    quality = {q["key"]: q["count"] for q in run_audit(project, store).plan["quality"]}
    assert quality["dates_in_future"] == 1 and quality["messages_without_date"] == 1


def test_heatmap_is_in_the_senders_local_time(project, any_store):
    new_york = timezone(timedelta(hours=-5))
    msgs = [
        MessageRec(
            native_id="a", created_at=datetime(2024, 3, 4, 9, 30, tzinfo=new_york), created_tz=-300
        ),
        MessageRec(
            native_id="b", created_at=datetime(2024, 3, 4, 23, 30, tzinfo=new_york), created_tz=-300
        ),
        MessageRec(
            native_id="c", created_at=datetime(2024, 3, 10, 8, 0, tzinfo=UTC), created_tz=None
        ),
        MessageRec(
            native_id="d", created_at=datetime(2024, 3, 5, 9, 0, tzinfo=UTC), direction="outbound"
        ),
    ]
    any_store.ingestor("csv:x", None).ingest(
        Batch(tickets=[TicketRec(native_id="t", messages=msgs)], read=1)
    )
    c = run_audit(project, any_store).plan["cutover"]
    grid = c["grid"]
    assert grid[0][9] == 1  # Monday 09:30 in New York, although 14:30 UTC
    assert grid[0][23] == 1  # Monday 23:30 in New York, although Tuesday UTC
    assert grid[6][3] == 1  # Sunday 08:00 UTC shown at the common offset (UTC-5): 03:00
    assert c["inbound"] == 3 and c["without_offset"] == 1 and c["assumed_offset_minutes"] == -300
    w = c["window"]
    assert w["messages"] == 0 and len(w["cells"]) == 3


def test_known_senders_file_extends_the_list(project_dir, store):
    (project_dir / "mine.yaml").write_text(
        "senders:\n  - name: Kolo fórum\n    category: forum\n    domains: [forum-kolo.cz]\n"
        "    needs: Změnit adresu pro upozornění.\n",
        encoding="utf-8",
    )
    _append(project_dir, '\n[audit]\nknown_senders = "mine.yaml"\n')
    when = datetime(2024, 4, 1, 8, tzinfo=UTC)
    store.ingestor("mbox:x", None).ingest(
        Batch(
            tickets=[
                TicketRec(
                    native_id="f",
                    messages=[
                        MessageRec(
                            native_id="f1",
                            created_at=when,
                            author=PersonRef(email="notify@forum-kolo.cz"),
                            subject="Nový příspěvek",
                            headers={"delivered-to": ["podpora@kolo-shop.cz"]},
                        )
                    ],
                )
            ],
            read=1,
        )
    )
    report = run_audit(Project.load(project_dir), store)
    item = report.item("forum:kolo-forum")
    assert item.section == "listings" and item.needs == "Změnit adresu pro upozornění."
    assert found_ids(report)["integrations"] == set()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "senders:\n  - name: X\n    category: forum\n    domian: [x.cz]\n",
            "senders[0].domian is not a known key",
        ),
        (
            "senders:\n  - name: X\n    category: blog\n    domains: [x.cz]\n",
            "needs a name and a category",
        ),
        ("senders:\n  - name: X\n    category: forum\n", "matches nothing"),
        ("senders: [\n", "is not valid YAML"),
    ],
    ids=["typo", "category", "empty", "yaml"],
)
def test_a_bad_known_senders_file_is_reported_with_its_path(project_dir, store, text, message):
    (project_dir / "mine.yaml").write_text(text, encoding="utf-8")
    _append(project_dir, '\n[audit]\nknown_senders = "mine.yaml"\n')
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_audit(Project.load(project_dir), store)


def test_region_from_the_project_file_wins(project_dir, store):
    _append(project_dir, '\n[audit]\nregion = "pl"\n')
    when = datetime(2024, 4, 1, 8, tzinfo=UTC)
    store.ingestor("x:y", None).ingest(
        Batch(
            tickets=[
                TicketRec(
                    native_id=f"p{i}",
                    messages=[
                        MessageRec(
                            native_id=f"p{i}/1",
                            created_at=when,
                            direction="outbound",
                            author=PersonRef(email="agent@shop.cz", role="agent"),
                            body_text=f"Dzień dobry {i}\n--\nZadzwoń: 22 123 45 67",
                        )
                    ],
                )
                for i in (1, 2)
            ],
            read=2,
        )
    )
    report = run_audit(Project.load(project_dir), store)
    assert report.extras["phones"]["region"] == "PL"
    assert found_ids(report)["phones"] == {"phone:+48221234567"}


def _append(project_dir, text: str) -> None:
    path = project_dir / "deskmove.toml"
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_same_name_people_are_reported_as_possible_duplicates(project, store):
    from deskmove.records import PersonRec

    people = [
        PersonRec(native_id="a", name="Kateřina Černá", emails=["katka@firma.cz"]),
        PersonRec(native_id="b", name="Kateřina Černá", emails=["k.cerna@seznam.cz"]),
        PersonRec(native_id="c", name="Jan Novák", emails=["jan@novak.cz"]),
    ]
    store.ingestor("csv:x", None).ingest(Batch(people=people, read=3))
    quality = {q["key"]: q for q in run_audit(project, store).plan["quality"]}
    dupes = quality["possible_duplicate_people"]
    assert dupes["count"] == 2 and dupes["examples"] == ["“Kateřina Černá” × 2"]


def test_phone_tracking_is_capped_but_the_teams_numbers_are_kept(project, store, monkeypatch):
    import deskmove.audit.scan as scan

    monkeypatch.setattr(scan, "MAX_PHONES", 2)
    fill(store)
    report = run_audit(project, store, now=NOW)
    assert "phone:+420222333444" in {i.id for i in report.in_section("phones")}
    extra = report.extras["phones"]
    assert extra["customer_numbers"] + extra["customer_numbers_unchecked"] >= len(CUSTOMER_NUMBERS)
    assert extra["customer_numbers_unchecked"] > 0
