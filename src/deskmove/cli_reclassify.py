"""``deskmove reclassify``: directions and people again, from the raw mail kept in the store."""

from __future__ import annotations

from typing import Annotated

import typer


def reclassify_cmd(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would change; write nothing.")
    ] = False,
) -> None:
    """Re-derive directions, people, requesters, auto flags and thread keys from the raw mail.

    Use it after setting or correcting [mail] support_addresses / support_domains in
    deskmove.toml: every mail message already in the store is read again from its raw
    original in the blob store (the source is not needed). Ticket ids and the id map stay
    as they are; nothing is pushed again. Messages and tickets a target already holds and
    that now differ (author, direction, requester) are listed, to correct there.

    Example:

    \b
        deskmove reclassify --dry-run
        deskmove reclassify
        deskmove reclassify --json | jq '.pushed[]'
    """
    from deskmove.cli import handles_errors

    handles_errors(_run)(ctx, dry_run)


def _run(ctx: typer.Context, dry_run: bool) -> None:
    from deskmove.cli import _globals
    from deskmove.reclassify import reclassify

    g = _globals(ctx)
    with g.opened() as (project, store):
        report = reclassify(project, store, dry_run=dry_run)
    lines = [report.summary()]
    if report.pushed:
        lines.append(
            f"{len(report.pushed)} of these are already in a target and were not pushed again; "
            "correct them there:"
        )
        lines += [
            f"  {p['target']}: {p['kind']} {p['id']} (there {p['native_id']}): {p['change']}"
            for p in report.pushed
        ]
    lines += [f"  not readable: {u}" for u in report.unreadable[:20]]
    g.emit("\n".join(lines), report.as_dict())
