"""Apply `supabase/migrations/` and record them exactly as the Supabase CLI does.

The CLI keeps `supabase_migrations.schema_migrations (version text primary key, statements text[], name text)`,
one row per file `<version>_<name>.sql`, `statements` being the file split at top-level semicolons. Writing the
same rows means `supabase db push` and `workflow-logs migrate` agree on what is applied, whichever ran first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from . import _paths

_FILE_RE = re.compile(r"^(?P<version>\d{14})_(?P<name>.+)\.sql$")

_HISTORY_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text not null primary key,
  statements text[],
  name text
);
"""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def list_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or _paths.migrations_dir()
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise ValueError(f"migration file name must be <14-digit version>_<name>.sql: {path.name}")
        found.append(Migration(match["version"], match["name"], path))
    return found


def split_statements(sql: str) -> list[str]:
    """Split SQL at top-level semicolons (outside quotes, dollar quotes and comments), as the CLI does."""
    statements: list[str] = []
    start = 0
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif ch in ("'", '"'):
            i += 1
            while i < n:
                if sql[i] == ch:
                    if i + 1 < n and sql[i + 1] == ch:
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif ch == "$":
            tag = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if tag:
                close = sql.find(tag.group(0), i + len(tag.group(0)))
                i = n if close < 0 else close + len(tag.group(0))
            else:
                i += 1
        elif ch == ";":
            statement = sql[start:i].strip()
            if statement:
                statements.append(statement)
            i += 1
            start = i
        else:
            i += 1
    tail = sql[start:].strip()
    if tail and not _only_comments(tail):
        statements.append(tail)
    return statements


def _only_comments(text: str) -> bool:
    stripped = re.sub(r"--[^\n]*", "", text)
    stripped = re.sub(r"/\*.*?\*/", "", stripped, flags=re.S)
    return not stripped.strip()


async def applied_versions(conn: asyncpg.Connection) -> set[str]:
    exists = await conn.fetchval("select to_regclass('supabase_migrations.schema_migrations') is not null")
    if not exists:
        return set()
    rows = await conn.fetch("select version from supabase_migrations.schema_migrations")
    return {r["version"] for r in rows}


async def apply_shim(conn: asyncpg.Connection) -> None:
    """Create the local stand-ins for Supabase's roles, auth, realtime (never on a real Supabase)."""
    await conn.execute(_paths.shim_file().read_text(encoding="utf-8"))


async def migrate(dsn: str, *, supabase_shim: bool = False, directory: Path | None = None) -> list[Migration]:
    """Apply pending migrations in version order, each in its own transaction; return those applied."""
    conn = await asyncpg.connect(dsn)
    try:
        # One migrator at a time per database.
        await conn.execute("select pg_advisory_lock(hashtextextended('workflow_logs:migrate', 0))")
        if supabase_shim:
            await apply_shim(conn)
        await conn.execute(_HISTORY_DDL)
        done = await applied_versions(conn)
        applied = []
        for migration in list_migrations(directory):
            if migration.version in done:
                continue
            sql = migration.sql
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, statements, name)"
                    " values ($1, $2, $3)",
                    migration.version,
                    split_statements(sql),
                    migration.name,
                )
            applied.append(migration)
        return applied
    finally:
        await conn.close()
