"""Benchmark of the workflow-wide readers and of search (get_workflow_logs, get_execution_logs with q).

Loads a scratch database (default 2M logs: 20 workflows x 100 executions x 1,000 logs, runs of a workflow
overlapping in time over 20 days of created_at, so over ~20 expiry partitions; seq follows time across
all runs), then times each case as the database owner (the readers are security definer; RLS costs the
same as in bench_sql_api) and prints medians and p95 in ms. Words: every message holds common words
("step", "item", one of 10 verbs, one of 50 nouns), ~1% "timeout", and a token `r<n>` that occurs about
twice in the whole table (a rare word).

    .venv/bin/python bench/bench_workflow_api.py --keep           # load, time, keep the database
    .venv/bin/python bench/bench_workflow_api.py --reuse URL      # time against a kept database
    .venv/bin/python bench/bench_workflow_api.py --reuse URL --explain   # also EXPLAIN (ANALYZE, BUFFERS)

Server: BENCH_DATABASE_URL, else the server on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timing, print_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))

WORKFLOWS = 20

# Rows in created_at order (so seq follows time across every run), loaded with triggers off
# (session_replication_role = replica) and the maintained counts rebuilt afterwards: the per-statement
# triggers price a multi-execution statement by the number of executions in it. workflow_id is written
# when the column exists (direct writers set it; see 20251125000900).
_LOAD_SQL = """
insert into public.workflow_execution_logs
  (execution_id, log_category, event_type, level, message, node_id, node_name, is_milestone, display_priority,
   created_at{wf_column})
select x.execution_id,
       case when x.i % 2 = 0 then 'business' else 'technical' end,
       (enum_range(null::public.log_event_type_enum))[1 + x.i % 8],
       (case when x.h < 0.01 then 'ERROR' when x.h < 0.05 then 'WARNING' when x.h < 0.15 then 'DEBUG'
             else 'INFO' end)::public.log_level_enum,
       (array['started','completed','processing','retrying','loaded','sent','received','parsed','stored',
              'skipped'])[1 + x.i % 10]
         || ' step ' || (x.i % 50) || ' item '
         || 'noun' || ((x.i * 7) % 50)
         || case when x.h2 < 0.01 then ' timeout after 30s' else '' end
         || ' r' || x.rare,
       'node-' || (x.i % 8),
       'Node ' || (x.i % 8),
       x.i % 500 = 0,
       1 + x.i % 10,
       x.created_at{wf_value}
from (
  select we.execution_id, we.workflow_id, i,
         ((hashint8(i::bigint * 31 + hashtext(we.execution_id)) & 1023) / 1024.0) as h,
         ((hashint8(i::bigint * 17 + hashtext(we.execution_id)) & 1023) / 1024.0) as h2,
         (hashint8(i::bigint * 13 + hashtext(we.execution_id)) & 1073741823) % $2 as rare,
         we.start_time + i * interval '2 seconds' as created_at
  from public.workflow_executions we
  cross join generate_series(1, $1::int) i
  where we.execution_id like 'wfb-%' and we.start_time >= $3 and we.start_time < $4
) x
order by x.created_at
"""


async def load(url: str, logs: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        per_workflow = 100
        per_execution = logs // (WORKFLOWS * per_workflow)
        has_column = await conn.fetchval(
            "select exists (select 1 from pg_attribute where attrelid = 'public.workflow_execution_logs'::regclass"
            " and attname = 'workflow_id' and not attisdropped)")
        owner = await conn.fetchval("insert into auth.users (id) values (gen_random_uuid()) returning id")
        await conn.execute(
            "insert into public.workflows (id, user_id, name)"
            " select ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, $1, 'bench ' || g"
            " from generate_series(1, $2::int) g", owner, WORKFLOWS)
        # Each workflow: 100 runs starting every ~4.8 h over 20 days; a run of 1,000 logs lasts ~33 min,
        # so runs of different workflows interleave all the time.
        await conn.execute(
            "insert into public.workflow_executions (execution_id, workflow_id, status, start_time, end_time)"
            " select 'wfb-' || w || '-' || e, ('00000000-0000-4000-8000-' || lpad(w::text, 12, '0'))::uuid,"
            "        case when e % 10 = 0 then 'ERROR' else 'SUCCESS' end,"
            "        now() - interval '20 days' + (e * $2::int + w) * interval '1 hour' * 20 * 24 / ($1::int * $2::int),"
            "        now() - interval '20 days' + (e * $2::int + w) * interval '1 hour' * 20 * 24 / ($1::int * $2::int)"
            "          + $3::int * interval '2 seconds'"
            " from generate_series(1, $2::int) w cross join generate_series(0, $1::int - 1) e",
            per_workflow, WORKFLOWS, per_execution)
        sql = _LOAD_SQL.format(
            wf_column=", workflow_id" if has_column else "",
            wf_value=", x.workflow_id" if has_column else "",
        )
        t_first = await conn.fetchval("select min(start_time) from public.workflow_executions where execution_id like 'wfb-%'")
        await conn.execute("set session_replication_role = replica")
        started = time.perf_counter()
        for d in range(21):
            lo = t_first + timedelta(days=d)
            await conn.execute(sql, per_execution, max(logs // 2, 1), lo, lo + timedelta(days=1))
        await conn.execute("set session_replication_role = origin")
        ids = await conn.fetchval("select array_agg(execution_id) from public.workflow_executions where execution_id like 'wfb-%'")
        await conn.execute("select workflow_logs_private.refresh_execution_stats($1::text[])", ids)
        await conn.execute("vacuum (analyze) public.workflow_execution_logs")
        await conn.execute("analyze")
        n = await conn.fetchval("select count(*) from public.workflow_execution_logs")
        print(f"loaded {n:,} logs in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await conn.close()


# (name, statement, subject): :subject is a workflow id ("wf") or an execution id ("ex"), :after a seq
# drawn at random inside the subject's range, :rare a rare word of the subject.
CASES = [
    ("workflow page, first (total_count)", "select public.get_workflow_logs(:subject)::text", "wf"),
    ("workflow page, cursor", "select public.get_workflow_logs(:subject, after => :after)::text", "wf"),
    ("workflow page, level=error first", "select public.get_workflow_logs(:subject, level => 'error')::text", "wf"),
    ("workflow page, level=error cursor", "select public.get_workflow_logs(:subject, level => 'error', after => :after)::text", "wf"),
    ("workflow page, milestones cursor", "select public.get_workflow_logs(:subject, milestones_only => true, after => :after)::text", "wf"),
    ("workflow page, node_id cursor", "select public.get_workflow_logs(:subject, node_id => 'node-3', after => :after)::text", "wf"),
    ("workflow search rare, first", "select public.get_workflow_logs(:subject, q => :rare)::text", "wf"),
    ("workflow search rare, rank", "select public.get_workflow_logs(:subject, q => :rare, \"order\" => 'rank')::text", "wf"),
    ("workflow search 1% word, first", "select public.get_workflow_logs(:subject, q => 'timeout')::text", "wf"),
    ("workflow search 1% word, cursor", "select public.get_workflow_logs(:subject, q => 'timeout', after => :after)::text", "wf"),
    ("workflow search common, cursor", "select public.get_workflow_logs(:subject, q => 'step', after => :after)::text", "wf"),
    ("execution search rare", "select public.get_execution_logs(:subject, q => :rare)::text", "ex"),
    ("execution search common, first", "select public.get_execution_logs(:subject, q => 'step')::text", "ex"),
    ("execution search common, cursor", "select public.get_execution_logs(:subject, q => 'completed', after => :after)::text", "ex"),
    ("execution search 1% word", "select public.get_execution_logs(:subject, q => 'timeout')::text", "ex"),
]


def bind(template: str, values: dict) -> tuple[str, list]:
    """The statement with :name placeholders numbered $1.. and the arguments in that order."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    sql = re.sub(r":(subject|after|rare)\b", number, template)
    return sql, [values[n] for n in names]


async def run(url: str, iterations: int, explain: bool, only: str | None) -> None:
    conn = await asyncpg.connect(url)
    rng = random.Random(7)
    try:
        await conn.execute("set jit = off")
        workflows = [r["id"] for r in await conn.fetch(
            "select id::text as id from public.workflows where name like 'bench %' order by id")]
        seq_range = tuple(await conn.fetchrow("select min(seq), max(seq) from public.workflow_execution_logs"))
        rows = []
        for name, template, target in CASES:
            if only and only not in name:
                continue
            timing = Timing()
            call = None
            for _ in range(iterations):
                wf = rng.choice(workflows)
                w = int(wf[-12:])
                subject = wf if target == "wf" else f"wfb-{w}-{rng.randint(0, 99)}"
                values: dict = {"subject": subject}
                if ":after" in template:
                    if target == "wf":
                        lo, hi = seq_range
                    else:
                        lo, hi = await conn.fetchrow(
                            "select min(seq), max(seq) from public.workflow_execution_logs where execution_id = $1",
                            subject)
                    values["after"] = rng.randint(lo, hi)
                if ":rare" in template:
                    values["rare"] = "r" + await conn.fetchval(
                        "select split_part(message, ' r', 2) from public.workflow_execution_logs"
                        " where execution_id = $1 order by seq limit 1 offset $2",
                        f"wfb-{w}-{rng.randint(0, 99)}" if target == "wf" else subject, rng.randint(0, 900))
                sql, arguments = bind(template, values)
                started = time.perf_counter()
                await conn.fetchval(sql, *arguments)
                timing.samples.append(time.perf_counter() - started)
                call = (sql, arguments)
            rows.append([name, f"{timing.p50_ms:.1f}", f"{timing.p95_ms:.1f}", str(timing.n)])
            print(f"{name}: p50 {timing.p50_ms:.1f} ms, p95 {timing.p95_ms:.1f} ms", flush=True)
            if explain and call is not None:
                await show_plans(conn, *call)
        print_table("workflow API (ms)", ["case", "p50", "p95", "n"], rows)
    finally:
        await conn.close()


async def show_plans(conn: asyncpg.Connection, sql: str, args: list) -> None:
    """The nested statements' plans (auto_explain with analyze, buffers) of one call."""
    await conn.execute("load 'auto_explain'")
    await conn.execute("set auto_explain.log_min_duration = 0")
    await conn.execute("set auto_explain.log_nested_statements = on")
    await conn.execute("set auto_explain.log_analyze = on")
    await conn.execute("set auto_explain.log_buffers = on")
    await conn.execute("set auto_explain.log_timing = on")
    await conn.execute("set client_min_messages = log")
    messages: list[str] = []
    conn.add_log_listener(lambda _c, m: messages.append(m.message))
    await conn.fetchval(sql, *args)
    await conn.execute("set client_min_messages = notice")
    await conn.execute("set auto_explain.log_min_duration = -1")
    for m in messages:
        if "Query Text" in m and ("workflow_execution_logs" in m or "matching_logs" in m or "l.seq" in m):
            print(m[:6000])
            print("-" * 80)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", metavar="URL")
    parser.add_argument("--logs", type=int, default=2_000_000)
    parser.add_argument("--iterations", type=int, default=21)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args()
    if args.reuse:
        await run(args.reuse, args.iterations, args.explain, args.only)
        return
    base = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    from workflow_logs._migrate import migrate

    name = "wl_bench_wf_" + uuid.uuid4().hex[:8]
    admin = await asyncpg.connect(base)
    await admin.execute(f'create database "{name}"')
    await admin.close()
    url = base.rsplit("/", 1)[0] + "/" + name
    await migrate(url, supabase_shim=True)
    await load(url, args.logs)
    await run(url, args.iterations, args.explain, args.only)
    if args.keep:
        print(f"kept: {url}")
    else:
        admin = await asyncpg.connect(base)
        await admin.execute(f'drop database "{name}" with (force)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
