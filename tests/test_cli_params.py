"""The command line's values that skip typer's pydantic layer come out as that layer has them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.models import ArgumentInfo, OptionInfo

from deskmove import cli_params
from tests.test_startup import loaded_after

# typer releases before its pydantic layer have nothing to shortcut (install() says so)
_coercion = pytest.importorskip("typer._coercion")


def typers_own(annotation: Any, info: Any, value: Any) -> Any:
    """What typer's adapter makes of ``value`` (or the error it raises)."""
    descriptor = _coercion.resolve_type_descriptor(annotation, info)
    real = _coercion.build_runtime_param(descriptor)
    assert not isinstance(real, _coercion.PassThroughRuntimeParam)
    return real._coerce_value(value, param=None, ctx=None)  # noqa: SLF001


CASES = [
    (bool, OptionInfo(), True),
    (bool, OptionInfo(), False),
    (str, OptionInfo(), "Žluťoučký kůň"),
    (str, OptionInfo(), ""),
    (str, ArgumentInfo(), "  spaces kept  "),
    (int, OptionInfo(), 14),
    (int, OptionInfo(), -3),
    (float, OptionInfo(), 2.5),
    (Path, OptionInfo(), Path(".")),
    (Path, OptionInfo(), "."),
    (Path, OptionInfo(), ""),
    (Path, OptionInfo(), "/tmp/some/where/"),
    (Path, OptionInfo(), "~/x"),
    (Path, OptionInfo(), "čeština/ž.mbox"),
    (Path, OptionInfo(resolve_path=True), "relative/dir"),
    (Path, ArgumentInfo(exists=True), "/"),
    (Path, ArgumentInfo(exists=True, file_okay=False), "/"),
    (list[str], ArgumentInfo(), ("old-inbox", "new-desk")),
    (list[str], ArgumentInfo(), ["one"]),
    (list[str], ArgumentInfo(), ()),
]


@pytest.mark.parametrize(("annotation", "info", "value"), CASES)
def test_a_shortcut_gives_what_typers_adapter_gives(annotation: Any, info: Any, value: Any) -> None:
    fast = cli_params.plain_value(annotation, info, value)
    assert fast is not cli_params._NONE  # noqa: SLF001 - each case is one the shortcut takes
    real = typers_own(annotation, info, value)
    assert fast == real and type(fast) is type(real)


@pytest.mark.parametrize(
    ("annotation", "info", "value"),
    [
        (int, OptionInfo(), "14"),  # a number written on the command line
        (float, OptionInfo(), "5"),
        (float, OptionInfo(), 5),  # an int for a float
        (int, OptionInfo(), True),  # a bool is not an int here
        (int, OptionInfo(min=1), 14),  # a range to check
        (float, OptionInfo(max=10.0), 2.5),
        (str, OptionInfo(parser=str.upper), "x"),  # a parser of its own
        (str, OptionInfo(), b"bytes"),
        (list[str], ArgumentInfo(), ("a", 1)),
        (list[int], ArgumentInfo(), (1, 2)),
        (Path, OptionInfo(path_type=str), "x"),
    ],
)
def test_anything_else_is_left_to_typers_adapter(annotation: Any, info: Any, value: Any) -> None:
    assert cli_params.plain_value(annotation, info, value) is cli_params._NONE  # noqa: SLF001


def test_a_path_that_must_exist_fails_as_typer_says(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(typer.BadParameter) as real:
        typers_own(Path, ArgumentInfo(exists=True), missing)
    with pytest.raises(typer.BadParameter) as fast:
        cli_params.plain_value(Path, ArgumentInfo(exists=True), missing)
    assert str(fast.value) == str(real.value)


def test_installed_it_is_what_the_commands_use(cli, project_dir: Path) -> None:
    """Values typer has to check still are: a number, a bad number, one out of range."""
    from typer.core import _TyperParameter

    assert cli_params.install() and _TyperParameter._deskmove_plain  # noqa: SLF001
    assert cli("status", "--active-days", "7").exit_code == 0
    bad = cli("status", "--active-days", "seven")
    assert bad.exit_code == 2 and "Invalid value for '--active-days'" in bad.output
    assert cli("--deadline", "0", "status").exit_code == 2  # below its minimum


def test_a_short_command_does_not_load_pydantic(cli, project_dir: Path) -> None:
    assert cli("status").exit_code == 0

    def loaded(*args: str) -> str:
        code = (
            "import sys\n"
            "from deskmove.cli import main\n"
            f"sys.argv = ['deskmove', '--project', {str(project_dir)!r}, *{args!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
        )
        return loaded_after(code, ("pydantic",))

    assert "LOADED []" in loaded("status")
    assert "LOADED []" in loaded("status", "--json")
    # a number written on the command line is typer's to check, with pydantic
    assert "LOADED ['pydantic']" in loaded("status", "--active-days", "7")
