"""`make dev` / `workflow-logs dev`: a ready local stack on one command."""

from __future__ import annotations

import asyncio
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


async def _lacks_supabase(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("select to_regclass('auth.users') is null")
    finally:
        await conn.close()


def run_dev(database_url: str | None, data_dir: Path, port: int = 8000) -> None:
    if database_url:
        # The stand-in only where Supabase's own schemas are missing (never over a real project's).
        shim = asyncio.run(_lacks_supabase(database_url))
        url = asyncio.run(prepare_database(database_url, _database_name(database_url), supabase_shim=shim))
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
    _serve_bridge(url, port)


def _serve_bridge(url: str, port: int) -> None:
    import os

    from workflow_logs_bridge.auth import mint_token
    from workflow_logs_bridge.settings import DEV_JWT_SECRET, Settings

    from .cli import _serve

    os.environ.setdefault("WORKFLOW_LOGS_ENV", "dev")
    secret = os.environ.get("SUPABASE_JWT_SECRET") or DEV_JWT_SECRET
    settings = Settings(DATABASE_URL=url, SUPABASE_JWT_SECRET=secret, WORKFLOW_LOGS_ENV=os.environ["WORKFLOW_LOGS_ENV"])
    token = mint_token(secret, sub=ALICE, ttl_seconds=12 * 3600)
    base = f"http://127.0.0.1:{port}"
    console.print(f"\n[bold green]Bridge[/] on {base} (OpenAPI: {base}/docs)")
    console.print("  as alice (token valid 12 h; `WORKFLOW_LOGS_ENV=dev workflow-logs token --sub <uuid>` mints more):")
    console.print(f"  curl -H 'Authorization: Bearer {token}' '{base}/api/v1/app/executions/demo-finished/logs?limit=5'")
    console.print(f"  curl -N '{base}/api/v1/app/executions/demo-running/logs/stream?access_token={token}'")
    console.print(f"  open  {base}/executions/demo-running?access_token={token}")
    console.print("\nPress Ctrl-C to stop.")
    _serve(settings, "127.0.0.1", port)


def _database_name(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path.lstrip("/") or "postgres"

