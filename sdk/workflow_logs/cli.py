"""The `workflow-logs` command line."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Optional, TextIO

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
def purge(
    database_url: DatabaseUrl = None,
    days_ahead: Annotated[
        int, typer.Option("--days-ahead", min=0, max=366, help="Partitions to create past the longest retention.")
    ] = 7,
) -> None:
    """Expire logs and prepare partitions: drop the partitions whose expiry day has come, create those
    ahead (run it daily where pg_cron does not; Supabase's pg_cron runs it hourly by itself)."""
    import asyncpg

    async def run() -> dict[str, Any]:
        conn = await asyncpg.connect(database_url)
        try:
            report = await conn.fetchval("select workflow_logs_private.maintain_log_partitions($1)::text", days_ahead)
            return json.loads(report)
        finally:
            await conn.close()

    if not database_url:
        _fail("no database: pass --database-url or set DATABASE_URL")
    try:
        report = asyncio.run(run())
    except (OSError, ValueError) as exc:
        _fail(f"cannot connect: {exc}")
    except asyncpg.PostgresError as exc:
        _fail(f"purge failed: {exc}")
    typer.echo(
        f"dropped {len(report['dropped'])} expired partitions ({report['expired_rows']} logs of"
        f" {report['executions_touched']} executions), created {len(report['created'])};"
        f" partitions reach {report['horizon']}"
    )
    for name in report["dropped"]:
        typer.echo(f"  dropped {name}")


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


# ================================================================================================
# Reading: tail and export
# ================================================================================================
BridgeUrl = Annotated[
    str,
    typer.Option("--url", envvar="WORKFLOW_LOGS_URL", help="Bridge URL (default: $WORKFLOW_LOGS_URL or http://127.0.0.1:8000)."),
]
BridgeToken = Annotated[
    Optional[str],
    typer.Option("--token", envvar="WORKFLOW_LOGS_TOKEN", help="Bearer token (default: $WORKFLOW_LOGS_TOKEN).", show_default=False),
]
LEVELS = ("debug", "info", "warning", "error", "critical")
LEVEL_STYLES = {"debug": "dim", "info": "cyan", "warning": "yellow", "error": "bold red", "critical": "bold white on red"}
FAILED = frozenset({"ERROR", "CANCELED", "TIMEOUT"})
DEFAULT_BRIDGE_URL = "http://127.0.0.1:8000"


def _need_token(token: str | None) -> str:
    if not token:
        _fail("no token: pass --token or set WORKFLOW_LOGS_TOKEN")
    return token  # type: ignore[return-value]


def _progress_bar(percentage: float | None, width: int = 20) -> str:
    if percentage is None:
        return " " * (width + 7)
    filled = max(0, min(width, round(percentage / 100 * width)))
    return f"[{'█' * filled}{'░' * (width - filled)}] {percentage:3.0f}%"


@app.command()
def tail(
    execution_id: Annotated[str, typer.Argument(help="The execution to follow.")],
    url: BridgeUrl = DEFAULT_BRIDGE_URL,
    token: BridgeToken = None,
    technical: Annotated[
        bool, typer.Option("--technical", help="Every log with its level and node, not only the business view.")
    ] = False,
    level: Annotated[
        Optional[str], typer.Option("--level", help="Only logs at this level or above (debug, info, warning, error, critical).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Keep following until the execution finishes (default), or print what is there.")
    ] = True,
) -> None:
    """Follow an execution's logs live.

    By default shows the business view (what a person reads, with a progress bar); --technical shows every log.

    Exits 0 when the execution succeeds, 1 when it ends in ERROR, CANCELED or TIMEOUT, 2 when the stream fails.
    """
    from rich.markup import escape

    from ._errors import WorkflowLogsError
    from ._models import CompleteEvent, LogEvent
    from ._reader import LogsClient

    min_level = None
    if level is not None:
        if level.lower() not in LEVELS:
            _fail(f"--level must be one of {', '.join(LEVELS)}, got {level!r}", 2)
        min_level = LEVELS.index(level.lower())
    token = _need_token(token)
    out = Console(highlight=False, soft_wrap=True)

    def show(entry) -> None:
        if min_level is not None and LEVELS.index(entry.level) < min_level:
            return
        style = LEVEL_STYLES.get(entry.level, "")
        if technical:
            when = entry.timestamp[11:23] if len(entry.timestamp) >= 23 else entry.timestamp
            node = f" [magenta]{escape(entry.node_name or entry.node_id)}[/]" if (entry.node_name or entry.node_id) else ""
            out.print(
                f"[dim]{escape(when)}[/] [{style}]{entry.level.upper():<8}[/] [blue]{escape(entry.event_type)}[/]{node} "
                f"{escape(entry.technical_message or entry.message)}"
            )
        else:
            if entry.log_category != "business":
                return
            bar = _progress_bar(entry.progress_percentage)
            marker = "★ " if entry.is_milestone else ""
            text_style = style if entry.level in ("warning", "error", "critical") else ("bold" if entry.is_milestone else "")
            message = escape(marker + entry.message)
            out.print(f"[green]{bar}[/] " + (f"[{text_style}]{message}[/]" if text_style else message))

    async def run() -> int:
        async with LogsClient(url, token) as logs:
            async for event in logs.stream(execution_id, follow=follow):
                if isinstance(event, LogEvent):
                    show(event.data)
                elif isinstance(event, CompleteEvent):
                    status = event.data.status
                    colour = "red" if status in FAILED else "green"
                    err.print(f"[{colour}]execution {escape(status)}[/] ({event.data.total_logs} logs)")
                    return 1 if status in FAILED else 0
                else:
                    err.print(f"[bold red]error:[/] stream ended with an error: {escape(event.data.error)}")
                    return 2
        err.print("[bold red]error:[/] the stream ended without a final event")
        return 2

    try:
        code = asyncio.run(run())
    except WorkflowLogsError as exc:
        _fail(escape(str(exc)), 2)
    except KeyboardInterrupt:
        raise typer.Exit(130)
    raise typer.Exit(code)


class ExportFormat(str, enum.Enum):
    jsonl = "jsonl"
    csv = "csv"


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


@app.command()
def export(
    execution_id: Annotated[
        Optional[str], typer.Argument(help="The execution to export (or pass --workflow).", show_default=False)
    ] = None,
    workflow: Annotated[
        Optional[str],
        typer.Option("--workflow", "-w", help="Export the logs of every execution of this workflow instead.", show_default=False),
    ] = None,
    since: Annotated[
        Optional[str], typer.Option("--since", help="Only logs created at or after this ISO 8601 time.", show_default=False)
    ] = None,
    until: Annotated[
        Optional[str], typer.Option("--until", help="Only logs created at or before this ISO 8601 time.", show_default=False)
    ] = None,
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="jsonl (one JSON object a line) or csv.")] = ExportFormat.jsonl,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="File to write (default: standard output).")
    ] = None,
    url: BridgeUrl = DEFAULT_BRIDGE_URL,
    token: BridgeToken = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=1000, help="Logs per request.")] = 1000,
) -> None:
    """Export every log of an execution, or of all executions of a workflow (--workflow), page by page by
    cursor (constant memory), with progress on stderr.

    Workflow exports are in seq order across executions and carry execution_id. CSV has a header row and
    one row per log; nested fields are JSON strings; UTF-8 without a BOM.
    """
    import csv

    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ._errors import WorkflowLogsError
    from ._models import LogEntry
    from ._reader import LogsClient

    if (execution_id is None) == (workflow is None):
        _fail("name one execution (EXECUTION_ID) or one workflow (--workflow WORKFLOW_ID)", 2)
    token = _need_token(token)
    exclude = {"is_realtime", "highlight"}
    columns = [c for c in LogEntry.model_fields if c not in exclude]
    if workflow is not None:
        columns.insert(0, "execution_id")
    filters = {"start_time": since, "end_time": until}

    async def run(stream) -> int:
        written = 0
        writer = csv.writer(stream, lineterminator="\r\n") if format is ExportFormat.csv else None
        if writer is not None:
            writer.writerow(columns)
        async with LogsClient(url, token) as logs:
            if workflow is not None:
                pages = logs.iter_workflow_pages(workflow, page_size=page_size, **filters)
            else:
                pages = logs.iter_pages(execution_id, page_size=page_size, **filters)
            first = await anext(pages)  # errors (token, not found) surface before any progress is drawn
            total = first.total_count or 0  # workflow pages count on the first page only
            with Progress(
                TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
            ) as progress:
                task = progress.add_task("export", total=total)
                page = first
                while True:
                    if page.total_count is not None:
                        total = page.total_count
                    progress.update(task, total=max(total, written + len(page.logs)))
                    for entry in page.logs:
                        row = entry.model_dump(mode="json", exclude=exclude)
                        if writer is not None:
                            writer.writerow([_csv_cell(row.get(c)) for c in columns])
                        else:
                            stream.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                    written += len(page.logs)
                    progress.update(task, completed=written)
                    try:
                        page = await anext(pages)
                    except StopAsyncIteration:
                        break
        return written

    try:
        if output is None:
            with open(sys.stdout.fileno(), "w", encoding="utf-8", newline="", closefd=False) as stream:
                written = asyncio.run(run(stream))
        else:
            written = _write_atomically(output, run)
    except WorkflowLogsError as exc:
        _fail(escape(str(exc)))
    except OSError as exc:
        _fail(escape(f"cannot write {output}: {exc}"))
    err.print(f"exported {written} logs" + (f" to {escape(str(output))}" if output else ""))


def _write_atomically(output: Path, run: Callable[[TextIO], Coroutine[Any, Any, int]]) -> int:
    """Run `run(stream)` into a temporary file beside `output` and move it into place only when it
    succeeds: a failed or interrupted export leaves neither an empty nor a partial file (nor clobbers
    an earlier export of the same name)."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent or ".")
    try:
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            written = asyncio.run(run(stream))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it 0600; give it the mode open() would have
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written


def main() -> None:
    app()


if __name__ == "__main__":
    main()
