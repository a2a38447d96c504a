"""The crontab line for delta sync, with the deskmove that is running now.

cron runs with a bare PATH (``/usr/bin:/bin``): a ``deskmove`` installed into a
virtualenv (the quickstart's ``.venv``) or ``~/.local/bin`` is not found there,
so the line names the program by its full path.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def deskmove_command() -> str:
    """How cron starts this deskmove: the script beside the running Python, else ``-m``."""
    script = Path(sys.executable).parent / "deskmove"
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m deskmove"


def cron_line(root: Path, *, every_minutes: int = 5, env_file: str | None = None) -> str:
    env = f" && . {shlex.quote(env_file)}" if env_file else ""
    return (
        f"*/{every_minutes} * * * * cd {shlex.quote(str(root))}{env} && "
        f"{deskmove_command()} --quiet sync"
    )
