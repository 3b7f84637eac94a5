"""Run the pgTAP suite (supabase/tests/database/*.test.sql) against a scratch database.

`make test-sql` runs this. The server is chosen the way the pytest suite chooses it: TEST_DATABASE_URL
when set, else the server on 127.0.0.1:5432 when one answers, else an embedded Postgres. A scratch
database gets the Supabase shim and the migrations, then `pg_prove` runs every test file in it; the
database is dropped afterwards. Without pgTAP on the server (or pg_prove on PATH) the suite is skipped
with one line saying how to get it, and the exit status is 0.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from workflow_logs import _server
from workflow_logs._migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "supabase" / "tests" / "database"
EMBEDDED_DIR = ROOT / ".dev" / "test-pg"
INSTALL_HINT = "apt-get install postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl"

# libpq URL query parameters and the environment variables psql reads them from.
_QUERY_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
}


def libpq_env(url: str) -> dict[str, str]:
    """PG* environment variables for psql equivalent to a postgresql:// URL (incl. `?host=<socket dir>`)."""
    parts = urlsplit(url)
    env: dict[str, str] = {}
    if parts.hostname:
        env["PGHOST"] = unquote(parts.hostname)
    if parts.port:
        env["PGPORT"] = str(parts.port)
    if parts.username:
        env["PGUSER"] = unquote(parts.username)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    database = unquote(parts.path.lstrip("/"))
    if database:
        env["PGDATABASE"] = database
    for key, values in parse_qs(parts.query).items():
        if key in _QUERY_ENV and values:
            env[_QUERY_ENV[key]] = values[-1]
    return env


async def pick_server() -> str:
    explicit = os.environ.get("TEST_DATABASE_URL")
    if explicit:
        return explicit
    if await _server.answers(_server.LOCAL_URL):
        return _server.LOCAL_URL
    return _server.start_embedded(EMBEDDED_DIR, keep=False)


def tools_missing() -> str | None:
    """Why pg_prove cannot run here, or None when it can."""
    for tool in ("pg_prove", "psql"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    return None


async def run() -> int:
    tests = sorted(TESTS_DIR.glob("*.test.sql"))
    if not tests:
        print(f"no pgTAP tests in {TESTS_DIR.relative_to(ROOT)}", file=sys.stderr)
        return 1
    why = tools_missing()
    admin_url = ""
    if why is None:
        admin_url = await pick_server()
        if not await _server.has_extension(admin_url, "pgtap"):
            why = "the pgtap extension is not available on the server"
    if why is not None:
        print(f"pgTAP suite skipped: {why}; install it with `{INSTALL_HINT}`")
        return 0

    async with _server.scratch_database(admin_url, prefix="wl_pgtap") as url:
        await migrate(url, supabase_shim=True)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("create extension if not exists pgtap with schema extensions")
        finally:
            await conn.close()

        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(libpq_env(url))
        command = ["pg_prove", "--ext", ".sql", *(str(t.relative_to(ROOT)) for t in tests)]
        sys.stdout.flush()
        # Blocking is fine: nothing else runs on this loop while pg_prove works.
        return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
