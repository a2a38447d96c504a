"""Small pieces of the command line every command shares: global options anywhere,
a closed output pipe, and the project a command runs in."""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer that carries its own copy of click
    from typer._click.exceptions import NoSuchOption
except ImportError:  # pragma: no cover - typer on the installed click
    from click.exceptions import NoSuchOption

from deskmove.config import PROJECT_FILE, Project
from deskmove.errors import UsageError

# The root's options a user may also write after the command (`deskmove status --json`).
GLOBAL_FLAGS = ("--json", "--quiet", "-q")
GLOBAL_VALUED = ("--project", "-p", "--deadline")

# What a process killed by SIGPIPE returns in a shell (128 + 13): the reader went away.
EXIT_CLOSED_PIPE = 141


class GlobalOptionsGroup(TyperGroup):
    """The root group: global options written after the command are moved before it.

    ``deskmove status --json`` then means ``deskmove --json status``. An option the
    command itself declares under the same name stays with the command, and
    nothing after ``--`` is touched.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(self, ctx, list(args))
        with closed_pipe_exits():  # `deskmove --help | head -1`
            return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:
        with closed_pipe_exits():  # a command's --help, and anything a command prints
            try:
                return super().invoke(ctx)
            except NoSuchOption as exc:  # `status --projcet`: the global one is meant
                if not exc.possibilities:
                    names = [*GLOBAL_FLAGS, *GLOBAL_VALUED]
                    exc.possibilities = difflib.get_close_matches(exc.option_name, names, n=2)
                raise


@contextmanager
def closed_pipe_exits() -> Iterator[None]:
    """A closed output pipe ends the command quietly with exit code 141."""
    try:
        yield
    except BrokenPipeError:
        quiet_closed_pipe()
        raise typer.Exit(EXIT_CLOSED_PIPE) from None


def hoist_global_options(root: Any, ctx: typer.Context, args: list[str]) -> list[str]:
    """``[cmd…, --json, …]`` → ``[--json, cmd…, …]`` for the root's global options."""
    leaf_opts = _leaf_options(root, ctx, args)
    front: list[str] = []
    rest: list[str] = []
    seen_command = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if not seen_command:
            if not arg.startswith("-"):
                seen_command = True
                rest.append(arg)
            else:
                front.append(arg)
                if name in GLOBAL_VALUED and "=" not in arg and i + 1 < len(args):
                    front.append(args[i + 1])
                    i += 1
            i += 1
            continue
        if name in GLOBAL_FLAGS and "=" not in arg and name not in leaf_opts:
            front.append(arg)
        elif name in GLOBAL_VALUED and name not in leaf_opts:
            front.append(arg)
            if "=" not in arg and i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _leaf_options(root: Any, ctx: typer.Context, args: list[str]) -> set[str]:
    """The option names the command being run declares itself."""
    cmd: Any = root
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--":
            break
        if arg.startswith("-"):
            skip = cmd is root and arg in GLOBAL_VALUED
            continue
        if not hasattr(cmd, "get_command"):
            break
        sub = cmd.get_command(ctx, arg)
        if sub is None:
            break
        cmd = sub
    if cmd is root:
        return set()
    options = [p for p in cmd.params if getattr(p, "param_type_name", "") == "option"]
    return {o for p in options for o in [*p.opts, *p.secondary_opts]}


def quiet_closed_pipe() -> None:
    """The reader of our output went away (``deskmove status | head -2``): say nothing more.

    Standard output is pointed at /dev/null so the interpreter's last flush is silent too.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (CliRunner's buffer)
        pass


def require_project(root: Path) -> Project:
    """The project in ``root``; every command but ``init`` refuses a folder without one."""
    root = Path(root).expanduser().resolve()
    if not (root / PROJECT_FILE).is_file():
        raise UsageError(
            f"no deskmove project in {root}",
            f"run deskmove init {_shell_path(root)}",
        )
    return Project.load(root)


def _shell_path(path: Path) -> str:
    """The path as a user would type it: relative to here when it is below here."""
    try:
        rel = path.relative_to(Path.cwd())
        text = str(rel) if str(rel) != "." else "."
    except ValueError:
        text = str(path)
    return (
        text if all(c not in text for c in " '\"$`\\") else "'" + text.replace("'", "'\\''") + "'"
    )


def local_minute(value: Any) -> str:
    """A timestamp as a person reads it: local time, to the minute (``2026-12-01 22:13``)."""
    from datetime import UTC, datetime

    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone().strftime("%Y-%m-%d %H:%M")
