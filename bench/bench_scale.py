"""Scale benchmark: the logs table partitioned by expiry day next to an unpartitioned copy of the same
rows, in the same database and the same run.

    .venv/bin/python bench/bench_scale.py                    # 10M logs over 30 days (~15 min on 2 cores)
    .venv/bin/python bench/bench_scale.py --logs 2000000     # a quicker look

1. Load: `--logs` logs over `--days` days of executions (`--executions` in all, 20 workflows), written
   straight into public.workflow_execution_logs (partitioned: one partition per expiry day), then
   copied into bench_flat.workflow_execution_logs, a plain table with the same columns and indexes.
   The oldest day's logs expire today.
2. The same queries on both tables, interleaved, as p50/p95: a cursor page of one execution, a page
   filtered by level, full-text search within one execution (a common word and a rare one), a rare
   word across the whole table, and a page across all executions of one workflow.
3. The SQL API itself on the partitioned table as an owner calls it (get_execution_logs with and
   without q, get_workflow_logs, get_workflow_stats over 7 days).
4. Expiry of one day: maintain_log_partitions() dropping today's partition, next to `delete` of the
   same rows from the plain table, with the dead tuples and size each leaves behind.

Server: BENCH_DATABASE_URL, else the server on 127.0.0.1:5432, else an embedded Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Stopwatch, Timing, fmt, machine_info, print_table, write_json  # noqa: E402
from workflow_logs._migrate import migrate  # noqa: E402
from workflow_logs._server import resolve_admin_url, scratch_database  # noqa: E402

_NS = uuid.UUID("6f1b0c9e-5b7a-4c39-9a53-1d7c0e2f4a10")
USER = uuid.uuid5(_NS, "scale-user")
WORKFLOWS = [uuid.uuid5(_NS, f"scale-workflow-{i}") for i in range(20)]
COLUMNS = ("execution_id, log_category, event_type, level, message, user_friendly_message, node_id, node_name,"
           " step_number, is_milestone, display_priority, created_at, expires_on")

# Day d (0 = oldest) holds executions [d*per_day, (d+1)*per_day); each has `per_exec` logs. Words:
# "timeout" is in 1 log of 8 (common), "ticket<execution number>" once per execution (rare).
LOAD_SQL = """
insert into public.workflow_execution_logs ({columns}{wf_col})
select 'scale-' || e,
       case when i % 5 = 0 then 'business' else 'technical' end,
       (array['step_started','step_output','step_output','step_completed'])[1 + i % 4]::public.log_event_type_enum,
       (case when i % 97 = 0 then 'ERROR' when i % 13 = 0 then 'WARNING' when i % 3 = 0 then 'DEBUG' else 'INFO' end)
         ::public.log_level_enum,
       case when i = 7 then 'opened ticket' || e || ' for the customer'
            else (array['tool call search_documents returned 200 in ' || (i % 500) || ' ms',
                        'request to the model provider failed with timeout after ' || (i % 60) || ' s',
                        'summarised ' || (i % 40) || ' emails into the digest',
                        'cache miss for key user:' || (i % 1000),
                        'retrying step after rate limit, attempt ' || (i % 5),
                        'wrote ' || (i % 90) || ' rows to the warehouse',
                        'parsed invoice with ' || (i % 30) || ' line items',
                        'classified message as newsletter'])[1 + i % 8] end,
       case when i % 5 = 0 then 'Progress update ' || i end,
       'node-' || (i % 6), 'Node ' || (i % 6), i % 6,
       i % 250 = 0, 1 + i % 10,
       $3::timestamptz + make_interval(secs => (e % $4) * 20 + i * 0.05),
       ($3::timestamptz at time zone 'UTC')::date + 30
       {wf_val}
from generate_series($1::int, $2::int) e
cross join generate_series(1, $5::int) i
"""


def args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--logs", type=int, default=10_000_000, help="logs in all")
    p.add_argument("--days", type=int, default=30, help="days of logs (one expiry partition each)")
    p.add_argument("--executions", type=int, default=6_000, help="executions in all")
    p.add_argument("--iterations", type=int, default=200, help="timed calls per query and table")
    return p


async def load(conn: asyncpg.Connection, args: argparse.Namespace) -> dict[str, Any]:
    today = await conn.fetchval("select workflow_logs_private.utc_today()")
    per_day = max(args.executions // args.days, 1)
    per_exec = max(args.logs // (per_day * args.days), 1)
    has_wf = await conn.fetchval(
        "select exists (select 1 from pg_attribute where attrelid = 'public.workflow_execution_logs'::regclass"
        " and attname = 'workflow_id' and not attisdropped)")
    sql = LOAD_SQL.format(columns=COLUMNS, wf_col=", workflow_id" if has_wf else "",
                          wf_val=", ($6::uuid[])[1 + e % 20]" if has_wf else "")
    await conn.execute("insert into auth.users (id, email) values ($1, 'scale@example.com')", USER)
    await conn.execute("insert into public.workflows (id, user_id, name) select w, $2, 'scale ' || w"
                       " from unnest($1::uuid[]) w", WORKFLOWS, USER)
    # today's partition holds the oldest day's logs (they expire today); the others exist ahead
    await conn.execute("select workflow_logs_private.create_log_partition($1)", today)
    timings: dict[str, Any] = {"logs": per_day * args.days * per_exec, "executions": per_day * args.days,
                               "logs_per_execution": per_exec, "days": args.days}
    with Stopwatch() as sw:
        for d in range(args.days):
            first, last = d * per_day, (d + 1) * per_day - 1
            day = dt.datetime.combine(today - dt.timedelta(days=30 - d), dt.time(0, 5), dt.UTC)
            await conn.execute(
                "insert into public.workflow_executions (execution_id, workflow_id, status, start_time, end_time)"
                " select 'scale-' || e, ($3::uuid[])[1 + e % 20], case when e % 17 = 0 then 'ERROR' else 'SUCCESS' end,"
                "        $4::timestamptz + make_interval(secs => (e % $5) * 20),"
                "        $4::timestamptz + make_interval(secs => (e % $5) * 20 + 60 + e % 300)"
                " from generate_series($1::int, $2::int) e", first, last, WORKFLOWS, day, per_day)
            extra = [WORKFLOWS] if has_wf else []
            await conn.execute(sql, first, last, day, per_day, per_exec, *extra)
            done = (d + 1) * per_day * per_exec
            print(f"\r  partitioned: {done:>11,} logs ({done / sw.elapsed:,.0f}/s)", end="", flush=True)
    print()
    timings["load_partitioned_s"] = round(sw.seconds, 1)
    cols = await conn.fetchval(
        "select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute"
        " where attrelid = 'public.workflow_execution_logs'::regclass and attnum > 0 and not attisdropped"
        " and attgenerated = ''")
    indexes = await conn.fetch(
        "select pg_get_indexdef(i.indexrelid) as def from pg_index i"
        " where i.indrelid = 'public.workflow_execution_logs'::regclass")
    await conn.execute("create schema bench_flat")
    await conn.execute("create table bench_flat.workflow_execution_logs (like public.workflow_execution_logs"
                       " including defaults including constraints including generated)")
    await conn.execute("alter table bench_flat.workflow_execution_logs alter column seq drop default")
    with Stopwatch() as sw:
        await conn.execute(f"insert into bench_flat.workflow_execution_logs ({cols})"
                           f" select {cols} from public.workflow_execution_logs")
        for row in indexes:  # the same indexes, built after the copy
            await conn.execute(row["def"].replace(" ON public.workflow_execution_logs", " ON bench_flat.workflow_execution_logs")
                               .replace(" ON ONLY public.workflow_execution_logs", " ON bench_flat.workflow_execution_logs")
                               .replace("CREATE UNIQUE INDEX workflow_execution_logs", "CREATE UNIQUE INDEX flat")
                               .replace("CREATE INDEX workflow_execution_logs", "CREATE INDEX flat"))
    timings["copy_flat_s"] = round(sw.seconds, 1)
    with Stopwatch() as sw:
        await conn.execute("vacuum (analyze) public.workflow_execution_logs")
        await conn.execute("vacuum (analyze) bench_flat.workflow_execution_logs")
        await conn.execute("analyze public.workflow_execution_log_counts, public.workflow_execution_nodes,"
                           " public.workflow_executions, public.workflows")
    timings["vacuum_analyze_s"] = round(sw.seconds, 1)
    timings["partitions"] = await conn.fetchval(
        "select count(*) from pg_inherits where inhparent = 'public.workflow_execution_logs'::regclass")
    timings["size_partitioned"] = await conn.fetchval(
        "select pg_size_pretty(sum(pg_total_relation_size(inhrelid))) from pg_inherits"
        " where inhparent = 'public.workflow_execution_logs'::regclass")
    timings["size_flat"] = await conn.fetchval(
        "select pg_size_pretty(pg_total_relation_size('bench_flat.workflow_execution_logs'))")
    timings["has_workflow_id"] = has_wf
    return timings


# The readers' bound: an execution's reads touch only its partitions (20251125000700). `{b}` is it on the
# partitioned table and nothing on the plain one; the whole-table and workflow queries have none.
BOUND = (" and expires_on >= workflow_logs_private.first_log_expiry($1)"
         " and expires_on <= workflow_logs_private.last_log_expiry($1)")


def raw_queries(has_wf: bool) -> dict[str, str]:
    """The reads of the SQL API in their bare form, `{t}` = the table. $1 = execution id."""
    cols = "id, seq, created_at, level, message"
    queries = {
        "cursor page (100) of one execution": f"select {cols} from {{t}} where execution_id = $1{{b}} and seq > $2 order by seq limit 101",
        "page filtered by level=ERROR": f"select {cols} from {{t}} where execution_id = $1{{b}} and level = 'ERROR' order by seq limit 101",
        "search one execution, common word": f"select {cols} from {{t}} where execution_id = $1{{b}}"
                                             " and search_vector @@ websearch_to_tsquery('simple', 'timeout') order by seq limit 101",
        "search one execution, rare word": f"select {cols} from {{t}} where execution_id = $1{{b}}"
                                           " and search_vector @@ websearch_to_tsquery('simple', 'ticket' || $2::text) order by seq limit 101",
        "search whole table, rare word": f"select {cols} from {{t}} where $1::text is not null"
                                         " and search_vector @@ websearch_to_tsquery('simple', 'ticket' || $2::text) order by seq limit 101",
    }
    if has_wf:
        queries["page across a workflow's executions"] = (
            f"select {cols}, execution_id from {{t}} where $1::text is not null and workflow_id = $3::uuid"
            " and seq > $2 order by seq limit 101")
    return queries


async def run_raw(conn: asyncpg.Connection, args: argparse.Namespace, executions: int, has_wf: bool) -> list[dict[str, Any]]:
    rng = random.Random(42)
    max_seq = await conn.fetchval("select max(seq) from public.workflow_execution_logs")
    # planned per call with the values, as the readers plan their pages (force_custom_plan)
    await conn.execute("set plan_cache_mode = force_custom_plan")
    rows = []
    for name, template in raw_queries(has_wf).items():
        timings = {"partitioned": Timing(), "flat": Timing()}
        stmts = {
            "partitioned": await conn.prepare(template.format(t="public.workflow_execution_logs", b=BOUND)),
            "flat": await conn.prepare(template.format(t="bench_flat.workflow_execution_logs", b="")),
        }
        for i in range(args.iterations + 5):
            e = rng.randrange(executions)
            params: list[Any] = [f"scale-{e}"]
            if "$2" in template:
                params.append(rng.randrange(max_seq) if "seq > $2" in template else str(e))
            if "$3" in template:
                params.append(WORKFLOWS[e % 20])
            for kind in (("partitioned", "flat") if i % 2 else ("flat", "partitioned")):
                t0 = time.perf_counter()
                await stmts[kind].fetch(*params)
                if i >= 5:
                    timings[kind].samples.append(time.perf_counter() - t0)
        part, flat = timings["partitioned"], timings["flat"]
        rows.append({"query": name, "partitioned": part.to_dict(), "flat": flat.to_dict(),
                     "p95_ratio": round(part.p95_ms / flat.p95_ms, 2)})
    return rows


async def run_api(conn: asyncpg.Connection, args: argparse.Namespace, executions: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    max_seq = await conn.fetchval("select max(seq) from public.workflow_execution_logs")
    claims = json.dumps({"sub": str(USER), "role": "authenticated"})
    now = dt.datetime.now(dt.UTC)
    cases = {
        "get_execution_logs (cursor page)": ("select public.get_execution_logs(execution_id => $1, after => $2)::text",
                                             lambda e: [f"scale-{e}", rng.randrange(max_seq)]),
        "get_execution_logs (q = rare word)": ("select public.get_execution_logs(execution_id => $1, q => $2)::text",
                                               lambda e: [f"scale-{e}", f"ticket{e}"]),
        "get_execution_logs (q = common word)": ("select public.get_execution_logs(execution_id => $1, q => 'timeout')::text",
                                                 lambda e: [f"scale-{e}"]),
        "get_workflow_logs (first page)": ("select public.get_workflow_logs(workflow_id => $1)::text",
                                           lambda e: [str(WORKFLOWS[e % 20])]),
        "get_workflow_logs (cursor page)": ("select public.get_workflow_logs(workflow_id => $1, after => $2)::text",
                                            lambda e: [str(WORKFLOWS[e % 20]), rng.randrange(max_seq)]),
        "get_workflow_logs (q = rare word)": ("select public.get_workflow_logs(workflow_id => $1, q => $2)::text",
                                             lambda e: [str(WORKFLOWS[e % 20]), f"ticket{e}"]),
        "get_workflow_stats (7 days)": ("select public.get_workflow_stats(workflow_id => $1, since => $2)::text",
                                        lambda e: [str(WORKFLOWS[e % 20]), (now - dt.timedelta(days=7)).isoformat()]),
    }
    rows = []
    for name, (sql, params) in cases.items():
        timing = Timing()
        n = max(args.iterations // 2, 20)
        for i in range(n + 3):
            e = rng.randrange(executions)
            async with conn.transaction():
                await conn.execute("select set_config('role', 'authenticated', true),"
                                   " set_config('request.jwt.claims', $1, true)", claims)
                t0 = time.perf_counter()
                await conn.fetchval(sql, *params(e))
                if i >= 3:
                    timing.samples.append(time.perf_counter() - t0)
        rows.append({"call": name, **timing.to_dict()})
    return rows


async def run_expiry(conn: asyncpg.Connection) -> dict[str, Any]:
    today = await conn.fetchval("select workflow_logs_private.utc_today()")
    expiring = await conn.fetchval("select count(*) from public.workflow_execution_logs where expires_on <= $1", today)
    size_before = await conn.fetchval("select pg_total_relation_size('bench_flat.workflow_execution_logs')")
    with Stopwatch() as sw:
        report = json.loads(await conn.fetchval("select workflow_logs_private.maintain_log_partitions()::text"))
    partitioned_s = sw.seconds
    with Stopwatch() as sw:
        deleted = await conn.execute("delete from bench_flat.workflow_execution_logs where expires_on <= $1", today)
    flat_s = sw.seconds
    await conn.execute("select pg_stat_force_next_flush()") if await conn.fetchval(
        "select exists (select 1 from pg_proc where proname = 'pg_stat_force_next_flush')") else None
    await asyncio.sleep(0.7)  # the stats collector of PG 14 and older reports with a delay
    dead = await conn.fetchval(
        "select n_dead_tup from pg_stat_user_tables where schemaname = 'bench_flat' and relname = 'workflow_execution_logs'")
    size_after = await conn.fetchval("select pg_total_relation_size('bench_flat.workflow_execution_logs')")
    return {
        "rows_expired": expiring,
        "partitioned": {"seconds": round(partitioned_s, 3), "report": report},
        "flat_delete": {"seconds": round(flat_s, 3), "deleted": int(deleted.split()[-1]), "dead_tuples_after": dead,
                        "size_before": size_before, "size_after": size_after},
    }


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    result: dict[str, Any] = {"machine": machine_info()}
    with tempfile.TemporaryDirectory(prefix="wl_bench_pg_") as tmp:
        admin, where = await resolve_admin_url(os.environ.get("BENCH_DATABASE_URL"), Path(tmp) / "data")
        async with scratch_database(admin, prefix="wl_bench_scale") as url:
            await migrate(url, supabase_shim=True)
            conn = await asyncpg.connect(url)
            try:
                # a bulk load is not a live workload: no Realtime copies of the rows
                await conn.execute("set workflow_logs.broadcast = 'off'")
                print(f"Loading {args.logs:,} logs over {args.days} days ({where}) ...")
                result["load"] = await load(conn, args)
                executions = result["load"]["executions"]
                print("Queries on both tables ...")
                result["queries"] = await run_raw(conn, args, executions, result["load"]["has_workflow_id"])
                print("SQL API on the partitioned table ...")
                result["api"] = await run_api(conn, args, executions)
                print("Expiry of one day ...")
                result["expiry"] = await run_expiry(conn)
            finally:
                await conn.close()
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    report(result)
    print(f"Wrote {write_json('scale', result)}")
    return 0


def report(r: dict[str, Any]) -> None:
    load = r["load"]
    print(f"\n{load['logs']:,} logs, {load['executions']:,} executions over {load['days']} days;"
          f" {load['partitions']} partitions ({load['size_partitioned']}) vs one table ({load['size_flat']})")
    print_table(
        "Same query, partitioned by expiry day vs one plain table (ms, interleaved in one run)",
        ["query", "partitioned p50", "p95", "plain p50", "p95", "p95 ratio"],
        [[q["query"], fmt(q["partitioned"]["p50_ms"]), fmt(q["partitioned"]["p95_ms"]),
          fmt(q["flat"]["p50_ms"]), fmt(q["flat"]["p95_ms"]), f"{q['p95_ratio']:.2f}"] for q in r["queries"]],
    )
    print_table(
        "SQL API as the owner (partitioned table, ms)",
        ["call", "p50", "p95", "n"],
        [[a["call"], fmt(a["p50_ms"]), fmt(a["p95_ms"]), str(a["n"])] for a in r["api"]],
    )
    e = r["expiry"]
    print_table(
        f"Expiry of one day ({e['rows_expired']:,} logs)",
        ["how", "seconds", "dead tuples left", "table size after"],
        [["maintain_log_partitions(): drop the day's partition", f"{e['partitioned']['seconds']:.3f}", "0", "(partition gone)"],
         ["delete from one plain table", f"{e['flat_delete']['seconds']:.3f}", f"{e['flat_delete']['dead_tuples_after']:,}",
          f"{e['flat_delete']['size_after'] / 2**20:,.0f} MiB (was {e['flat_delete']['size_before'] / 2**20:,.0f})"]],
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main(args_parser().parse_args())))
