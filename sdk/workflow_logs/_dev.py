"""`make dev` / `workflow-logs dev`: a ready local stack on one command."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
from rich.console import Console

from . import _paths
from ._migrate import migrate
from ._server import start_embedded, with_database

console = Console(soft_wrap=True)

ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"


async def prepare_database(admin_url: str, database: str, *, supabase_shim: bool) -> str:
    """Create `database` if missing, migrate it and load the demo data; return its URL."""
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("select 1 from pg_database where datname = $1", database):
            await conn.execute(f'create database "{database}"')
    finally:
        await conn.close()
    url = with_database(admin_url, database)
    applied = await migrate(url, supabase_shim=supabase_shim)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_paths.seed_file().read_text(encoding="utf-8"))
    finally:
        await conn.close()
    for m in applied:
        console.print(f"  applied {m.version}_{m.name}")
    return url


def run_dev(database_url: str | None, data_dir: Path) -> None:
    if database_url:
        url = asyncio.run(prepare_database(database_url, _database_name(database_url), supabase_shim=True))
        where = "DATABASE_URL"
    else:
        console.print(f"[bold]Starting embedded Postgres[/] (data in {data_dir})")
        admin = start_embedded(data_dir, keep=True)
        url = asyncio.run(prepare_database(admin, "workflow_logs", supabase_shim=True))
        where = "embedded Postgres"
    console.print(f"\n[bold green]Database ready[/] ({where}, migrated, demo data loaded)")
    console.print(f"  DATABASE_URL={url}")
    console.print(f"  psql '{url}'")
    console.print(f"  demo users: alice {ALICE} (demo-finished, demo-running), bob {BOB} (demo-bob)")
    console.print("  try, as alice:")
    console.print(
        f"""  psql '{url}' -c "begin; set local role authenticated; """
        f"""select set_config('request.jwt.claims', '{{\\"sub\\":\\"{ALICE}\\",\\"role\\":\\"authenticated\\"}}', true); """
        f"""select public.get_execution_logs('demo-finished', 5); commit;\""""
    )
    console.print("\nPress Ctrl-C to stop.")
    _wait_for_interrupt()


def _database_name(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path.lstrip("/") or "postgres"


def _wait_for_interrupt() -> None:
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    asyncio.run(wait())
