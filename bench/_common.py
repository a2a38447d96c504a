"""Helpers shared by the benchmarks: run a step in a fresh process, print a result table.

Peak memory is each child process's own peak resident set size (``resource.getrusage``
``RUSAGE_SELF`` ``ru_maxrss``, read by the child at its end), so each step's figure is
its own and includes everything: the interpreter, SQLite's page cache, buffers.
"""

from __future__ import annotations

import compileall
import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    name: str
    seconds: float
    items: int
    peak_mb: float
    extra: dict

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def kept_store(db: Path, made_by: str) -> Path:
    """``db`` when it is a store file; otherwise end with an error naming the folder to pass
    (an opened sqlite3 path that does not exist would be created empty, then fail)."""
    if not db.is_file():
        sys.exit(f"Error: no store at {db} — pass the folder {made_by}")
    return db


def compiled(src: Path) -> None:
    """Compile ``src`` to bytecode once, before anything is timed.

    As an installed deskmove runs: its bytecode compiled. A checkout under
    PYTHONDONTWRITEBYTECODE would otherwise compile every module it imports lazily
    inside the timed step, on every run.
    """
    compileall.compile_dir(src, quiet=1)


def run_child(script: Path, args: list[str], name: str) -> Result:
    """Run ``script args`` in a new interpreter; it prints one JSON line {seconds, items, …}."""
    out = subprocess.run(
        [sys.executable, str(script), *args], check=True, capture_output=True, text=True
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    extra = {k: v for k, v in data.items() if k not in ("seconds", "items", "maxrss_kb")}
    return Result(name, data["seconds"], data["items"], data["maxrss_kb"] / 1024, extra)


def child_report(seconds: float, items: int, **extra: object) -> None:
    """What a child prints: its own timing and peak RSS (KiB)."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "items": items, "maxrss_kb": maxrss, **extra}))


def table(results: list[Result], floor: Result, unit: str) -> str:
    """Wall time, rate and ratio to the floor; CPU seconds too (fairer on a busy machine)."""
    head = f"{'step':<28}{'wall s':>8}{unit + '/s':>12}{'x floor':>9}{'cpu s':>8}{'x floor':>9}{'peak RSS MB':>13}"
    lines = [head]
    for r in results:
        ratio = r.seconds / floor.seconds if floor.seconds else 0.0
        cpu, fcpu = r.extra.get("cpu", 0.0), floor.extra.get("cpu", 0.0)
        cratio = cpu / fcpu if fcpu else 0.0
        lines.append(
            f"{r.name:<28}{r.seconds:>8.2f}{r.rate:>12,.0f}{ratio:>9.2f}{cpu:>8.2f}{cratio:>9.2f}{r.peak_mb:>13.1f}"
        )
    return "\n".join(lines)
