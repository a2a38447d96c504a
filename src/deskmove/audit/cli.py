"""``deskmove audit``: write the checklist and plan; ``audit check`` / ``uncheck`` tick items.

Kept light at import time (the audit itself is imported when a command runs),
so adding it to the CLI does not slow down ``deskmove sync`` under cron.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from deskmove.errors import InputError, UsageError

F = TypeVar("F", bound=Callable[..., Any])

audit_app = typer.Typer(  # its help is the callback's docstring
    invoke_without_command=True,
    no_args_is_help=False,
)


def handles_errors(fn: F) -> F:
    """deskmove.cli's error handling, looked up when the command runs (no import cycle)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from deskmove.cli import handles_errors as real

        return real(fn)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@audit_app.callback()
@handles_errors
def audit(
    ctx: typer.Context,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="md, html, json or pdf (default: from --out's suffix, else md)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Write the channel checklist and migration plan from everything in the store.

    Every inbound channel found (addresses and forwards, contact forms, phone
    numbers, forums and listings, chat and social, integrations) with its
    evidence, or "not seen in the data — verify by hand"; then volume, data
    quality, what the adapters keep and lose, active conversations with a cron
    line for delta sync, the quietest cutover window and a customer notice.

    Example:

    \b
        deskmove audit --out audit.html
        deskmove audit --out audit.pdf          # the HTML report, printed by Chromium
        deskmove audit --format md > audit.md
        deskmove --json audit | jq '.checklist[].id'
        deskmove audit check email:info@shop.example --note "forward set up"
    """
    if ctx.invoked_subcommand is not None:
        return
    from deskmove.audit.report import FORMATS, default_format, render, run_audit
    from deskmove.cli import _globals
    from deskmove.sync import open_store

    g = _globals(ctx)
    chosen = fmt or ("json" if g.json and out is None else default_format(out))
    if chosen not in (*FORMATS, "pdf"):
        raise UsageError(f"unknown format '{chosen}'", f"use one of: {', '.join(FORMATS)}, pdf")
    if chosen == "pdf" and out is None:
        raise UsageError("a PDF needs a file", "add --out audit.pdf")
    project = g.load()
    store = open_store(project)
    try:
        report = run_audit(project, store)
    finally:
        store.close()
    if chosen == "pdf":
        from deskmove.audit.pdf import html_to_pdf

        html_to_pdf(render(report, "html"), out)
    else:
        _write_text(render(report, chosen), out)
    if out is None:
        return
    from deskmove.audit.formats import summary_line

    g.emit(
        f"Wrote {out} ({chosen}): {summary_line(report)}",
        {"file": str(out), "format": chosen, **report.counts()},
    )


def _write_text(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write {out}: {exc.strerror}", "choose another --out path"
        ) from exc


def _tick(ctx: typer.Context, item: str, checked: bool, note: str | None) -> None:
    from deskmove.audit.report import check
    from deskmove.cli import _globals
    from deskmove.sync import open_store

    g = _globals(ctx)
    project = g.load()
    store = open_store(project)
    try:
        done = check(project, store, item, checked=checked, note=note)
    finally:
        store.close()
    word = "Ticked" if checked else "Unticked"
    g.emit(
        f"{word} {done.id}: {done.title}" + (f" — note: {done.note}" if note is not None else ""),
        {
            "item": done.id,
            "checked": done.checked,
            "note": done.note,
            "evidence_hash": done.evidence_hash(),
        },
    )


@audit_app.command("check")
@handles_errors
def check_cmd(
    ctx: typer.Context,
    item: Annotated[
        str,
        typer.Argument(help="An item id from the audit, e.g. email:info@shop.example or forms."),
    ],
    note: Annotated[
        str | None, typer.Option("--note", "-n", help="A note kept with the item.")
    ] = None,
) -> None:
    """Tick a checklist item (with a note); re-runs keep it and flag changed evidence.

    Example:

    \b
        deskmove audit check email:info@shop.example --note "alias moved on 3 May"
        deskmove audit check forms
    """
    _tick(ctx, item, True, note)


@audit_app.command("uncheck")
@handles_errors
def uncheck_cmd(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="An item id from the audit.")],
    note: Annotated[
        str | None, typer.Option("--note", "-n", help="Replace the item's note.")
    ] = None,
) -> None:
    """Untick a checklist item (its note stays unless --note replaces it).

    Example:

    \b
        deskmove audit uncheck phones
    """
    _tick(ctx, item, False, note)
