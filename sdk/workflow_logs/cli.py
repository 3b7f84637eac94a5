"""The `workflow-logs` command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="workflow-logs",
    help="Execution logs for AI workflow engines on Postgres and Supabase.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)

DatabaseUrl = Annotated[
    Optional[str],
    typer.Option("--database-url", envvar="DATABASE_URL", help="Postgres URL (default: $DATABASE_URL)."),
]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@app.command()
def migrate(
    database_url: DatabaseUrl = None,
    supabase_shim: Annotated[
        bool,
        typer.Option(
            "--supabase-shim",
            help="First create local stand-ins for Supabase's roles, auth and realtime schemas. "
            "For a plain Postgres only; never on a real Supabase database.",
        ),
    ] = False,
) -> None:
    """Apply supabase/migrations in order, recorded as the Supabase CLI records them."""
    from ._migrate import migrate as run_migrate

    if not database_url:
        _fail("no database: pass --database-url or set DATABASE_URL")
    try:
        applied = asyncio.run(run_migrate(database_url, supabase_shim=supabase_shim))
    except (OSError, ValueError) as exc:
        _fail(f"cannot migrate: {exc}")
    except Exception as exc:  # asyncpg errors carry the SQL problem in their message
        if type(exc).__module__.startswith("asyncpg"):
            _fail(f"migration failed: {exc}")
        raise
    if applied:
        for m in applied:
            typer.echo(f"applied {m.version}_{m.name}")
    else:
        typer.echo("database is up to date")


@app.command()
def dev(
    database_url: DatabaseUrl = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the embedded Postgres keeps its data.")
    ] = Path(".dev/pgdata"),
    port: Annotated[int, typer.Option(help="Port of the bridge.", envvar="WORKFLOW_LOGS_PORT")] = 8000,
) -> None:
    """Start a local stack: embedded Postgres (unless DATABASE_URL is set), migrated, demo data, the bridge."""
    from ._dev import run_dev

    run_dev(database_url, data_dir.resolve(), port)


@app.command()
def serve(
    database_url: DatabaseUrl = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    listen: Annotated[
        bool,
        typer.Option(
            "--listen/--poll-only",
            envvar="WORKFLOW_LOGS_LISTEN",
            help="LISTEN for new logs (default), or only poll (behind a transaction pooler).",
        ),
    ] = True,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the bridge: the REST and SSE contract over the SQL API (secret from SUPABASE_JWT_SECRET)."""
    from pydantic import ValidationError

    if not database_url:
        _fail("no database: pass --database-url or set DATABASE_URL")
    try:
        from workflow_logs_bridge.settings import Settings
    except ImportError:
        _fail("the bridge is not installed: pip install 'workflow-logs[bridge]'")
    try:
        settings = Settings(DATABASE_URL=database_url, WORKFLOW_LOGS_LISTEN=listen)
    except ValidationError as exc:
        _fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()))
    _serve(settings, host, port, log_level)


def _serve(settings, host: str, port: int, log_level: str = "info") -> None:
    import uvicorn

    from workflow_logs_bridge.app import create_app
    from workflow_logs_bridge.observability import configure_logging

    configure_logging(log_level.upper())
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        proxy_headers=True,
    )


@app.command()
def token(
    sub: Annotated[Optional[str], typer.Option(help="User id (auth.users.id) for an authenticated token.")] = None,
    role: Annotated[str, typer.Option(help="authenticated or service_role.")] = "authenticated",
    ttl: Annotated[int, typer.Option(help="Seconds until it expires.")] = 3600,
) -> None:
    """Mint a development token signed with SUPABASE_JWT_SECRET (or the dev secret in WORKFLOW_LOGS_ENV=dev)."""
    import os

    from workflow_logs_bridge.auth import mint_token
    from workflow_logs_bridge.settings import DEV_JWT_SECRET

    if role not in ("authenticated", "service_role"):
        _fail("--role must be authenticated or service_role")
    if role == "authenticated" and not sub:
        _fail("an authenticated token needs --sub USER_UUID")
    secret = os.environ.get("SUPABASE_JWT_SECRET")
    if not secret:
        if os.environ.get("WORKFLOW_LOGS_ENV") != "dev":
            _fail("set SUPABASE_JWT_SECRET (or WORKFLOW_LOGS_ENV=dev to use the development secret)")
        secret = DEV_JWT_SECRET
    typer.echo(mint_token(secret, sub=sub, role=role, ttl_seconds=ttl))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
