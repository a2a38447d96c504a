"""``deskmove quarantine``: list, show, retry and drop what could not be imported."""

from __future__ import annotations

import base64
import sys
from typing import Annotated

import typer

from deskmove.cli_support import local_minute

quarantine_app = typer.Typer(no_args_is_help=True)


@quarantine_app.callback()
def quarantine() -> None:
    """Review what could not be imported: list it, see its bytes, retry it, or drop it.

    Every item is kept with its source, its place in the input (file and line, message
    id …), the reason and the raw bytes. An item leaves the quarantine when a retry (or a
    later import) brings it in, or when someone drops it with a reason; `deskmove status`
    counts only the open ones.

    Example:

    \b
        deskmove quarantine list
        deskmove quarantine show 12 | less
        deskmove quarantine retry            # all open items, through today's mappings
        deskmove quarantine drop 12 13 --why "test tickets, not needed"
    """


def _handles_errors(fn):  # type: ignore[no-untyped-def]
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        from deskmove.cli import handles_errors

        return handles_errors(fn)(*args, **kwargs)

    return wrapper


@quarantine_app.command("list")
@_handles_errors
def list_cmd(
    ctx: typer.Context,
    all_items: Annotated[
        bool, typer.Option("--all", help="Also items that were imported or dropped since.")
    ] = False,
) -> None:
    """List quarantined items: id, source, where in the input, reason, when.

    Example:

    \b
        deskmove quarantine list
        deskmove quarantine list --all
        deskmove quarantine list --json | jq '.items[] | {id, reference, reason}'
    """
    from deskmove.cli import _globals
    from deskmove.store import quarantine as q

    g = _globals(ctx)
    with g.opened() as (_project, store):
        items = q.items(store, open_only=not all_items)
    if g.json:
        g.emit("", {"items": [i.as_dict() for i in items]})
        return
    if not items:
        g.emit("Nothing quarantined." if not all_items else "Nothing was ever quarantined.", {})
        return
    for i in items:
        state = f"  [{i.state}{': ' + i.note if i.note else ''}]" if i.resolved else ""
        typer.echo(
            f"#{i.id}  {local_minute(i.created_at)}  {i.connection}  {i.native_ref}: {i.reason}{state}"
        )
    if not g.quiet:
        typer.echo(
            f"{sum(not i.resolved for i in items)} open — `deskmove quarantine show ID` for the bytes, "
            "`retry` to run them again, `drop ID --why TEXT` once reviewed",
            err=True,
        )


@quarantine_app.command("show")
@_handles_errors
def show_cmd(
    ctx: typer.Context,
    item_id: Annotated[
        int, typer.Argument(metavar="ID", help="An item id from `quarantine list`.")
    ],
) -> None:
    """Write an item's raw bytes (the row, the mail) to stdout, exactly as they were read.

    Example:

    \b
        deskmove quarantine show 12
        deskmove quarantine show 12 > item-12.eml
        deskmove --json quarantine show 12
    """
    from deskmove.cli import _globals
    from deskmove.errors import UsageError
    from deskmove.store import quarantine as q

    g = _globals(ctx)
    with g.opened() as (_project, store):
        item = q.get(store, item_id)
        if item is None:
            raise UsageError(f"no quarantined item #{item_id}", "see `deskmove quarantine list`")
        raw = store.blobs.get(item.raw_sha256) if item.raw_sha256 else None
    if g.json:
        g.emit(
            "", {**item.as_dict(), "raw_base64": base64.b64encode(raw).decode() if raw else None}
        )
        return
    if raw is None:
        raise UsageError(
            f"item #{item_id} ({item.native_ref}) has no raw bytes: the source kept none",
            f"its reason: {item.reason}",
        )
    sys.stdout.flush()
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()


@quarantine_app.command("retry")
@_handles_errors
def retry_cmd(
    ctx: typer.Context,
    item_ids: Annotated[
        list[int] | None,
        typer.Argument(metavar="[ID]...", help="Items to retry (default: all open)."),
    ] = None,
) -> None:
    """Run items again through today's code and mappings; those that import leave the quarantine.

    Fix the mapping (or deskmove.toml) first. Exit code 3 while something stays quarantined.

    Example:

    \b
        deskmove quarantine retry
        deskmove quarantine retry 12 13
    """
    from deskmove.cli import _globals
    from deskmove.errors import EXIT_QUARANTINED
    from deskmove.requeue import retry

    g = _globals(ctx)
    with g.opened() as (project, store):
        report = retry(project, store, item_ids or None)
    g.notes(report.notes)
    if not (g.json or g.quiet):
        for i in report.still:
            typer.echo(f"  #{i.id} {i.native_ref}: {i.reason}")
    g.emit(report.summary(), report.as_dict())
    if report.still:
        raise typer.Exit(EXIT_QUARANTINED)


@quarantine_app.command("drop")
@_handles_errors
def drop_cmd(
    ctx: typer.Context,
    item_ids: Annotated[list[int], typer.Argument(metavar="ID...", help="Items to drop.")],
    why: Annotated[
        str, typer.Option("--why", help="Why these need not be imported (kept with them).")
    ],
) -> None:
    """Mark items as reviewed and not to be imported; they stay in the store with your reason.

    Example:

    \b
        deskmove quarantine drop 12 --why "spam from before the filter"
        deskmove quarantine drop 12 13 14 --why "test tickets"
    """
    from deskmove.cli import _globals
    from deskmove.requeue import drop

    g = _globals(ctx)
    with g.opened() as (_project, store):
        items = drop(store, item_ids, why)
    g.emit(
        f"dropped {len(items)} (kept as reviewed: {why.strip()})",
        {"dropped": [i.as_dict() for i in items]},
    )
