"""Command-line values that are already what they should be skip typer's pydantic layer.

typer checks every parameter's value with a pydantic ``TypeAdapter`` built for it
when the command runs. Loading that layer and building the adapters is about a
twentieth of a second, a quarter of what a short command such as ``deskmove
status`` or a cron ``sync`` with nothing to do takes in all. Most values need no
check at all: a default (``Path(".")``, ``14``, ``False``), a word for a ``str``
option, the words of a ``list[str]`` argument.

:func:`install` lets such a value through as typer's own adapter would return it,
and hands every other value (``--deadline 5``, a choice, a ranged number, a
parser) to typer's adapter, built when first needed. ``tests/test_cli_params.py``
holds each shortcut equal to typer's adapter, value by value. With a typer that
has no such layer (older releases), nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, get_args, get_origin

_NONE = object()  # "no shortcut for this value"
_PATH = type(Path())  # what Path(...) makes here (PosixPath, WindowsPath)


def plain_value(annotation: Any, info: Any, value: Any, param: Any = None, ctx: Any = None) -> Any:
    """``value`` as typer's adapter for ``annotation`` returns it, or ``_NONE`` when only
    that adapter can say (anything but an unconstrained bool, int, float, str, Path or
    list of str that already has its type; a str for a Path)."""
    if info.parser is not None:
        return _NONE
    kind = type(value)
    if annotation is bool or annotation is str:
        return value if kind is annotation else _NONE
    if annotation is int or annotation is float:
        if info.min is not None or info.max is not None:
            return _NONE
        return value if kind is annotation else _NONE
    if annotation is Path:
        if info.path_type is not None or (kind is not str and kind is not _PATH):
            return _NONE
        from typer._param_types import coerce_cli_path

        return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        if (kind is list or kind is tuple) and all(type(v) is str for v in value):
            return list(value)
    return _NONE


def install() -> bool:
    """Put the shortcut in front of typer's adapters; whether this typer has them."""
    try:
        from typer import _coercion
        from typer.core import _TyperParameter
    except ImportError:  # pragma: no cover - a typer without the pydantic layer
        return False
    if getattr(_TyperParameter, "_deskmove_plain", False):
        return True
    base = _coercion.RuntimeParam

    @dataclass(frozen=True)
    class PlainFirst(base):  # type: ignore[misc, valid-type]
        """typer's coercion for one parameter, with the shortcut tried first."""

        descriptor: Any

        @cached_property
        def typers(self) -> Any:
            """typer's own coercion, built the first time a value needs it."""
            return _coercion.build_runtime_param(self.descriptor)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            out = plain_value(self.annotation, self.parameter_info, value, param, ctx)
            if out is not _NONE:
                return out
            return self.typers._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            d = self.type_descriptor
            if d.file_annotation is not None or d.is_choice:
                self._runtime_param = _coercion.build_runtime_param(d)
            else:
                self._runtime_param = PlainFirst(
                    annotation=d.annotation, parameter_info=d.parameter_info, descriptor=d
                )
        return self._runtime_param

    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    _TyperParameter._deskmove_plain = True  # type: ignore[attr-defined]
    return True
