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
err = Console(stderr=True)

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
) -> None:
    """Start a local stack: embedded Postgres (unless DATABASE_URL is set), migrated, with demo data."""
    from ._dev import run_dev

    run_dev(database_url, data_dir.resolve())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
