"""The ``deskmove`` command: parses, calls the library, prints, maps errors to exit codes."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from deskmove import __version__, cli_params
from deskmove.audit.cli import audit_app
from deskmove.cli_quarantine import quarantine_app
from deskmove.cli_reclassify import reclassify_cmd
from deskmove.cli_support import (
    EXIT_CLOSED_PIPE,
    GlobalOptionsGroup,
    quiet_closed_pipe,
    require_project,
)
from deskmove.config import PROJECT_FILE, Project, init_project
from deskmove.errors import EXIT_FAILED, EXIT_QUARANTINED, DeskmoveError

if TYPE_CHECKING:
    from deskmove.store import Store

cli_params.install()  # plain values skip typer's pydantic layer (a twentieth of a second)


def _sync():  # noqa: ANN202 - the orchestration module, imported when a command runs
    """deskmove.sync (and with it SQLAlchemy and the models): not needed for ``--help``."""
    from deskmove import sync

    return sync


app = typer.Typer(
    name="deskmove",
    cls=GlobalOptionsGroup,  # its help is main_options' docstring, with examples
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
adapters_app = typer.Typer(no_args_is_help=True)


@adapters_app.callback()
def adapters() -> None:
    """What adapters are installed, and whether a REST spec is valid.

    Example:

    \b
        deskmove adapters list
        deskmove adapters check adapters/mydesk.yaml
    """


app.add_typer(adapters_app, name="adapters")
app.add_typer(audit_app, name="audit")
app.add_typer(quarantine_app, name="quarantine")
app.command("reclassify")(reclassify_cmd)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Globals:
    project: Path
    json: bool
    quiet: bool

    def load(self) -> Project:
        return require_project(self.project)

    def emit(self, line: str, data: dict[str, Any]) -> None:
        """One summary line for people, or JSON for scripts."""
        if self.json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        elif not self.quiet:
            typer.echo(line)

    @contextmanager
    def opened(self, *, write: bool = True) -> Iterator[tuple[Project, Store]]:
        """The project and its store, closed again when the command is done."""
        project = self.load()
        store = _sync().open_store(project, write=write)
        try:
            yield project, store
        finally:
            store.close()

    def notes(self, lines: Iterable[str]) -> None:
        """What a source or target noticed (detected encodings, …), on stderr for people."""
        if not (self.json or self.quiet):
            for line in lines:
                typer.echo(f"  {line}", err=True)

    @property
    def progress(self) -> bool:
        return not (self.quiet or self.json)


def _globals(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Globals) else Globals(Path("."), False, False)


def handles_errors(fn: F) -> F:
    """Turn library errors into ``Error: …`` on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DeskmoveError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # `deskmove status | head -2`: the reader has what it wanted
            quiet_closed_pipe()
            raise typer.Exit(EXIT_CLOSED_PIPE) from None
        except KeyboardInterrupt:
            typer.echo(
                "Error: interrupted — run the same command again; it resumes where it stopped",
                err=True,
            )
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except OSError as exc:  # a full disk, a read-only folder … on a path not wrapped yet
            from deskmove.oserrors import explain

            err = explain(exc, "read or write a file")
            typer.echo(f"Error: {err}", err=True)
            raise typer.Exit(err.exit_code) from None
        except Exception as exc:  # noqa: BLE001 - a bug must still not show a traceback to users
            if os.environ.get("DESKMOVE_DEBUG"):
                raise
            typer.echo(
                f"Error: unexpected {type(exc).__name__}: {exc} — this is a bug in deskmove; "
                "re-run with DESKMOVE_DEBUG=1 and report the traceback",
                err=True,
            )
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deskmove {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    project: Annotated[
        Path,
        typer.Option("--project", "-p", help="The project folder (deskmove.toml and the store)."),
    ] = Path("."),
    json_out: Annotated[
        bool, typer.Option("--json", help="Machine-readable output on stdout.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars and no summary line.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    deadline: Annotated[
        float | None,
        typer.Option(
            "--deadline",
            metavar="SECONDS",
            min=0.001,
            help="Stop waiting on remote systems after this long in all (exit 1; a re-run resumes).",
        ),
    ] = None,
) -> None:
    """Move a support team's history between helpdesks, without losing a message.

    Global options (--project, --json, --quiet, --deadline) go before or after the command.

    Example:

    \b
        deskmove init migration
        deskmove --project migration import csv:examples/helpdesk
        deskmove --project migration status --json
        cd migration && deskmove migrate csv:old-export zendesk://newshop --sample 20
    """
    ctx.obj = Globals(project=project, json=json_out, quiet=quiet)
    from deskmove import deadline as run_deadline
    from deskmove import notify

    run_deadline.start(deadline)
    notify.enable(not quiet)


@app.command()
@handles_errors
def init(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Project folder (default: --project or here).")
    ] = None,
) -> None:
    """Create DIR/deskmove.toml and an empty store.

    Example:

    \b
        deskmove init migration-2026
        deskmove --project migration-2026 status
    """
    g = _globals(ctx)
    root = (directory or g.project).resolve()
    existed = (root / PROJECT_FILE).is_file()
    path = init_project(root)
    project = Project.load(root)
    _sync().open_store(project).close()
    said = "Already a deskmove project, nothing changed:" if existed else "Initialised"
    g.emit(
        f"{said} {path} (store: {_store_label(project)})",
        {"project": str(root), "file": str(path), "created": not existed},
    )


@app.command("import")
@handles_errors
def import_cmd(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(help="A connection name from deskmove.toml, or a spec such as csv:PATH."),
    ],
) -> None:
    """Read a source into the store (re-runs import only what is new or changed).

    Example:

    \b
        deskmove import csv:examples/helpdesk
        deskmove import "csv:export.csv?mapping=zendesk-csv"
        deskmove import mbox:support.mbox
    """
    g = _globals(ctx)
    with g.opened() as (project, store):
        report = _sync().import_source(project, store, source, progress=g.progress)
    g.notes(report.notes)
    g.emit(report.summary(), report.as_dict())
    if report.quarantined:
        raise typer.Exit(EXIT_QUARANTINED)


@app.command("export")
@handles_errors
def export_cmd(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="A connection name from deskmove.toml, or a spec such as csv:DIR.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be pushed; write nothing.")
    ] = False,
) -> None:
    """Push the store's changes to a target.

    Example:

    \b
        deskmove export csv:out/
        deskmove export new-desk --dry-run
    """
    g = _globals(ctx)
    with g.opened() as (project, store):
        name, report = _sync().export_target(
            project, store, target, dry_run=dry_run, progress=g.progress
        )
    g.emit(_sync().push_summary(name, report), {"target": name, **report.as_dict()})
    g.notes(report.notes)
    if sum(report.failed.values()):
        raise typer.Exit(EXIT_FAILED)


@app.command()
@handles_errors
def migrate(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Where the history is now (connection or spec).")],
    target: Annotated[str, typer.Argument(help="Where it should go (connection or spec).")],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Import into the store, then only say what would be pushed."
        ),
    ] = False,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            metavar="N",
            help="Push only N representative tickets (undo with `rollback TARGET --run ID`).",
        ),
    ] = None,
) -> None:
    """Import SOURCE into the store, then export the store to TARGET.

    Example:

    \b
        deskmove migrate csv:examples/helpdesk csv:out/
        deskmove migrate old-inbox new-desk --dry-run
        deskmove migrate old-inbox new-desk --sample 20
    """
    from deskmove.sync import check_target

    g = _globals(ctx)
    sampled: dict[str, Any] = {}
    with g.opened() as (project, store):
        checked = check_target(project, target)  # credentials fail before the import, not after
        imported = _sync().import_source(project, store, source, progress=g.progress)
        if sample is None:
            name, pushed = _sync().export_target(
                project, store, target, dry_run=dry_run, progress=g.progress, checked=checked
            )
        else:
            from deskmove.sample import push_sample

            name, pushed, run_id, ids = push_sample(
                project, store, target, sample, dry_run=dry_run, progress=g.progress
            )
            undo = None if dry_run else undo_command(g.project, _lasting(project, target), run_id)
            sampled = {"sample": {"run_id": run_id, "tickets": ids, "undo": undo}}
    g.notes(imported.notes + pushed.notes)
    line = f"{imported.summary()}; {_sync().push_summary(name, pushed)}"
    if sampled:
        s = sampled["sample"]
        line += f"; sample of {len(s['tickets'])} tickets is run #{s['run_id']}"
        if s["undo"]:
            line += f" (undo: {s['undo']})"
    g.emit(
        line,
        {"import": imported.as_dict(), "export": {"target": name, **pushed.as_dict()}, **sampled},
    )
    if sum(pushed.failed.values()):
        raise typer.Exit(EXIT_FAILED)
    if imported.quarantined:
        raise typer.Exit(EXIT_QUARANTINED)


def undo_command(project: Path, target: str, run_id: int) -> str:
    """The command that removes what push run ``run_id`` created in ``target``: the program
    as it was run when that is not the ``deskmove`` on PATH (a venv not activated)."""
    import shlex
    import shutil

    prog, argv0 = "deskmove", Path(sys.argv[0])
    on_path = shutil.which("deskmove")
    if argv0.name == "deskmove" and (on_path is None or Path(on_path).resolve() != argv0.resolve()):
        prog = shlex.quote(str(argv0.resolve()))
    where = shlex.quote(str(project.resolve()))
    return f"{prog} --project {where} rollback {shlex.quote(target)} --run {run_id}"


def _lasting(project: Project, target: str) -> str:
    """TARGET as it names the same place from any folder: a connection of deskmove.toml
    as it is, an inline ``scheme:PATH?…`` with its path made absolute."""
    if target in project.section("connections"):
        return target
    conn = project.connection(target)
    if conn.spec.split(":", 1)[1].startswith("//"):
        return target
    query = conn.spec.partition("?")[2]
    return f"{conn.scheme}:{conn.location}" + (f"?{query}" if query else "")


@app.command()
@handles_errors
def status(
    ctx: typer.Context,
    active_days: Annotated[
        int, typer.Option("--active-days", help="Count conversations with a message this recent.")
    ] = 14,
) -> None:
    """Show counts, last runs, cursors, what is pending per target and what is quarantined.

    Example:

    \b
        deskmove --project migration-2026 status
        deskmove status --active-days 30
        deskmove --json status | jq .totals
    """
    from deskmove.store.quick import status_info
    from deskmove.syncplan import settle_running, sync_targets

    g = _globals(ctx)
    project = g.load()
    # A SQLite store at the newest revision is read with sqlite3 alone (no SQLAlchemy).
    info = status_info(project.store_url, sync_targets(project), active_days)
    if info is None:
        from deskmove.store.delta import connections_overview

        with g.opened(write=False) as (project, store):
            info = store.summary()
            info["cutover"] = connections_overview(store, sync_targets(project), active_days)
    settle_running(project, project.store_url, info)
    if g.json or g.quiet:
        g.emit("", info)
        return
    from deskmove.cli_status import status_lines

    typer.echo("\n".join(status_lines(_store_label(project), info)))


@app.command()
@handles_errors
def sync(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Only these sources/targets of the [sync] plan (default: all)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Import, then only say what would be pushed.")
    ] = False,
) -> None:
    """Import what is new from every [sync] source, then push it to every [sync] target.

    Made for cron: never two runs at once (exit 75 while another holds the lock, silent
    with --quiet), a fast no-op when nothing changed, one summary line (none with --quiet;
    errors go to stderr).

    Example:

    \b
        deskmove sync
        deskmove sync old-inbox new-desk --dry-run
        */5 * * * * cd /srv/migration && /srv/deskmove/.venv/bin/deskmove --quiet sync
    """
    from deskmove.errors import EXIT_LOCKED, LockHeld
    from deskmove.syncplan import idle_sync

    g = _globals(ctx)
    try:
        # nothing new anywhere, and sure of it: answered without the store's machinery
        report = None if dry_run else idle_sync(g.load(), names or None)
        if report is None:
            from deskmove.sync import sync_all

            with g.opened() as (project, store):
                report = sync_all(
                    project, store, names or None, dry_run=dry_run, progress=g.progress
                )
    except LockHeld:
        if g.quiet:  # cron: an overlapping run is routine, not worth a mail
            raise typer.Exit(EXIT_LOCKED) from None
        raise
    for name, exc in report.errors:
        typer.echo(f"Error: {name}: {exc}", err=True)
    g.notes(
        [n for r in report.imports for n in r.notes]
        + [n for _t, p in report.pushes for n in p.notes]
    )
    g.emit(report.summary(), report.as_dict())
    if report.errors:
        raise typer.Exit(max(exc.exit_code for _n, exc in report.errors))
    if report.failed:
        raise typer.Exit(EXIT_FAILED)
    if report.quarantined:
        if g.quiet:
            typer.echo(
                f"Warning: {report.quarantined} items quarantined — see `deskmove status`", err=True
            )
        raise typer.Exit(EXIT_QUARANTINED)


NEVER_PUSHED_SHOWN = 10


def _print_verify(report: Any, report_file: Path | None) -> None:
    """Every ticket that is not migrated, except a long run of never-pushed ones (a sample
    leaves the rest for the full run): a few of those, and how to see them all."""
    never = [c for c in report.checks if c.status == "missing" and c.problems == ["never pushed"]]
    hidden = {id(c) for c in never[NEVER_PUSHED_SHOWN:]}
    for c in report.checks:
        if c.status == "migrated" or id(c) in hidden:
            continue
        typer.echo(
            f"  ticket {c.ticket_id} ({c.native_id or '-'}): {c.status}: {'; '.join(c.problems)}"
        )
    if hidden:
        where = f"all of them are in {report_file}" if report_file else "--report FILE lists all"
        typer.echo(
            f"  … and {len(never) - NEVER_PUSHED_SHOWN:,} more tickets never pushed ({where}; "
            "after a --sample, `verify --pushed` checks only what was pushed)"
        )


@app.command()
@handles_errors
def verify(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="The target to check (connection or spec).")],
    report_file: Annotated[
        Path | None, typer.Option("--report", help="Write the per-ticket report here (JSON).")
    ] = None,
    pushed: Annotated[
        bool,
        typer.Option(
            "--pushed",
            help="Only the tickets deskmove pushed to TARGET (after a --sample: the sample, "
            "not the tickets left for the full run).",
        ),
    ] = False,
) -> None:
    """Reconcile the store with TARGET, ticket by ticket: migrated, changed, missing, failed.

    Compares message counts, authors, timestamps, public/internal and attachment
    hashes where the target shows them. Exit code 0 only when every ticket matches.

    Example:

    \b
        deskmove verify new-desk
        deskmove verify new-desk --report verify.json
        deskmove verify new-desk --pushed     # after migrate --sample 20
    """
    from deskmove.verify import verify_target

    g = _globals(ctx)
    with g.opened() as (project, store):
        report = verify_target(project, store, target, pushed_only=pushed)
    data = report.as_dict()
    if report_file is not None:
        report_file.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    if not g.json and not g.quiet:
        _print_verify(report, report_file)
    g.emit(report.summary(), data)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@app.command()
@handles_errors
def rollback(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="The target to clean (connection or spec).")],
    run: Annotated[
        int | None, typer.Option("--run", metavar="ID", help="Only what this push run created.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    include_people: Annotated[
        bool,
        typer.Option(
            "--include-people",
            help="Also delete the users, organizations and groups deskmove pushed "
            "(only when none of them existed in the target before).",
        ),
    ] = False,
) -> None:
    """Delete from TARGET exactly what deskmove created there (from the id map), nothing else.

    Tickets and their messages go; users and organizations stay unless
    --include-people, since a target may have matched an existing user by email.

    Example:

    \b
        deskmove rollback new-desk --run 12
        deskmove rollback new-desk --yes --include-people
    """
    from deskmove.rollback import preview
    from deskmove.rollback import rollback as do_rollback

    g = _globals(ctx)
    with g.opened() as (project, store):
        name = project.connection(target).name
        counts: dict[str, int] = {}
        for e in preview(project, store, target, run, include_people=include_people):
            counts[e.kind] = counts.get(e.kind, 0) + 1
        what = ", ".join(f"{n} {k}s" for k, n in sorted(counts.items())) or "nothing"
        scope = f" created by run #{run}" if run else ""
        if not yes and counts:
            typer.confirm(f"Delete {what}{scope} from {name}?", abort=True, err=True)
        report = do_rollback(project, store, target, run, include_people=include_people)
    g.notes(report.failed)
    g.emit(report.summary(), report.as_dict())
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


@adapters_app.command("list")
@handles_errors
def adapters_list(ctx: typer.Context) -> None:
    """List the installed source and target adapters.

    Example:

    \b
        deskmove adapters list
        deskmove --json adapters list
    """
    from deskmove.registry import adapters

    g = _globals(ctx)
    infos = adapters()
    if g.json:
        g.emit("", {"adapters": [i.as_dict() for i in infos]})
        return
    for i in infos:
        state = "" if i.available else f"  ({i.problem})"
        typer.echo(f"{i.role:6}  {i.scheme:10} {i.kind:4}  {i.description}{state}")


@adapters_app.command("check")
@handles_errors
def adapters_check(
    ctx: typer.Context,
    spec_file: Annotated[Path, typer.Argument(help="A REST adapter spec (YAML).")],
) -> None:
    """Validate a REST adapter spec; a bad key is reported with its path.

    Example:

    \b
        deskmove adapters check adapters/zendesk.yaml
    """
    g = _globals(ctx)
    try:
        from deskmove.rest.spec import load_spec
    except ImportError as exc:
        raise DeskmoveError(
            "the REST engine is not built in this version", "see the README's status"
        ) from exc
    from deskmove.rest.hooks import load_hooks

    spec = load_spec(spec_file)
    load_hooks(spec.hooks)  # a spec whose hooks module is missing is not valid
    g.emit(
        f"{spec_file}: valid ({spec.name})",
        {"file": str(spec_file), "valid": True, "name": spec.name},
    )


def _store_label(project: Project) -> str:
    from deskmove.store.quick import sqlite_path

    if sqlite_path(project.store_url) is not None:  # no password to hide
        return project.store_url
    from deskmove.store.engine import redact_url

    return redact_url(project.store_url)


from deskmove.web.cli import register as _register_web  # noqa: E402 - needs handles_errors

_register_web(app)  # `serve` and `users`; FastAPI loads only when they run


def main() -> None:
    """Console-script entry point."""
    # httpx loads its own command-line client (click, rich and pygments: a twentieth of a
    # second of CPU per REST command) when they are installed; deskmove never runs it.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from deskmove.gcpause import fewer_collections

    try:
        # Most of a short command's life is importing modules (typer, pydantic, SQLAlchemy,
        # the models), whose objects all live on: the cycle collector ran about 200 times
        # during a no-op sync, for a tenth of its CPU, and found next to nothing.
        try:
            with fewer_collections():
                app()
        finally:
            sys.stdout.flush()
    except BrokenPipeError:  # raised by the last flush, after the command was done
        quiet_closed_pipe()
        sys.exit(EXIT_CLOSED_PIPE)


if __name__ == "__main__":  # pragma: no cover - `python -m deskmove.cli`
    from deskmove.cli import main as importable_main  # one copy of this module, not two

    importable_main()
