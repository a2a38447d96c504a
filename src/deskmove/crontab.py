"""The crontab line for delta sync, with the deskmove that is running now.

cron runs with a bare PATH (``/usr/bin:/bin``): a ``deskmove`` installed into a
virtualenv (the quickstart's ``.venv``) or ``~/.local/bin`` is not found there,
so the line names the program by its full path. Nor does cron have the secrets the
admin exported in their shell: a project whose connections need any reads them from
``deskmove.env`` beside deskmove.toml (readable by that user only).
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


ENV_FILE = "deskmove.env"


def needs_environment(root: Path) -> bool:
    """Whether a cron run needs secrets: a ``deskmove.env`` is there, or a connection
    names a secret (``{ env = … }``) or reaches a server or API (``scheme://``)."""
    import tomllib

    if (root / ENV_FILE).is_file():
        return True
    try:
        config = tomllib.loads((root / "deskmove.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    connections = config.get("connections")
    for entry in connections.values() if isinstance(connections, dict) else []:
        if not isinstance(entry, dict):
            continue
        if "://" in str(entry.get("spec", "")):
            return True
        if any(isinstance(v, dict) and "env" in v for v in entry.values()):
            return True
    return False


def cron_line_for(root: Path, *, every_minutes: int = 5) -> str:
    """The line for this project: with its secrets file when its connections need one."""
    env = f"./{ENV_FILE}" if needs_environment(root) else None
    return cron_line(root, every_minutes=every_minutes, env_file=env)
