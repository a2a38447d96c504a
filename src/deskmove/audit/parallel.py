"""The channel scan on every core: other processes scan later parts of the messages.

The messages are cut into id ranges. This process scans the first; a worker process
(``python -m deskmove.audit.scanworker``) opens the store itself, read-only, and scans
each later one; nothing but the findings travels back, no message bodies. On
PostgreSQL a worker reads the snapshot this process's transaction exported, so both
see the same rows; on SQLite it reads the same file with plain ``sqlite3``
(:mod:`deskmove.store.auditscan`: it starts in a tenth of a second, without
SQLAlchemy or the model), running the query this process wrote for its range.

The findings of later ranges are added to the first's in id order, which gives what one
scan in one process finds, byte for byte (``Findings.merge``). Phone numbers need
more: customers' numbers are followed up to a bound, so which of them are followed
depends on everything before. A worker therefore counts the team's sightings itself
(they are always followed) and writes the customers' sightings, and each first
sighting of a team number, in order to a spool file; this process replays them after
its own range, with the bound, exactly as one scan would have counted them. The spool
is read a chunk at a time: memory stays flat.

Workers start only for stores of :data:`MIN_PARALLEL_MESSAGES` or more (starting one
costs more than scanning a small store), or when ``DESKMOVE_WORKERS`` asks for them
(``1``: none). A worker exits when its stdin closes (also when this process is
killed), and is killed when it takes longer than its deadline; a worker that fails is
reported as an error, never as a traceback.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import deskmove
from deskmove.audit import scan as scan_mod
from deskmove.audit.scan import Context, Findings, Phone, PhoneCounts, Regions, merge_evidence
from deskmove.errors import ConfigError, DeskmoveError
from deskmove.frames import receive as _receive
from deskmove.frames import send as _send
from deskmove.store.auditscan import ScanRow, ScanSource, SqliteScanReader

if TYPE_CHECKING:
    from deskmove.store.audit import AuditQueries

WORKERS_ENV = "DESKMOVE_WORKERS"
MIN_PARALLEL_MESSAGES = 40_000  # fewer are scanned faster in one process
FIRST_SHARE = 0.35  # of the messages scanned here: this process also runs the plan's queries
CHUNK = 5000  # phone sightings per spool record
WORKER_MODULE = "deskmove.audit.scanworker"
EXAMPLES_SENT = 50_000  # numbers remembered as having sent their example (then forgotten)


def deadline_seconds(messages: int) -> float:
    """How long a worker may take: far more than a scan needs on a loaded machine."""
    return 120.0 + messages / 200.0


def worker_count(messages: int) -> int:
    """Processes to scan with (1: this one alone)."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ConfigError(
                f"{WORKERS_ENV}={value} is not a number", f"e.g. {WORKERS_ENV}=2, or 1 for none"
            ) from None
    if messages < MIN_PARALLEL_MESSAGES:
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ScanFailed(DeskmoveError):
    """A worker process of the scan failed, or took too long."""


# -- this process ---------------------------------------------------------------------
class ParallelScan:
    """The scan started: workers scan the later ranges while this process scans the first
    (:meth:`start`) and runs other queries; :meth:`finish` adds the workers' findings."""

    def __init__(self, db: AuditQueries, ctx: Context, batch: int = 2000) -> None:
        self.db, self.ctx, self.batch = db, ctx, batch
        self.out: Findings | None = None
        self.workers: list[_Worker] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._first: tuple[int | None, int | None] = (None, None)

    def start(self) -> ParallelScan:
        """Start the workers (if the store is big enough) and scan the first range here."""
        try:
            self._start_workers()
            after, upto = self._first
            self.out = scan_mod.scan_range(
                self.db, self.ctx, after=after, upto=upto, batch=self.batch
            )
        except BaseException:
            self.close()
            raise
        return self

    def _start_workers(self) -> None:
        db = self.db
        n = db.message_count()
        count = worker_count(n)
        if count <= 1:
            return
        source = db.share()
        parts = db.scan_parts(_shares(count)) if source is not None else None
        if not parts or len(parts) < 2:
            return
        self._first = parts[0]
        self._tmp = tempfile.TemporaryDirectory(prefix="deskmove-audit-")
        deadline = time.monotonic() + deadline_seconds(n)
        for i, (after, upto) in enumerate(parts[1:], 1):
            spool = Path(self._tmp.name) / f"scan-{i}"
            task = {
                "source": source,
                "ctx": self.ctx,
                "after": after,
                "upto": upto,
                "sql": db.scan_sql(after, upto) if source.dialect == "sqlite" else None,
                "batch": self.batch,
                "spool": str(spool),
            }
            self.workers.append(_Worker(task, spool, deadline))

    def finish(self) -> Findings:
        """The findings of every range, as one scan in one process finds them."""
        assert self.out is not None, "start() first"
        try:
            tally = PhoneCounts(self.out)
            for worker in self.workers:
                worker.wait()
                replay(worker.records(), self.out, tally)
        finally:
            self.close()
        return self.out

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self.workers = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _shares(count: int) -> list[float]:
    rest = (1.0 - FIRST_SHARE) / (count - 1)
    return [FIRST_SHARE] + [rest] * (count - 1)


def replay(records: Any, out: Findings, tally: PhoneCounts) -> None:
    """A worker's spool added to ``out``: its phone sightings counted in order (with the
    bound on customers' numbers), then the team's sightings it counted and its other
    findings."""
    for kind, value in records:
        if kind == "phones":
            _replay_phones(value, out, tally)
        elif kind == "done":
            agents, later = value
            for key, agg in agents.items():
                p = out.phones[key]  # made by its first sighting, replayed before
                p.count += agg.count
                p.signed = p.signed or agg.signed
                if agg.evidence is not None:
                    merge_evidence(p.team_evidence(), agg.evidence)
                p.agent_tickets = tuple(dict.fromkeys(p.agent_tickets + agg.agent_tickets))[:3]
            out.merge(later)
            return
    raise ScanFailed(
        "the audit's scan worker left an incomplete answer",
        "run the audit again; DESKMOVE_WORKERS=1 scans in one process",
    )


def _replay_phones(events: list[tuple[Any, ...]], out: Findings, tally: PhoneCounts) -> None:
    phones = out.phones
    for key, raw, regions, aid, example, agent in events:
        if agent:  # the team's first sighting of a number, or a new author of it
            p = phones.get(key)
            if p is None:
                p = phones[key] = Phone(written=raw, regions=regions)
            if aid is not None and aid not in p.authors and len(p.authors) < 5:
                p.authors += (aid,)
        else:
            tally.customer(key, raw, regions, aid, _Example(example))


class _Example:
    """A customer's sighting's example as the worker sent it (only when one may be wanted)."""

    __slots__ = ("text",)

    def __init__(self, text: str | None) -> None:
        self.text = text

    def __call__(self) -> str:
        if self.text is None:
            raise ScanFailed(
                "the audit's scan worker left out an example it should have sent",
                "run the audit again; DESKMOVE_WORKERS=1 scans in one process",
            )
        return self.text


class _Worker:
    """One worker process: its task goes in on stdin; its answer is a spool file plus one
    status record on stdout."""

    def __init__(self, task: dict[str, Any], spool: Path, deadline: float) -> None:
        package_root = str(Path(deskmove.__file__).resolve().parents[1])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
        self.spool, self.deadline = spool, deadline
        self._stderr = open(str(spool) + ".err", "w+b")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self._answer: list[bytes] = []
        data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        # Sent and answered in a thread: the worker reads its task only once it has
        # imported deskmove, and this process scans meanwhile.
        self._reader = threading.Thread(
            target=self._talk, args=(data,), daemon=True, name="deskmove-audit-scan"
        )
        self._reader.start()

    def _talk(self, task: bytes) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            _send(self.proc.stdin, task)
            self._answer.append(_receive(self.proc.stdout))
        except (OSError, EOFError, ValueError, struct.error):
            pass  # it died: wait() says why

    def wait(self) -> None:
        """Wait for the answer (up to the deadline); raise ScanFailed when there is none."""
        self._reader.join(max(0.0, self.deadline - time.monotonic()))
        if self._reader.is_alive():
            self.close()
            raise ScanFailed(
                "the audit's scan worker did not finish in time and was stopped",
                "run the audit again when the machine is less busy; DESKMOVE_WORKERS=1 "
                "scans in one process",
            )
        answer = pickle.loads(self._answer[0]) if self._answer else None
        if answer == "ok":
            return
        if isinstance(answer, tuple) and answer[0] == "error":
            raise ScanFailed(
                f"the audit's scan worker failed: {answer[1]}",
                answer[2] or "run the audit again; DESKMOVE_WORKERS=1 scans in one process",
            )
        code = self.proc.wait()
        raise ScanFailed(
            f"the audit's scan worker ended without an answer (exit status {code}"
            f"{self._last_words()})",
            "run the audit again; DESKMOVE_WORKERS=1 scans in one process",
        )

    def _last_words(self) -> str:
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines() if ln]
        return f": {lines[-1].strip()[:300]}" if lines else ""

    def records(self) -> Iterator[tuple[str, Any]]:
        return read_spool(self.spool)

    def close(self) -> None:
        proc = self.proc
        if proc.stdin and not proc.stdin.closed:
            try:
                proc.stdin.close()  # a worker still running exits on this
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        self._stderr.close()


def read_spool(path: Path) -> Iterator[tuple[str, Any]]:
    """A worker's spool, one record at a time."""
    with open(path, "rb") as fh:
        while True:
            try:
                yield pickle.load(fh)
            except EOFError:
                return


def worker_command() -> list[str]:
    return [sys.executable, "-m", WORKER_MODULE]


# -- a worker process -----------------------------------------------------------------
class PhoneEvents(PhoneCounts):
    """A worker's phone sightings: the team's counted here (always followed, in any order),
    everything whose order matters written to the spool for :func:`replay`."""

    def __init__(self, out: Findings, spool: IO[bytes]) -> None:
        super().__init__(out)
        self.spool = spool
        self.events: list[tuple[Any, ...]] = []
        self.agents: dict[str, Phone] = {}  # the team's sightings, per number
        self.sent: dict[str, None] = {}  # numbers whose example was sent, since any team sighting

    def customer(self, key: str, raw: str, regions: Regions, aid: int | None, ex: Any) -> None:
        # The replay wants an example while the number has none: at its first sighting
        # here, or after a team sighting made it followed again.
        example = None
        if key not in self.sent:
            example = ex()
            if len(self.sent) >= EXAMPLES_SENT:
                self.sent.clear()  # forgotten: sent again, never missing
            self.sent[key] = None
        self._event((key, raw, regions, aid, example, False))

    def agent(
        self,
        key: str,
        raw: str,
        regions: Regions,
        row: ScanRow,
        signed: Callable[[str], bool],
        ex: Any,
    ) -> None:
        p = self.agents.get(key)
        aid = row.author_id
        if p is None:
            p = self.agents[key] = Phone(written=raw, regions=regions)
            self._event((key, raw, regions, aid, None, True))
            if aid is not None:
                p.authors = (aid,)
        elif aid is not None and aid not in p.authors and len(p.authors) < 5:
            # Only the first few authors of a number are kept: later ones change nothing.
            p.authors += (aid,)
            self._event((key, raw, regions, aid, None, True))
        self.sent.pop(key, None)
        p.count += 1
        if not p.signed:
            p.signed = signed(raw)
        p.team_evidence().add(row.created_at, ex)
        if row.ticket_id not in p.agent_tickets and len(p.agent_tickets) < 3:
            p.agent_tickets += (row.ticket_id,)

    def _event(self, event: tuple[Any, ...]) -> None:
        self.events.append(event)
        if len(self.events) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.events:
            pickle.dump(("phones", self.events), self.spool, protocol=pickle.HIGHEST_PROTOCOL)
            self.events = []


def worker_main() -> int:
    """Read one task from stdin, scan its range into the spool, answer on stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        task = pickle.loads(_receive(stdin))
    except (EOFError, pickle.UnpicklingError, struct.error):
        return 2
    # Die with the parent: it closes stdin when it stops waiting, or when it is killed.
    threading.Thread(target=_exit_on_eof, args=(stdin,), daemon=True).start()
    try:
        answer: Any = _scan_task(task)
    except DeskmoveError as exc:
        answer = ("error", exc.message, exc.hint)
    except Exception as exc:  # noqa: BLE001 - reported by the parent as an Error line
        answer = ("error", f"{type(exc).__name__}: {exc}", None)
    _send(stdout, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


def _exit_on_eof(stdin: IO[bytes]) -> None:
    while stdin.read(65536):
        pass
    os._exit(3)


def _scan_task(task: dict[str, Any]) -> str:
    from deskmove.gcpause import fewer_collections

    source: ScanSource = task["source"]
    with (
        _reader(source, task["sql"]) as db,
        fewer_collections(),
        open(task["spool"], "wb") as spool,
    ):
        out = Findings()
        tally = PhoneEvents(out, spool)
        scan_mod.scan_range(
            db,
            task["ctx"],
            after=task["after"],
            upto=task["upto"],
            batch=task["batch"],
            out=out,
            tally=tally,
        )
        tally.flush()
        pickle.dump(("done", (tally.agents, out)), spool, protocol=pickle.HIGHEST_PROTOCOL)
    return "ok"


@contextmanager
def _reader(source: ScanSource, sql: str | None) -> Iterator[Any]:
    """The store, read-only: plain ``sqlite3`` on SQLite (SQLAlchemy and the model are not
    even imported), the audit's own queries on the exported snapshot elsewhere."""
    if source.dialect == "sqlite" and sql is not None:
        reader = SqliteScanReader(source.url, sql)
        try:
            yield reader
        finally:
            reader.close()
        return
    from deskmove.store.audit import scan_reader

    with scan_reader(source) as db:
        yield db
