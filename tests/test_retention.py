"""Retention by expiry partitions, end to end on a real server: converting an existing unpartitioned
table with its data, reading by cursor across partitions, expiry against a brute-force model, and
`workflow-logs purge`."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import asyncpg

import factories
from factories import as_role, claims_for
from workflow_logs._migrate import migrate

REPO = Path(__file__).resolve().parents[1]
MIGRATIONS = REPO / "supabase" / "migrations"
CLI = str(REPO / ".venv" / "bin" / "workflow-logs")
PARTITIONING = "20251125000700"


async def page_as(conn: asyncpg.Connection, uid: str, execution_id: str, **args) -> dict:
    names = ", ".join(f"\"{k}\" => ${i + 2}" for i, k in enumerate(args))
    sql = f"select public.get_execution_logs(execution_id => $1{', ' + names if names else ''})::text"
    async with as_role(conn, "authenticated", claims_for("authenticated", uid)):
        return json.loads(await conn.fetchval(sql, execution_id, *args.values()))


async def summary_as(conn: asyncpg.Connection, uid: str, execution_id: str) -> dict:
    async with as_role(conn, "authenticated", claims_for("authenticated", uid)):
        return json.loads(await conn.fetchval("select public.get_execution_logs_summary($1)::text", execution_id))


async def utc_today(conn: asyncpg.Connection):
    return await conn.fetchval("select workflow_logs_private.utc_today()")


# =============================================================================================
# Converting an existing table
# =============================================================================================
async def test_converting_an_unpartitioned_table_keeps_every_row_its_seq_and_what_readers_return(
    new_database, tmp_path
):
    before = tmp_path / "before"
    before.mkdir()
    for f in MIGRATIONS.glob("*.sql"):
        if f.name < PARTITIONING:
            shutil.copy(f, before / f.name)
    async with new_database(migrated=False) as url:
        await migrate(url, supabase_shim=True, directory=before)
        conn = await factories.connect(url)
        try:
            assert await conn.fetchval("select relkind::text from pg_class where oid = 'public.workflow_execution_logs'::regclass") == "r"
            run = await factories.make_run(conn)
            other = await factories.make_execution(conn, run.workflow_id)
            for n in range(4):
                await factories.append_logs(conn, [
                    factories.log_entry(e, f"m{n}-{i}", level="ERROR" if i % 9 == 0 else "INFO",
                                        node_id=f"n{i % 3}", event_type="step_completed" if i % 5 == 0 else "step_output")
                    for i in range(250) for e in (run.execution_id, other)
                ])
            rows_before = await conn.fetch("select id, seq, execution_id, message from public.workflow_execution_logs order by seq")
            page_before = await page_as(conn, run.user_id, run.execution_id, limit=50, offset=300)
            errors_before = await page_as(conn, run.user_id, run.execution_id, level="error", limit=1000)
            summary_before = await summary_as(conn, run.user_id, run.execution_id)
        finally:
            await conn.close()

        applied = await migrate(url, supabase_shim=True)
        assert [m.version for m in applied][0] == PARTITIONING

        conn = await factories.connect(url)
        try:
            assert await conn.fetchval("select relkind::text from pg_class where oid = 'public.workflow_execution_logs'::regclass") == "p"
            rows_after = await conn.fetch("select id, seq, execution_id, message from public.workflow_execution_logs order by seq")
            assert [tuple(r) for r in rows_after] == [tuple(r) for r in rows_before]
            today = await utc_today(conn)
            where = await conn.fetch("select distinct tableoid::regclass::text as part from public.workflow_execution_logs")
            assert [r["part"] for r in where] == [
                f"workflow_logs_partitions.workflow_execution_logs_p{(today + timedelta(days=30)):%Y%m%d}"
            ]
            assert await page_as(conn, run.user_id, run.execution_id, limit=50, offset=300) == page_before
            assert await page_as(conn, run.user_id, run.execution_id, level="error", limit=1000) == errors_before
            assert await summary_as(conn, run.user_id, run.execution_id) == summary_before

            # writing goes on after the old numbering, into the partitions of the new scheme
            result = await factories.append_logs(conn, [factories.log_entry(run.execution_id, "after")])
            assert result["inserted"] == 1 and result["last_seq"] > rows_before[-1]["seq"]
            # a retry of a converted row (same id and created_at) is still recognised
            old = await conn.fetchrow("select id, created_at from public.workflow_execution_logs order by seq limit 1")
            again = await factories.append_logs(conn, [factories.log_entry(
                run.execution_id, "retry", id=str(old["id"]), created_at=old["created_at"].isoformat())])
            assert again["inserted"] == 0 and again["duplicates"] == 1

            # RLS still decides: another user sees nothing of it
            stranger = await factories.make_user(conn)
            async with as_role(conn, "authenticated", claims_for("authenticated", stranger)):
                assert await conn.fetchval("select count(*) from public.workflow_execution_logs") == 0
        finally:
            await conn.close()


# =============================================================================================
# Reads across partitions
# =============================================================================================
async def test_a_cursor_walk_across_partitions_returns_every_log_once_in_seq_order(admin_pool):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
        now = datetime.now(UTC)
        # batches alternate between creation days, so consecutive seqs sit in different partitions
        for n in range(12):
            created = (now - timedelta(days=n % 5)).isoformat()
            await factories.append_logs(conn, [
                factories.log_entry(run.execution_id, f"b{n}-{i}", created_at=created,
                                    level="WARNING" if i % 4 == 0 else "INFO")
                for i in range(25)
            ])
        rows = await conn.fetch(
            "select seq, level::text, tableoid::regclass::text as part from public.workflow_execution_logs"
            " where execution_id = $1 order by seq", run.execution_id)
        assert len({r["part"] for r in rows}) == 5

        for filters, expected in (
            ({}, [r["seq"] for r in rows]),
            ({"level": "warning"}, [r["seq"] for r in rows if r["level"] == "WARNING"]),
        ):
            seen, after = [], None
            while True:
                page = await page_as(conn, run.user_id, run.execution_id, limit=7,
                                     **({"after": after} if after is not None else {}), **filters)
                seen += [log["seq"] for log in page["logs"]]
                assert page["total_count"] == len(expected)
                if not page["pagination"]["has_more"]:
                    break
                after = page["pagination"]["next_cursor"]
            assert seen == expected


# =============================================================================================
# Expiry against a model
# =============================================================================================
async def test_expiry_removes_exactly_the_logs_whose_retention_has_passed_and_fixes_the_stats(new_database):
    rng = random.Random(6)
    async with new_database() as url:
        conn = await factories.connect(url)
        try:
            today = await utc_today(conn)
            user = await factories.make_user(conn)
            executions: dict[str, int] = {}
            for days in (1, 3, 7, None):
                wf = await factories.make_workflow(conn, user, name=f"retention {days}")
                await conn.execute("update public.workflows set log_retention_days = $2 where id = $1", wf, days)
                for _ in range(2):
                    executions[await factories.make_execution(conn, wf)] = days or 30
            # partitions for the past days too, so that expiry drops partitions (not only default rows)
            for back in range(1, 12):
                await conn.execute("select workflow_logs_private.create_log_partition($1)", today - timedelta(days=back))
            now = datetime.now(UTC)
            model = []
            for execution_id, days in executions.items():
                entries = []
                for i in range(120):
                    created = now - timedelta(days=rng.uniform(0, 10))
                    entries.append(factories.log_entry(execution_id, f"{i}", created_at=created.isoformat()))
                    model.append((execution_id, created.date() + timedelta(days=days)))
                await factories.append_logs(conn, entries)

            report = json.loads(await conn.fetchval("select workflow_logs_private.maintain_log_partitions(0)::text"))
            survivors = [e for e, expires in model if expires > today]
            assert report["expired_rows"] == len(model) - len(survivors)
            assert report["dropped"], "some expiry happened by dropping partitions"
            left = await conn.fetch("select execution_id, count(*) as n from public.workflow_execution_logs group by 1")
            assert {r["execution_id"]: r["n"] for r in left} == {
                e: survivors.count(e) for e in set(survivors)
            }
            assert await conn.fetchval(
                "select count(*) from public.workflow_execution_logs where expires_on <= $1", today) == 0
            # per-execution stats agree with what is left
            for execution_id in executions:
                counted = await conn.fetchval(
                    "select coalesce(sum(log_count), 0) from public.workflow_execution_log_counts where execution_id = $1",
                    execution_id)
                assert counted == survivors.count(execution_id)
            # a second run finds nothing more to do
            again = json.loads(await conn.fetchval("select workflow_logs_private.maintain_log_partitions(0)::text"))
            assert again["dropped"] == [] and again["expired_rows"] == 0 and again["created"] == []
        finally:
            await conn.close()


# =============================================================================================
# workflow-logs purge
# =============================================================================================
async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    with anyio.fail_after(60):
        out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_purge_command_drops_expired_partitions_and_reports(new_database):
    async with new_database() as url:
        conn = await factories.connect(url)
        try:
            today = await utc_today(conn)
            run = await factories.make_run(conn)
            await conn.execute("select workflow_logs_private.create_log_partition($1)", today - timedelta(days=2))
            await conn.execute(
                "insert into public.workflow_execution_logs (execution_id, event_type, message, expires_on)"
                " values ($1, 'step_output', 'old', $2)", run.execution_id, today - timedelta(days=2))
        finally:
            await conn.close()

        code, out, err = await run_cli("purge", "--database-url", url, "--days-ahead", "3")
        assert code == 0, err
        assert out.splitlines()[0].startswith("dropped 1 expired partitions (1 logs of 1 executions)")
        assert f"dropped workflow_execution_logs_p{today - timedelta(days=2):%Y%m%d}" in out
        assert f"partitions reach {today + timedelta(days=33)}" in out

    code, out, err = await run_cli("purge", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert code == 1 and out == ""
    assert err.startswith("error: cannot connect")


# =============================================================================================
# Reads visit only the execution's partitions
# =============================================================================================
def _scanned_partitions(plans: list[dict]) -> set[str]:
    """Partitions of the logs table that some executed plan node actually scanned (loops > 0)."""
    return {
        n["Relation Name"]
        for p in plans
        for n in factories.plan_nodes(p["Plan"])
        if n.get("Relation Name", "").startswith("workflow_execution_logs_") and n.get("Actual Loops", 0) > 0
    }


async def test_reads_of_an_execution_scan_only_the_partitions_its_logs_are_in(admin_pool):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
        now = datetime.now(UTC)
        await factories.append_logs(conn, [
            factories.log_entry(run.execution_id, f"m{i}", level="ERROR" if i % 3 == 0 else "INFO",
                                created_at=(now - timedelta(days=i % 2)).isoformat())
            for i in range(40)
        ])
        today = await utc_today(conn)
        own = {f"workflow_execution_logs_p{today + timedelta(days=30 - back):%Y%m%d}" for back in (0, 1)}
        assert await conn.fetchval(
            "select count(*) from pg_inherits where inhparent = 'public.workflow_execution_logs'::regclass") > 30

        calls = [
            ("select public.get_execution_logs(execution_id => $1)::text", [run.execution_id]),  # cursor reader
            ("select public.get_execution_logs(execution_id => $1, level => 'error')::text", [run.execution_id]),
            ("select public.get_execution_logs_summary($1)::text", [run.execution_id]),
            ("select public.get_execution_log_events_batch($1::jsonb, 100)::text",
             [{run.execution_id: 0}]),
        ]
        for sql, args in calls:
            async with factories.auto_explain(conn, analyze=True) as plans:
                async with as_role(conn, "authenticated", claims_for("authenticated", run.user_id)):
                    assert await conn.fetchval(sql, *args)
            scanned = _scanned_partitions(plans)
            assert scanned and scanned <= own, f"{sql}: scanned {sorted(scanned)}, the logs are in {sorted(own)}"
