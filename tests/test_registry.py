"""Adapters that cannot load say why: not built, or a missing package named."""

from __future__ import annotations

import pytest

from deskmove import registry
from deskmove.errors import UsageError


def test_a_missing_adapter_module_is_not_built(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(registry.TARGETS, "nowhere", "deskmove.targets.nowhere:Nowhere")
    with pytest.raises(UsageError, match="the nowhere target is not built"):
        registry._resolve("target", "nowhere")


def test_a_missing_dependency_is_named(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "needy_adapter.py").write_text("import not_installed_pkg_xyz\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.TARGETS, "needy", "needy_adapter:Needy")
    with pytest.raises(UsageError, match="needs the Python package 'not_installed_pkg_xyz'"):
        registry._resolve("target", "needy")


def test_a_bug_in_an_adapter_is_not_hidden_as_not_built(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "buggy_adapter.py").write_text("class Other: pass\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.TARGETS, "buggy", "buggy_adapter:Buggy")
    with pytest.raises(AttributeError):
        registry._resolve("target", "buggy")


def test_a_built_in_scheme_never_reads_the_installed_packages_and_cannot_be_taken(
    monkeypatch,  # noqa: ANN001
) -> None:
    """An installed package declaring ``mbox`` does not replace the built-in one, so a
    built-in scheme is resolved without opening every distribution's metadata; a scheme
    that is not built in still finds the package's adapter, over a REST spec too."""
    from importlib.metadata import EntryPoint, EntryPoints

    reads: list[int] = []
    theirs = [
        EntryPoint("mbox", "elsewhere:Mbox", "deskmove.sources"),
        EntryPoint("zendesk", "deskmove.sources.mbox:MboxSource", "deskmove.sources"),
    ]

    def read() -> EntryPoints:
        reads.append(1)
        return EntryPoints(theirs)

    monkeypatch.setattr(registry, "entry_points", read)
    registry._installed_groups.cache_clear()  # noqa: SLF001
    try:
        from deskmove.sources.mbox import MboxSource

        assert registry._resolve("source", "mbox") is MboxSource  # noqa: SLF001
        assert reads == []
        assert registry._resolve("source", "zendesk") is MboxSource  # noqa: SLF001
        assert reads == [1]
    finally:
        registry._installed_groups.cache_clear()  # noqa: SLF001
