"""One deskmove run at a time per project: a file lock, or an advisory lock on PostgreSQL.

SQLite stores use ``fcntl.flock`` on ``deskmove.lock`` in the project folder; the
kernel drops the lock when the holder dies, so a run killed with ``kill -9``
never leaves a lock that blocks the next cron run. The file records the holder
(pid, host, command, start) for the message the next run prints.

PostgreSQL stores (possibly shared by several machines) use a session advisory
lock held on a dedicated connection; the server drops it when that connection
closes. The holder is described in the connection's ``application_name`` so a
waiting run can name it.

The lock is re-entrant inside one process: ``sync`` holds it while it calls
``import_source`` and ``export_target``, which take it too.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deskmove.errors import LockHeld
from deskmove.oserrors import explain

if TYPE_CHECKING:
    from deskmove.config import Project
    from deskmove.store import Store

LOCK_FILE = "deskmove.lock"
# pg_try_advisory_lock takes a bigint; this one spells "deskmove" in ASCII.
PG_LOCK_KEY = 0x6465736B6D6F7665

_held: dict[str, int] = {}  # lock key -> depth, for re-entry inside one process
_guard = threading.Lock()


@dataclass
class Holder:
    pid: int | None
    host: str | None
    command: str | None
    started_at: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another deskmove process"
        since = f", since {self.started_at}" if self.started_at else ""
        cmd = f" ({self.command})" if self.command else ""
        return f"deskmove{cmd} pid {self.pid} on {self.host}{since}"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _me(command: str) -> Holder:
    return Holder(
        os.getpid(),
        socket.gethostname(),
        command,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _held_error(holder: Holder) -> LockHeld:
    return LockHeld(
        f"{holder.describe()} holds the project lock",
        "this run did nothing; cron will try again at its next turn (exit code 75)",
    )


def _key(root: Path | str, store_url: str) -> str:
    return store_url if store_url.startswith("postgresql") else str(Path(root).resolve())


def is_held(root: Path | str, store_url: str) -> bool:
    """Whether this process already holds the project's lock."""
    with _guard:
        return bool(_held.get(_key(root, store_url)))


@contextmanager
def project_lock(root: Path, store_url: str, command: str) -> Iterator[Holder | None]:
    """Hold the project's lock for the block; raise :class:`LockHeld` when another run has it.

    Yields the holder recorded by a previous run that did not release the lock
    itself (it was killed), else None.
    """
    key = _key(root, store_url)
    with _guard:
        depth = _held.get(key, 0)
        if depth:
            _held[key] = depth + 1
    if depth:
        try:
            yield None
        finally:
            with _guard:
                _held[key] -= 1
        return
    backend = _pg_lock if store_url.startswith("postgresql") else _file_lock
    with backend(root, store_url, command) as stale:
        with _guard:
            _held[key] = 1
        try:
            yield stale
        finally:
            with _guard:
                _held.pop(key, None)


@contextmanager
def _file_lock(root: Path, _url: str, command: str) -> Iterator[Holder | None]:
    path = Path(root) / LOCK_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise explain(exc, f"open the lock file {LOCK_FILE}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _held_error(_read_holder(fd)) from None
        previous = _read_holder(fd)  # a holder written but never cleared: that run was killed
        _write(fd, json.dumps(_me(command).as_dict()))
        try:
            yield previous if previous.pid is not None else None
        finally:
            _write(fd, "")
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def clean_lock(root: Path, store_url: str, command: str) -> Iterator[bool]:
    """The project's file lock, for a run that goes on only when it is free and no killed
    run's holder is recorded: yields False otherwise, leaving the lock file as it was
    found, so that :func:`project_lock` (the full path) finds, reports and clears it as
    ever. A PostgreSQL store, a lock already held in this process or a lock file that
    cannot be opened: False."""
    if store_url.startswith("postgresql") or is_held(root, store_url):
        yield False
        return
    try:
        fd = os.open(Path(root) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another run: the full path says so
            yield False
            return
        try:
            if _read_holder(fd).pid is not None:  # a killed run's: the full path reports it
                yield False
                return
            key = _key(root, store_url)
            _write(fd, json.dumps(_me(command).as_dict()))
            with _guard:
                _held[key] = 1
            try:
                yield True
            finally:
                with _guard:
                    _held.pop(key, None)
                _write(fd, "")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> Holder:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError):
        data = {}
    return Holder(data.get("pid"), data.get("host"), data.get("command"), data.get("started_at"))


def _write(fd: int, text: str) -> None:
    """Record (or clear) the holder; best effort: the flock is the lock, this only names it.

    On a full disk the holder cannot be written, but the run still holds the
    lock and gets to the store's own, clearer error.
    """
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, 0)  # a half-written holder must not name a wrong process
        except OSError:
            pass


def running_now(root: Path | str, store_url: str) -> bool:
    """Whether some deskmove run holds the project's lock right now (writes nothing)."""
    if store_url.startswith("postgresql"):
        return _pg_running(store_url)
    try:
        fd = os.open(Path(root) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # never locked, or unreadable: no run could hold it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _pg_running(url: str) -> bool:
    from deskmove.store.pglock import lock_held

    return lock_held(url, PG_LOCK_KEY)


@contextmanager
def _pg_lock(_root: Path, url: str, command: str) -> Iterator[Holder | None]:
    from deskmove.store.pglock import AdvisoryLockBusy, advisory_lock

    try:
        with advisory_lock(url, PG_LOCK_KEY, _label(_me(command))):
            yield None
    except AdvisoryLockBusy as busy:
        raise _held_error(_parse_label(busy.name, busy.started)) from None


def _label(me: Holder) -> str:
    """``deskmove PID@HOST COMMAND``, cut to PostgreSQL's 63-byte application_name."""
    return f"deskmove {me.pid}@{me.host} {me.command}".encode()[:63].decode("utf-8", "ignore")


def _parse_label(name: str, started: Any) -> Holder:
    parts = name.split(" ", 2)
    if len(parts) < 2 or parts[0] != "deskmove" or "@" not in parts[1]:
        return Holder(None, None, None, None)
    pid, _, host = parts[1].partition("@")
    since = started.isoformat(timespec="seconds") if isinstance(started, datetime) else None
    return Holder(
        int(pid) if pid.isdigit() else None, host, parts[2] if len(parts) > 2 else None, since
    )


@contextmanager
def locked(project: Project, store: Store, command: str) -> Iterator[None]:
    """Hold the project lock for ``command``; the first holder marks the runs a killed
    process left "running" as interrupted."""
    outermost = not is_held(project.root, store.url)
    with project_lock(project.root, store.url, command):
        if outermost:
            store.mark_interrupted()
        yield
