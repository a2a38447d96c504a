"""`deskmove serve` and `deskmove users add|list|remove` (FastAPI and uvicorn load only here)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from deskmove.errors import MissingSecret, UsageError

users_app = typer.Typer(
    help="Accounts for the workspace (`deskmove serve`): add, list, remove.\n\n"
    "Example:\n\n\b\n    deskmove users add eva@shop.example --role admin\n"
    "    DESKMOVE_NEW_PASSWORD=... deskmove users add petr@shop.example\n"
    "    deskmove users list\n    deskmove users remove petr@shop.example",
    no_args_is_help=True,
)


def _cli():  # type: ignore[no-untyped-def]
    from deskmove import cli

    return cli


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="uvicorn worker processes (use PostgreSQL for more than one).",
        ),
    ] = 1,
    trust_proxy: Annotated[
        str | None,
        typer.Option(
            "--trust-proxy",
            metavar="IPS",
            help="Honour X-Forwarded-For/-Proto from these proxy addresses (comma-separated, or '*').",
        ),
    ] = None,
) -> None:
    """Serve the ticket workspace over this project's store.

    Agents log in at http://HOST:PORT/login with accounts made by `deskmove users add`.
    Replies go out through the [smtp] section of deskmove.toml (password from the
    environment). Behind a reverse proxy that terminates TLS, pass --trust-proxy with
    the proxy's address so the session cookie is marked Secure; X-Forwarded-* headers
    are ignored otherwise.

    Example:

    \b
        deskmove users add eva@shop.example --role admin
        deskmove serve --port 8000
        DESKMOVE_DATABASE_URL=postgresql+psycopg://desk@db/desk deskmove serve --workers 2
        deskmove serve --host 127.0.0.1 --port 8000 --trust-proxy 127.0.0.1
    """
    g = _cli()._globals(ctx)
    from deskmove.store import search
    from deskmove.store import workspace as ws

    with g.opened() as (project, store):
        if ws.count_users(store) == 0:
            raise UsageError(
                "there are no workspace accounts yet",
                "create one first: deskmove users add you@example.com --role admin",
            )
        from deskmove.web.mailout import smtp_config

        smtp_config(project)  # a bad [smtp] section stops here, not at the first reply
        with store.begin() as conn:
            indexed = search.index_missing(conn)
        if workers > 1 and store.dialect == "sqlite":
            typer.echo(
                "Note: SQLite serialises writes; several workers are meant for PostgreSQL.",
                err=True,
            )
    if indexed:
        g.notes([f"indexed {indexed} tickets for search"])
    try:
        import uvicorn
    except ImportError as exc:
        raise UsageError(
            "the workspace's libraries are not installed", "pip install 'deskmove[web]'"
        ) from exc
    os.environ["DESKMOVE_SERVE_PROJECT"] = str(project.root)
    if not g.quiet:
        typer.echo(f"Serving the workspace on http://{host}:{port}/ (Ctrl+C stops it)", err=True)
    options = {
        "proxy_headers": trust_proxy is not None,
        "forwarded_allow_ips": trust_proxy or None,
        "server_header": False,
        "log_level": "warning" if g.quiet else "info",
    }
    from deskmove.web import workers as worker_procs

    if workers > 1 and worker_procs.supported():
        if worker_procs.in_use(host, port):
            raise UsageError(f"something already listens on {host}:{port}", "choose another --port")
        worker_procs.run(workers, host, port, options)
        return
    uvicorn.run(worker_procs.APP, factory=True, host=host, port=port, workers=workers, **options)


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The agent's e-mail address (their login).")],
    role: Annotated[
        str, typer.Option("--role", help="agent (works tickets) or admin (also manages users).")
    ] = "agent",
    name: Annotated[
        str | None,
        typer.Option("--name", help="Display name (default: the person's name in the store)."),
    ] = None,
) -> None:
    """Create a workspace account; the password is asked for (or read from DESKMOVE_NEW_PASSWORD).

    The account is linked to the agent with that address in the store (created
    if there is none), so tickets assigned to that agent are theirs.

    Example:

    \b
        deskmove users add eva@shop.example --role admin --name "Eva Nováková"
        DESKMOVE_NEW_PASSWORD=… deskmove users add petr@shop.example
    """
    cli = _cli()
    g = cli._globals(ctx)
    from deskmove.store import workspace as ws
    from deskmove.web.auth import check_password_rules, hash_password

    password = os.environ.get("DESKMOVE_NEW_PASSWORD")
    if not password:
        if not os.isatty(0):
            raise MissingSecret("DESKMOVE_NEW_PASSWORD", "the new account's password")
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    check_password_rules(password)
    with g.opened() as (_project, store):
        account = ws.add_user(
            store, email=email, password_hash=hash_password(password), role=role, name=name
        )
    g.emit(
        f"Added {account.role} {account.email}",
        {
            "email": account.email,
            "role": account.role,
            "name": account.name,
            "person_id": account.person_id,
        },
    )


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List the workspace accounts.

    Example:

    \b
        deskmove users list
        deskmove --json users list
    """
    g = _cli()._globals(ctx)
    from deskmove.store import workspace as ws

    with g.opened() as (_project, store):
        accounts = ws.list_users(store)
    if g.json:
        g.emit(
            "", {"users": [{"email": a.email, "name": a.name, "role": a.role} for a in accounts]}
        )
        return
    if not accounts:
        typer.echo("No accounts yet: deskmove users add EMAIL --role admin")
    for a in accounts:
        typer.echo(f"{a.role:6} {a.email}  {a.name or ''}".rstrip())


@users_app.command("remove")
def users_remove(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The account's e-mail address.")],
) -> None:
    """Delete a workspace account and end its sessions (its notes and replies stay).

    Example:

    \b
        deskmove users remove petr@shop.example
    """
    g = _cli()._globals(ctx)
    from deskmove.store import workspace as ws

    with g.opened() as (_project, store):
        removed = ws.remove_user(store, email)
    if not removed:
        raise UsageError(f"there is no account for {email}", "see `deskmove users list`")
    g.emit(f"Removed {email.strip().lower()}", {"email": email.strip().lower(), "removed": True})


def register(app: typer.Typer) -> None:
    """Add `serve` and `users` to the deskmove command."""
    handles = _cli().handles_errors
    app.command("serve")(handles(serve))
    for cmd in users_app.registered_commands:
        cmd.callback = handles(cmd.callback)
    app.add_typer(users_app, name="users")
