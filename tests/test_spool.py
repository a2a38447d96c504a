"""The scratch spool sources park child records in until their parent comes by."""

from __future__ import annotations

from pathlib import Path

from deskmove.store.spool import KeyedSpool


def test_values_come_back_per_key_in_the_order_added(tmp_path: Path) -> None:
    with KeyedSpool(folder=tmp_path) as spool:
        spool.add([("b", 1), ("a", {"x": "Žluťoučký kůň"}), ("b", 2)])
        spool.add([("c", b"\x00raw"), ("b", 3)])
        assert spool.keys() == ["a", "b", "c"]
        assert spool.take(["b", "zz"]) == {"b": [1, 2, 3]}
        assert spool.pop("b") == []  # taken values left the spool
        assert spool.pop("a") == [{"x": "Žluťoučký kůň"}]
        spool.add([("d", None)])
        assert list(spool.remaining()) == [("c", b"\x00raw"), ("d", None)]
        assert list(spool.remaining()) == [("c", b"\x00raw"), ("d", None)]  # they stay
        assert spool.keys() == ["c", "d"]


def test_many_keys_at_once(tmp_path: Path) -> None:
    with KeyedSpool(folder=tmp_path) as spool:
        spool.add((str(i), i) for i in range(2000))
        got = spool.take(str(i) for i in range(0, 2000, 2))
        assert len(got) == 1000 and got["1998"] == [1998]
        assert len(spool.keys()) == 1000


def test_close_removes_the_file(tmp_path: Path) -> None:
    spool = KeyedSpool("deskmove-test-", folder=tmp_path)
    spool.add([("k", "v")])
    assert [p.name[:14] for p in tmp_path.iterdir()] == ["deskmove-test-"]
    spool.close()
    assert list(tmp_path.iterdir()) == []
