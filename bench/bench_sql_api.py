"""Benchmark of the SQL API (get_execution_logs, get_execution_logs_summary, append_execution_logs).

Loads 1M logs into a scratch database (1,000 executions; one of 100k logs interleaved with the others),
then times each function exactly as PostgREST calls it (one transaction per call: role and JWT claims set
locally, the function's JSON as text) next to the floor measured in the same run: the bare query under
the same role and RLS, COPY for writes. Prints a table and writes bench/results/sql_api.json.

    .venv/bin/python bench/bench_sql_api.py                 # full run (~1.5 min on 2 cores)
    .venv/bin/python bench/bench_sql_api.py --keep          # keep the loaded database, print its URL
    .venv/bin/python bench/bench_sql_api.py --reuse URL     # skip loading; time against a kept database
    .venv/bin/python bench/bench_sql_api.py --explain       # also print the plans inside missed cases

Server: BENCH_DATABASE_URL, else the server on 127.0.0.1:5432, else an embedded Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Stopwatch,
    Target,
    Timing,
    fmt,
    install_uvloop,
    machine_info,
    mark,
    print_table,
    ratio,
    time_calls,
    write_json,
)
from workflow_logs._migrate import migrate  # noqa: E402
from workflow_logs._server import resolve_admin_url, scratch_database  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------
_NS = uuid.UUID("6b1f3c2e-0d5a-4a8e-9c61-5f0a7e2b9d10")
USERS = [uuid.uuid5(_NS, f"user-{i}") for i in range(4)]
OWNER = USERS[0]  # reads run as this user; owns workflow 0 (the big execution and the contrast one)
WORKFLOWS = [uuid.uuid5(_NS, f"workflow-{i}") for i in range(10)]  # workflow i belongs to USERS[i % 4]
BIG = "bench-exec-big"
SMALL = "bench-exec-0010"  # workflow 10 % 10 = 0, so the owner's
GROUPS, CONCURRENT = 37, 27  # small executions run 27 at a time in 37 waves: 999 executions
LIVE = [f"bench-live-{i:02d}" for i in range(50)]  # RUNNING executions the write benchmark appends to
BIG_BATCH = 5_000  # the largest batch append_execution_logs accepts, for comparison with 500
BASE_TIME = dt.datetime(2025, 11, 20, tzinfo=dt.UTC)
STEP = dt.timedelta(milliseconds=50)  # created_at = BASE_TIME + g * STEP for the g-th log of the table
LOREM = (
    "Fetched 42 documents from the vector store, reranked them with the cross-encoder, and kept the "
    "eight best; the model answered in 1.8 s with 612 prompt tokens and 205 completion tokens, "
    "within budget; the next step will validate the JSON against the output schema before saving it."
)

# One statement per chunk of g (the g-th log of the table, in seq order). Every 10th log is the big
# execution's, so its 100k logs are spread over the whole table; the others belong to 999 executions
# that run 27 at a time. Level: ~1% ERROR, ~3% WARNING, ~10% DEBUG, the rest INFO; half business.
LOAD_SQL = """
insert into public.workflow_execution_logs (
  id, execution_id, log_category, event_type, level, message, data, node_id, node_name, node_type,
  step_number, total_steps, progress_percentage, duration_seconds, user_friendly_message,
  display_priority, is_milestone, technical_details, stack_trace, performance_metrics, created_at)
select gen_random_uuid(),
       z.execution_id,
       z.category,
       z.event_type::public.log_event_type_enum,
       z.lvl::public.log_level_enum,
       'step ' || z.node_no || ': ' || substr($5::text, 1 + (z.h1 % 50)::int, 70 + (z.h2 % 121)::int),
       jsonb_build_object('item', z.n, 'batch', z.n / 50, 'attempt', 1 + z.h3 % 3),
       'node-' || lpad(z.node_no::text, 2, '0'),
       'Node ' || z.node_no,
       (array['llm', 'tool', 'http', 'transform'])[1 + z.node_no % 4],
       z.node_no + 1,
       20,
       case when z.milestone then round(least(100, z.n * 100.0 / z.size), 2) end,
       case when z.event_type = 'step_completed' then (z.h3 % 120)::int end,
       case when z.category = 'business' then 'Processed item ' || z.n || ' in Node ' || z.node_no end,
       case when z.milestone then 10 when z.lvl = 'ERROR' then 9 when z.lvl = 'WARNING' then 7
            else 1 + (z.h3 % 5)::int end,
       z.milestone,
       case when z.category = 'technical'
            then jsonb_build_object('worker', 'worker-' || z.h1 % 8, 'pid', 1000 + z.h2 % 5000)
            else '{}'::jsonb end,
       case when z.lvl = 'ERROR' then
         'Traceback (most recent call last):' || chr(10) || '  File "agents/steps.py", line ' || z.h2 % 900
         || ', in run' || chr(10) || 'TimeoutError: upstream call took longer than 30 s' end,
       case when z.event_type = 'step_completed'
            then jsonb_build_object('duration_ms', z.h2 % 5000, 'tokens', z.h3 % 2000)
            else '{}'::jsonb end,
       $4::timestamptz + z.g * interval '50 milliseconds'
from (
  select y.*,
         case when y.milestone then 'business' when y.h2 % 2 = 0 then 'business' else 'technical' end as category,
         case when y.n = 1 then 'workflow_started'
              when y.milestone then 'workflow_progress'
              when y.lvl = 'ERROR' then 'step_error'
              when y.n % 50 = 1 then 'step_started'
              when y.n % 50 = 0 then 'step_completed'
              else (array['step_input', 'step_output', 'step_output', 'workflow_progress'])[1 + (y.h1 / 1000 % 4)::int]
         end as event_type
  from (
    select x.*,
           ((x.n - 1) / 50) % 20 as node_no,
           (x.n = 1 or x.n % 2000 = 0) as milestone,
           case when x.n = 1 or x.n % 2000 = 0 then 'INFO'
                when x.h1 % 1000 < 10 then 'ERROR'
                when x.h1 % 1000 < 40 then 'WARNING'
                when x.h1 % 1000 < 140 then 'DEBUG'
                else 'INFO' end as lvl
    from (
      select w.g, w.h1, w.h2, w.h3,
             case when w.g % 10 = 0 then $6::text
                  else 'bench-exec-' || lpad((w.grp * $8::int + (w.k % w.block) % $8::int + 1)::text, 4, '0') end
               as execution_id,
             case when w.g % 10 = 0 then w.g / 10 else (w.k % w.block) / $8::int + 1 end as n,
             case when w.g % 10 = 0 then $3::bigint / 10 else w.block / $8::int end as size
      from (
        select v.*, (v.k / v.block) as grp
        from (
          select g,
                 g - g / 10 - 1 as k,
                 ceil(($3::bigint - $3::bigint / 10)::numeric / $7::int)::bigint as block,
                 hashint8(g)::bigint + 2147483648 as h1,
                 hashint8(g + 7919)::bigint + 2147483648 as h2,
                 hashint8(g + 104729)::bigint + 2147483648 as h3
          from generate_series($1::bigint, $2::bigint) g
        ) v
      ) w
    ) x
  ) y
) z
"""

# The columns of a log entry written by clients (append_execution_logs' JSON and COPY alike).
WRITE_COLUMNS = (
    "id", "execution_id", "log_category", "event_type", "level", "message", "data", "node_id", "node_name",
    "node_type", "step_number", "total_steps", "progress_percentage", "duration_seconds",
    "user_friendly_message", "display_priority", "is_milestone", "technical_details", "stack_trace",
    "performance_metrics", "created_at",
)  # fmt: skip

APPEND_SQL = "select public.append_execution_logs($1::jsonb)::text"

# What append_execution_logs' inner insert does, aimed at a trigger-less copy of the table.
PLAIN_INSERT_SQL = """
insert into public.bench_logs_plain (
  id, execution_id, log_category, event_type, level, message, data, node_id, node_name, node_type,
  step_number, total_steps, progress_percentage, duration_seconds, user_friendly_message,
  display_priority, is_milestone, technical_details, stack_trace, performance_metrics, created_at)
select coalesce(r.id, gen_random_uuid()), r.execution_id, coalesce(lower(r.log_category), 'technical'),
       lower(r.event_type)::public.log_event_type_enum, coalesce(upper(r.level), 'INFO')::public.log_level_enum,
       r.message, coalesce(r.data, '{}'::jsonb), r.node_id, r.node_name, r.node_type,
       r.step_number, r.total_steps, r.progress_percentage, r.duration_seconds, r.user_friendly_message,
       coalesce(r.display_priority, 5), coalesce(r.is_milestone, false), coalesce(r.technical_details, '{}'::jsonb),
       r.stack_trace, coalesce(r.performance_metrics, '{}'::jsonb), coalesce(r.created_at, now())
from jsonb_to_recordset($1::jsonb) as r(
  id uuid, execution_id text, log_category text, event_type text, level text, message text, data jsonb,
  node_id text, node_name text, node_type text, step_number integer, total_steps integer,
  progress_percentage numeric, duration_seconds integer, user_friendly_message text,
  display_priority integer, is_milestone boolean, technical_details jsonb, stack_trace text,
  performance_metrics jsonb, created_at timestamptz)
on conflict (id, expires_on) do nothing
"""

# The same into the real table: its triggers, but not append_execution_logs' checks, locks and RETURNING.
TRIGGERED_INSERT_SQL = PLAIN_INSERT_SQL.replace("public.bench_logs_plain", "public.workflow_execution_logs")

# Targets (seed brief): a cursor page with total_count, unfiltered or by level or category, at any depth.
PAGE_TARGET = Target("p95_ms", "<", 2.0)
SUMMARY_TARGET = Target("p95_ms", "<", 10.0)
INGEST_TARGET = Target("logs_per_s", ">=", 50_000)


# ---------------------------------------------------------------------------------------------
# Server, database and load
# ---------------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def bench_database(args: argparse.Namespace) -> AsyncIterator[tuple[str, str, bool]]:
    """(database URL, where the server came from, whether it needs loading)."""
    if args.reuse:
        yield args.reuse, "--reuse", False
        return
    with tempfile.TemporaryDirectory(prefix="wl_bench_pg_") as tmp:
        admin, where = await resolve_admin_url(os.environ.get("BENCH_DATABASE_URL"), Path(tmp) / "data")
        if args.keep:
            async with _kept_database(admin) as url:
                yield url, where, True
        else:
            async with scratch_database(admin, prefix="wl_bench") as url:
                yield url, where, True


@contextlib.asynccontextmanager
async def _kept_database(admin: str) -> AsyncIterator[str]:
    from workflow_logs._server import with_database

    name = f"wl_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    yield with_database(admin, name)


async def load(url: str, total_logs: int, chunk: int) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "insert into auth.users (id, email) select u, 'bench-' || i || '@example.com'"
            " from unnest($1::uuid[]) with ordinality t(u, i)",
            USERS,
        )
        await conn.execute(
            "insert into public.workflows (id, user_id, name)"
            " select w, ($2::uuid[])[1 + ((i - 1) % 4)::int], 'bench workflow ' || i"
            " from unnest($1::uuid[]) with ordinality t(w, i)",
            WORKFLOWS,
            USERS,
        )
        end = BASE_TIME + STEP * (total_logs + 1)
        await conn.execute(
            "insert into public.workflow_executions (execution_id, workflow_id, status, start_time, end_time)"
            " select 'bench-exec-' || lpad(i::text, 4, '0'), ($1::uuid[])[1 + i % 10], 'SUCCESS',"
            "        $2::timestamptz, $3::timestamptz"
            " from generate_series(1, $4::int) i"
            " union all select $5::text, ($1::uuid[])[1], 'SUCCESS', $2::timestamptz, $3::timestamptz"
            " union all select e, ($1::uuid[])[1], 'RUNNING', now(), null::timestamptz from unnest($6::text[]) e",
            WORKFLOWS,
            BASE_TIME,
            end,
            GROUPS * CONCURRENT,
            BIG,
            LIVE,
        )
        timings: dict[str, Any] = {"logs": total_logs, "chunk": chunk}
        with Stopwatch() as insert:
            for lo in range(1, total_logs + 1, chunk):
                hi = min(lo + chunk - 1, total_logs)
                await conn.execute(LOAD_SQL, lo, hi, total_logs, BASE_TIME, LOREM, BIG, GROUPS, CONCURRENT)
                done = hi
                rate = done / (time.perf_counter() - insert._t0)
                print(f"\r  loaded {done:>9,} / {total_logs:,} logs ({rate:,.0f}/s)", end="", flush=True)
        print()
        timings["insert_s"] = round(insert.seconds, 2)
        timings["insert_logs_per_s"] = round(total_logs / insert.seconds)
        # The steady state of a live table: autovacuum would have set the visibility map and statistics.
        with Stopwatch() as vac:
            await conn.execute("vacuum (analyze) public.workflow_execution_logs")
            await conn.execute(
                "analyze public.workflow_execution_log_counts, public.workflow_execution_nodes,"
                " public.workflow_executions, public.workflows, auth.users"
            )
        timings["vacuum_analyze_s"] = round(vac.seconds, 2)
        timings["table_size"] = await conn.fetchval(
            "select pg_size_pretty(pg_total_relation_size('public.workflow_execution_logs'))"
        )
        return timings
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------
# Reads, as PostgREST makes them
# ---------------------------------------------------------------------------------------------
_SET_CLAIMS = "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)"


class Session:
    """One connection that runs each call in its own transaction as `role` with JWT `claims`."""

    def __init__(self, conn: asyncpg.Connection, role: str, claims: dict[str, Any]) -> None:
        self.conn = conn
        self.role = role
        self.claims = json.dumps(claims, separators=(",", ":"))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.conn.transaction():
            # PostgREST's own form of `set local role ...; set_config('request.jwt.claims', ..., true)`.
            await self.conn.execute(_SET_CLAIMS, self.role, self.claims)
            return await self.conn.fetchval(sql, *args)


_ARG_TYPES = {
    "execution_id": "text", "limit": "integer", "offset": "integer", "level": "text", "start_time": "text",
    "end_time": "text", "after": "bigint", "category": "text", "node_id": "text", "event_type": "text",
    "milestones_only": "boolean", "min_priority": "integer",
}  # fmt: skip


def logs_call(args: dict[str, Any]) -> tuple[str, list[Any]]:
    """`select public.get_execution_logs(name => $n, ...)::text` with the given named arguments."""
    parts = [f'"{k}" => ${i}::{_ARG_TYPES[k]}' for i, k in enumerate(args, 1)]
    return f"select public.get_execution_logs({', '.join(parts)})::text", list(args.values())


def bare_page(args: dict[str, Any], *, body: str = "to_jsonb(t)") -> tuple[str, list[Any]]:
    """The floor of a get_execution_logs call: the page query alone (no total_count, no has_more)."""
    where, values = ["l.execution_id = $1"], [args["execution_id"]]

    def param(value: Any, cast: str) -> str:
        values.append(value)
        return f"${len(values)}::{cast}"

    if args.get("after") is not None:
        where.append(f"l.seq > {param(args['after'], 'bigint')}")
    if args.get("level"):
        where.append(f"l.level = {param(args['level'], 'public.log_level_enum')}")
    if args.get("category"):
        where.append(f"l.log_category = {param(args['category'], 'text')}")
    if args.get("node_id"):
        where.append(f"l.node_id = {param(args['node_id'], 'text')}")
    if args.get("event_type"):
        where.append(f"l.event_type = {param(args['event_type'], 'public.log_event_type_enum')}")
    if args.get("milestones_only"):
        where.append("l.is_milestone")
    if args.get("min_priority") is not None:
        where.append(f"l.display_priority >= {param(args['min_priority'], 'integer')}")
    if args.get("start_time"):
        where.append(f"l.created_at >= {param(args['start_time'], 'text')}::timestamptz")
    if args.get("end_time"):
        where.append(f"l.created_at <= {param(args['end_time'], 'text')}::timestamptz")
    limit = param(args.get("limit", 100), "integer")
    offset = param(args.get("offset", 0), "integer")
    sql = (
        f"select coalesce(jsonb_agg({body} order by t.seq), '[]')::text from ("
        f" select l.* from public.workflow_execution_logs l where {' and '.join(where)}"
        f" order by l.seq limit {limit} offset {offset}) t"
    )
    return sql, values


@dataclass
class ReadCase:
    name: str
    sql: str
    args: list[Any]
    group: str  # "page" (cursor page, targeted) | "other" (other filters) | "offset" | "summary" | "floor"
    floor: str | None = None
    target: Target | None = None
    timing: Timing = field(default_factory=Timing)
    total_count: int | None = None
    returned: int | None = None


def read_cases(big_n: int, depth: int, seq_at_depth: int) -> list[ReadCase]:
    big = {"execution_id": BIG}
    cursor = {**big, "after": seq_at_depth}
    # A 2-hour window around the depth: the big execution logs every 0.5 s.
    at_depth = BASE_TIME + STEP * (depth * 10)
    window = {
        "start_time": (at_depth - dt.timedelta(hours=1, minutes=30)).isoformat(),
        "end_time": (at_depth + dt.timedelta(minutes=30)).isoformat(),
    }
    d = f"{depth:,}"
    specs: list[tuple[str, dict[str, Any], str, Target | None]] = [
        ("first page (limit 100)", {**big, "limit": 100}, "page", PAGE_TARGET),
        (f"offset {d}", {**big, "offset": depth}, "offset", None),
        (f"cursor after row {d}", cursor, "page", PAGE_TARGET),
        (f"cursor @{d}, level=ERROR", {**cursor, "level": "ERROR"}, "page", PAGE_TARGET),
        (f"cursor @{d}, level=INFO", {**cursor, "level": "INFO"}, "page", PAGE_TARGET),
        (f"cursor @{d}, category=business", {**cursor, "category": "business"}, "page", PAGE_TARGET),
        (f"cursor @{d}, node_id=node-07", {**cursor, "node_id": "node-07"}, "other", None),
        (f"cursor @{d}, event_type=step_output", {**cursor, "event_type": "step_output"}, "other", None),
        (f"cursor @{d}, milestones_only", {**cursor, "milestones_only": True}, "other", None),
        (f"cursor @{d}, min_priority=7", {**cursor, "min_priority": 7}, "other", None),
        (f"cursor @{d}, 2 h time window", {**cursor, **window}, "other", None),
        ("small execution, first page", {"execution_id": SMALL, "limit": 100}, "page", PAGE_TARGET),
    ]
    cases: list[ReadCase] = []
    for name, args, group, target in specs:
        sql, values = logs_call(args)
        floor_sql, floor_values = bare_page(args)
        floor_name = f"bare query: {name}"
        cases.append(ReadCase(name, sql, values, group, floor=floor_name, target=target))
        cases.append(ReadCase(floor_name, floor_sql, floor_values, "floor"))
    count_name = "bare query: count(*) of the big execution"
    cases.append(
        ReadCase(
            f"summary ({big_n:,}-log execution)",
            "select public.get_execution_logs_summary($1::text)::text",
            [BIG],
            "summary",
            floor=count_name,
            target=SUMMARY_TARGET,
        )
    )
    cases.append(
        ReadCase(
            count_name,
            "select count(*)::text from public.workflow_execution_logs where execution_id = $1",
            [BIG],
            "floor",
        )
    )
    # The page of the cursor case formatted as the API's LogEntry, without total_count or has_more.
    fmt_sql, fmt_values = bare_page(cursor, body="workflow_logs_private.log_entry(row(t.*)::public.workflow_execution_logs)")
    cases.append(ReadCase("bare query as LogEntry: cursor page", fmt_sql, fmt_values, "floor"))
    return cases


async def run_reads(session: Session, cases: list[ReadCase], iterations: int) -> None:
    for case in cases:
        timing, result = await time_calls(
            lambda c=case: session.fetchval(c.sql, *c.args), iterations=iterations, budget_s=4.0
        )
        case.timing = timing
        if case.group == "floor":
            if result is not None and result.startswith("["):
                case.returned = len(json.loads(result))
            elif result is not None:
                case.total_count = int(result)
        else:
            body = json.loads(result)
            case.total_count = body.get("total_count", body.get("total_logs"))
            if "logs" in body:
                case.returned = len(body["logs"])
        print(f"  {case.name:<52} p50 {case.timing.p50_ms:8.2f} ms  (n={case.timing.n})", flush=True)


async def explain_call(session: Session, sql: str, args: list[Any], min_ms: float = 0.1) -> list[str]:
    """Run one call with auto_explain at NOTICE level; return the plans (statements inside the function
    included, triggers too) of the statements that took at least `min_ms`. Needs a superuser session."""
    notices: list[str] = []

    def on_log(_conn: asyncpg.Connection, message: asyncpg.PostgresLogMessage) -> None:
        duration = message.message.removeprefix("duration: ").split(" ", 1)[0]
        with contextlib.suppress(ValueError):
            if float(duration) >= min_ms:
                notices.append(message.message)

    conn = session.conn
    await conn.execute(
        "load 'auto_explain';"
        " set auto_explain.log_min_duration = 0; set auto_explain.log_analyze = on;"
        " set auto_explain.log_buffers = on; set auto_explain.log_nested_statements = on;"
        " set auto_explain.log_triggers = on; set auto_explain.log_level = notice;"
        " set client_min_messages = notice"
    )
    conn.add_log_listener(on_log)
    try:
        await session.fetchval(sql, *args)
    finally:
        conn.remove_log_listener(on_log)
        await conn.execute("set auto_explain.log_min_duration = -1; reset client_min_messages")
    return notices


# ---------------------------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------------------------
def make_entries(execution_id: str, start: int, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` log entries as a client would send them: client ids, sizes like the loaded data."""
    entries = []
    now = dt.datetime.now(dt.UTC)
    for n in range(start, start + count):
        r = rng.random()
        level = "ERROR" if r < 0.01 else "WARNING" if r < 0.04 else "DEBUG" if r < 0.14 else "INFO"
        node = (n // 50) % 20
        business = rng.random() < 0.5
        event = "step_error" if level == "ERROR" else rng.choice(("step_input", "step_output", "workflow_progress"))
        offset = rng.randrange(50)
        entries.append(
            {
                "id": str(uuid.uuid4()),
                "execution_id": execution_id,
                "log_category": "business" if business else "technical",
                "event_type": event,
                "level": level,
                "message": f"step {node}: " + LOREM[offset : offset + 70 + rng.randrange(121)],
                "data": {"item": n, "batch": n // 50, "attempt": 1 + rng.randrange(3)},
                "node_id": f"node-{node:02d}",
                "node_name": f"Node {node}",
                "node_type": ("llm", "tool", "http", "transform")[node % 4],
                "step_number": node + 1,
                "total_steps": 20,
                "user_friendly_message": f"Processed item {n} in Node {node}" if business else None,
                "display_priority": 9 if level == "ERROR" else 7 if level == "WARNING" else 1 + rng.randrange(5),
                "technical_details": {} if business else {"worker": f"worker-{rng.randrange(8)}", "pid": 4242},
                "stack_trace": "Traceback (most recent call last):\n  TimeoutError: upstream call took 30 s"
                if level == "ERROR"
                else None,
                "created_at": (now + dt.timedelta(microseconds=n)).isoformat(),
            }
        )
    return entries


def as_record(e: dict[str, Any]) -> tuple[Any, ...]:
    """The same entry as a COPY record (fresh id: COPY writes its own copy of the batch)."""
    return (
        uuid.uuid4(), e["execution_id"], e["log_category"], e["event_type"], e["level"], e["message"],
        json.dumps(e["data"]), e["node_id"], e["node_name"], e["node_type"], e["step_number"],
        e["total_steps"], None if e.get("progress_percentage") is None else Decimal(str(e["progress_percentage"])),
        e.get("duration_seconds"), e["user_friendly_message"], e["display_priority"], False,
        json.dumps(e["technical_details"]), e["stack_trace"], "{}", dt.datetime.fromisoformat(e["created_at"]),
        WORKFLOWS[0],  # the entries are LIVE[0]'s; a bulk writer sets workflow_id (else a trigger looks it up per row)
    )  # fmt: skip


def fresh_ids(batch: list[dict[str, Any]]) -> str:
    return json.dumps([{**e, "id": str(uuid.uuid4())} for e in batch], separators=(",", ":"))


@dataclass
class WritePath:
    name: str
    rounds: list[float] = field(default_factory=list)  # logs/s of each round

    @property
    def logs_per_s(self) -> float:
        return statistics.median(self.rounds) if self.rounds else float("nan")


async def run_writes(url: str, batches: int, batch_size: int, rounds: int, explain: bool) -> dict[str, Any]:
    rng = random.Random(7)
    service = {"role": "service_role"}
    conn = await asyncpg.connect(url, server_settings={"jit": "off"})
    try:
        await conn.execute("drop table if exists public.bench_logs_plain")
        await conn.execute("create table public.bench_logs_plain (like public.workflow_execution_logs including all)")
        session = Session(conn, "service_role", service)
        paths = {
            "append": WritePath("append_execution_logs (service_role, own transaction)"),
            "copy": WritePath("floor: COPY (copy_records_to_table), same table and triggers"),
            "plain": WritePath("floor: insert ... jsonb_to_recordset, trigger-less copy"),
            "plain_triggers": WritePath("insert ... jsonb_to_recordset, same table and triggers (no function)"),
            "append_big": WritePath(f"append_execution_logs, {BIG_BATCH:,}-log batches"),
        }
        first_batch_json = None
        for rnd in range(rounds):
            # Each batch is one running execution's (one SDK writer per execution), round-robin over LIVE.
            plan = [
                make_entries(LIVE[i % len(LIVE)], (rnd * batches + i) * batch_size, batch_size, rng)
                for i in range(batches)
            ]
            appended = [json.dumps(b, separators=(",", ":")) for b in plan]
            copied = [[as_record(e) for e in b] for b in plan]
            plain = [fresh_ids(b) for b in plan]
            plain_triggers = [fresh_ids(b) for b in plan]
            total = batches * batch_size
            big_batches = [
                json.dumps(make_entries(LIVE[(rnd + i) % len(LIVE)], 10**7 + (rnd * total + i * BIG_BATCH), BIG_BATCH, rng),
                           separators=(",", ":"))
                for i in range(max(1, batches * batch_size // BIG_BATCH))
            ]  # fmt: skip
            if first_batch_json is None:
                first_batch_json = appended[0]

            async def append_small() -> int:
                for body in appended:
                    result = json.loads(await session.fetchval(APPEND_SQL, body))
                    assert result["inserted"] == batch_size, result
                return total

            async def copy() -> int:
                for records in copied:
                    await conn.copy_records_to_table(
                        "workflow_execution_logs", schema_name="public", records=records,
                        columns=(*WRITE_COLUMNS, "workflow_id"),
                    )
                return total

            async def plain_insert() -> int:
                for body in plain:
                    await conn.execute(PLAIN_INSERT_SQL, body)
                return total

            async def plain_insert_triggers() -> int:
                for body in plain_triggers:
                    await conn.execute(TRIGGERED_INSERT_SQL, body)
                return total

            async def append_big() -> int:
                for body in big_batches:
                    await session.fetchval(APPEND_SQL, body)
                return len(big_batches) * BIG_BATCH

            # Rotate the order each round so no path always runs first (cold pages, checkpoints).
            runs: list[tuple[str, Callable[[], Awaitable[int]]]] = [
                ("append", append_small), ("copy", copy), ("plain", plain_insert),
                ("plain_triggers", plain_insert_triggers), ("append_big", append_big),
            ]  # fmt: skip
            shift = rnd % len(runs)
            for key, run in runs[shift:] + runs[:shift]:
                t0 = time.perf_counter()
                written = await run()
                paths[key].rounds.append(written / (time.perf_counter() - t0))
            print(f"  round {rnd + 1}: " + ", ".join(f"{k} {p.rounds[-1]:,.0f}/s" for k, p in paths.items()), flush=True)

        async def retry() -> dict[str, Any]:
            return json.loads(
                await session.fetchval(APPEND_SQL, first_batch_json)
            )

        retry_timing, retry_result = await time_calls(retry, iterations=30, warmup=2)
        assert retry_result["inserted"] == 0 and retry_result["duplicates"] == batch_size, retry_result
        explained: list[str] = []
        if explain and INGEST_TARGET.check(paths["append"].logs_per_s) is False:
            body = json.dumps(make_entries(LIVE[0], 10**8, batch_size, rng), separators=(",", ":"))
            explained = await explain_call(session, APPEND_SQL, [body])
        return {"paths": paths, "retry": retry_timing, "retry_result": retry_result, "explain": explained}
    finally:
        await conn.close()


async def cleanup_writes(url: str) -> None:
    """Leave a kept database as loaded: drop the written logs, the live executions and the plain copy."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("drop table if exists public.bench_logs_plain")
        await conn.execute("delete from public.workflow_execution_logs where execution_id = any($1::text[])", LIVE)
        await conn.execute("delete from realtime.messages")
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
async def main(args: argparse.Namespace) -> int:
    uvloop = install_uvloop()
    started = time.perf_counter()
    async with bench_database(args) as (url, where, needs_load):
        print(f"Server: {where}; database {url.rsplit('/', 1)[-1]}")
        result: dict[str, Any] = {"machine": machine_info() | {"uvloop": uvloop}}
        if needs_load:
            with Stopwatch() as mig:
                await migrate(url, supabase_shim=True)
            print(f"Migrated in {mig.seconds:.1f} s. Loading {args.logs:,} logs ...")
            result["load"] = await load(url, args.logs, args.chunk)
            result["load"]["migrate_s"] = round(mig.seconds, 2)
            ld = result["load"]
            print(
                f"Loaded {args.logs:,} logs in {ld['insert_s']:.1f} s ({ld['insert_logs_per_s']:,} logs/s), "
                f"vacuum analyze {ld['vacuum_analyze_s']:.1f} s, table + indexes {ld['table_size']}"
            )

        # The functions set jit = off and plan_cache_mode = force_custom_plan; the floors get the same, so a
        # bare filtered query is not judged by a generic plan that picks the wrong index.
        conn = await asyncpg.connect(url, server_settings={"jit": "off", "plan_cache_mode": "force_custom_plan"})
        try:
            server = {
                "version": await conn.fetchval("select version()"),
                "server_version_num": int(await conn.fetchval("show server_version_num")),
                **{
                    s: await conn.fetchval(f"show {s}")
                    for s in ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost")
                },
            }
            result["server"] = server
            big_n = int(await conn.fetchval(
                "select sum(log_count) from public.workflow_execution_log_counts where execution_id = $1", BIG)
            )
            depth = big_n * 9 // 10
            seq_at_depth = await conn.fetchval(
                "select seq from public.workflow_execution_logs where execution_id = $1 order by seq offset $2 limit 1",
                BIG,
                depth - 1,
            )
            claims = {"sub": str(OWNER), "role": "authenticated"}
            session = Session(conn, "authenticated", claims)
            cases = read_cases(big_n, depth, seq_at_depth)
            print(f"Reads as the owner (authenticated), {big_n:,}-log execution, depth {depth:,} (seq {seq_at_depth}):")
            await run_reads(session, cases, args.iterations)
            explains: dict[str, list[str]] = {}
            missed = [c for c in cases if c.target and c.target.check(c.timing.p95_ms) is False]
            if args.explain:
                for case in missed:
                    explains[case.name] = await explain_call(session, case.sql, case.args)
        finally:
            await conn.close()

        print(f"Writes: {args.rounds} rounds of {args.batches} batches of {args.batch_size} logs ...")
        writes = await run_writes(url, args.batches, args.batch_size, args.rounds, args.explain)
        if writes["explain"]:
            explains["append_execution_logs (one 500-log batch)"] = writes["explain"]
        if args.keep or args.reuse:
            await cleanup_writes(url)

        result["elapsed_s"] = round(time.perf_counter() - started, 1)
        report(result, cases, writes, big_n, explains)
        if args.keep:
            print(f"\nKept the database: --reuse {url}")
    return 0


def report(
    result: dict[str, Any],
    cases: list[ReadCase],
    writes: dict[str, Any],
    big_n: int,
    explains: dict[str, list[str]],
) -> None:
    by_name = {c.name: c for c in cases}
    rows, out_cases = [], []
    for c in cases:
        floor = by_name.get(c.floor) if c.floor else None
        r = ratio(c.timing.p50_ms, floor.timing.p50_ms if floor else None)
        ok = c.target.check(getattr(c.timing, c.target.metric)) if c.target else None
        out_cases.append(
            {
                "name": c.name,
                "group": c.group,
                **c.timing.to_dict(),
                "total_count": c.total_count,
                "returned": c.returned,
                "floor": c.floor,
                "floor_p50_ms": round(floor.timing.p50_ms, 4) if floor else None,
                "ratio_p50_to_floor": round(r, 2) if r else None,
                "target": c.target.to_dict(getattr(c.timing, c.target.metric)) if c.target else None,
            }
        )
        if c.group == "floor":
            continue
        rows.append(
            [
                c.name,
                fmt(c.timing.p50_ms),
                fmt(c.timing.p95_ms),
                fmt(c.timing.mean_ms),
                c.timing.n,
                fmt(c.total_count),
                fmt(c.returned),
                fmt(floor.timing.p50_ms) if floor else "-",
                f"{r:.1f}x" if r else "-",
                c.target.describe() if c.target else "",
                mark(ok),
            ]
        )
    result["reads"] = out_cases
    print()
    print_table(
        "Reads: PostgREST-style transaction per call (role + JWT claims + function, as text)",
        ["case", "p50 ms", "p95 ms", "mean ms", "n", "total_count", "logs", "floor p50", "x floor", "target", ""],
        rows,
        note="floor = the bare page query (same filters, no total_count/has_more; summary: count(*)) "
        "in the same role/claims transaction, measured in this run.",
    )
    floor_rows = [
        [c.name, fmt(c.timing.p50_ms), fmt(c.timing.p95_ms), c.timing.n,
         fmt(c.total_count if c.total_count is not None else c.returned)]
        for c in cases if c.group == "floor"
    ]  # fmt: skip
    print_table("Floors (bare queries under the same role, claims and RLS)", ["query", "p50 ms", "p95 ms", "n", "rows/count"], floor_rows)

    paths: dict[str, WritePath] = writes["paths"]
    copy_rate = paths["copy"].logs_per_s
    wrows, out_writes = [], {}
    for key, p in paths.items():
        target = INGEST_TARGET if key == "append" else None
        ok = target.check(p.logs_per_s) if target else None
        r = ratio(p.logs_per_s, copy_rate)
        out_writes[key] = {
            "name": p.name,
            "logs_per_s": round(p.logs_per_s),
            "rounds": [round(x) for x in p.rounds],
            "ratio_to_copy": round(r, 3) if r else None,
            "target": target.to_dict(p.logs_per_s) if target else None,
        }
        wrows.append(
            [p.name, fmt(p.logs_per_s, 0), " / ".join(f"{x:,.0f}" for x in p.rounds), f"{r:.2f}" if r else "-",
             f"logs/s >= {target.limit:,.0f}" if target else "", mark(ok)]
        )  # fmt: skip
    retry: Timing = writes["retry"]
    out_writes["retry_duplicate_batch"] = {**retry.to_dict(), "result": writes["retry_result"]}
    result["writes"] = out_writes
    print_table(
        "Writes: batches of 500 logs (unless named), one running execution each, one connection (median of rounds)",
        ["path", "logs/s", "rounds", "x COPY", "target", ""],
        wrows,
        note=f"retry of an already-written batch (500 duplicates, no-op): p50 {retry.p50_ms:.2f} ms, "
        f"p95 {retry.p95_ms:.2f} ms (n={retry.n})",
    )
    if "load" in result:
        ld = result["load"]
        print(
            f"Load: {ld['logs']:,} logs in {ld['insert_s']:.1f} s ({ld['insert_logs_per_s']:,} logs/s, "
            f"chunks of {ld['chunk']:,}), vacuum analyze {ld['vacuum_analyze_s']:.1f} s, size {ld['table_size']}."
        )
    print(f"Postgres {result['server']['version'].split(' on ')[0]}, {result['machine']['cpu_count']} CPUs; "
          f"whole run {result['elapsed_s']:.0f} s.")  # fmt: skip
    for name, notices in explains.items():
        print(f"\n--- plans inside: {name}")
        for n in notices:
            print(n)
    result["explain"] = explains
    path = write_json("sql_api", result)
    print(f"Wrote {path}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keep", action="store_true", help="keep the scratch database (prints its URL)")
    p.add_argument("--reuse", metavar="URL", help="time against a database loaded by an earlier --keep run")
    p.add_argument("--logs", type=int, default=1_000_000, help="logs to load (default 1,000,000)")
    p.add_argument("--chunk", type=int, default=100_000, help="logs per load statement (default 100,000)")
    p.add_argument("--iterations", type=int, default=200, help="timed calls per read case (fewer when slow)")
    p.add_argument("--batches", type=int, default=100, help="batches per write round (default 100)")
    p.add_argument("--batch-size", type=int, default=500, help="logs per batch (default 500)")
    p.add_argument("--rounds", type=int, default=3, help="write rounds; the median is reported (default 3)")
    p.add_argument("--explain", action="store_true", help="print the plans inside cases that miss a target")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
