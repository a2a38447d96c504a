"""One rule for a person's addresses, everywhere: the primary one, then as first met
(``store.people.PRIMARY_FIRST``): the audit, reclassify and the targets agree."""

from __future__ import annotations

from deskmove.model import Person, PersonEmail
from deskmove.store import people
from deskmove.store import reclassify as reclassify_q

PEOPLE, EMAILS = Person.__table__, PersonEmail.__table__


def _person(conn, name: str, addresses: list[tuple[str, bool]]) -> int:  # noqa: ANN001
    pid = conn.execute(PEOPLE.insert().values(name=name, role="customer")).inserted_primary_key[0]
    for email, primary in addresses:  # inserted in this order: the order they were met
        conn.execute(EMAILS.insert().values(person_id=pid, email=email, primary=primary))
    return pid


def test_every_reader_orders_a_persons_addresses_the_same_way(store) -> None:
    with store.begin() as conn:
        marked = _person(
            conn, "Zuzana", [("zuzana@a.cz", True), ("ywona@b.pl", False), ("b@c.cz", False)]
        )
        unmarked = _person(conn, "Olga", [("olga@mail.ru", False), ("a@mail.ru", False)])
    expected = {
        marked: ["zuzana@a.cz", "ywona@b.pl", "b@c.cz"],
        unmarked: ["olga@mail.ru", "a@mail.ru"],
    }
    with store.begin() as conn:
        assert people.addresses(conn, expected) == expected
        assert reclassify_q.emails_of(conn, expected) == {pid: a[0] for pid, a in expected.items()}
    with store.audit() as db:
        seen: dict[int, list[str]] = {}
        for pid, email in db.person_addresses():
            seen.setdefault(pid, []).append(email)
        assert seen == expected
        n, examples = db.people_with_several_addresses(10)
    assert n == 2
    assert [(pid, addresses) for pid, _name, addresses in examples] == sorted(expected.items())
