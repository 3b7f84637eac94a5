"""Benchmark of the SDK's writer: sustained logs/s through PostgresSink and HttpSink next to a raw COPY of
the same rows in the same run, and the cost of one log call in the worker's thread.

    .venv/bin/python bench/bench_sdk.py                  # ~1.5 min on 2 cores
    .venv/bin/python bench/bench_sdk.py --logs 50000     # fewer logs per path

1. Raw COPY (`copy_records_to_table`, 500-row batches) of rows shaped like the SDK's, into the same table
   with its triggers: the floor.
2. `WorkflowLogger(PostgresSink(...))`: a producer logs N entries as fast as it can over 50 running
   executions; the figure is N / (first call -> `flush()` returned), so batching, redaction, the size cap,
   append_execution_logs' checks and the commit are all in it.
3. `WorkflowLogger(HttpSink(...))` through a bridge subprocess (service role key), the same way.
4. One log call: `handle.info(...)` in a tight loop while the flusher is parked (median of 5 rounds of
   10,000 calls): what a log costs the workflow's own code.

Server: BENCH_DATABASE_URL, else the server on 127.0.0.1:5432, else an embedded Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, print_table, write_json  # noqa: E402
from bench_bridge import bridge, free_port  # noqa: E402
from bench_sql_api import LIVE, WORKFLOWS, load  # noqa: E402
from workflow_logs import HttpSink, PostgresSink, WorkflowLogger, uuid7  # noqa: E402
from workflow_logs._migrate import migrate  # noqa: E402
from workflow_logs._server import resolve_admin_url, scratch_database  # noqa: E402
from workflow_logs_bridge.auth import mint_token  # noqa: E402

MESSAGE = "tool call search_documents returned 200 in 41 ms with 8 results for the user's question"


def entry_fields(i: int) -> dict[str, Any]:
    return {"node_id": f"node-{i % 7}", "node_name": f"Node {i % 7}", "data": {"item": i, "attempt": 1}}


async def raw_copy(url: str, n: int) -> float:
    conn = await asyncpg.connect(url)
    # workflow_id as a bulk writer sets it (the logs carry it; a row without it costs a trigger's lookup)
    columns = ("id", "execution_id", "log_category", "event_type", "level", "message", "data", "node_id",
               "node_name", "created_at", "workflow_id")
    try:
        started = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        for lo in range(0, n, 500):
            rows = [
                (uuid7(), LIVE[i % len(LIVE)], "technical", "step_output", "INFO", MESSAGE,
                 f'{{"item": {i}, "attempt": 1}}', f"node-{i % 7}", f"Node {i % 7}", now, WORKFLOWS[0])
                for i in range(lo, min(lo + 500, n))
            ]
            await conn.copy_records_to_table("workflow_execution_logs", schema_name="public", columns=columns,
                                             records=rows)
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


async def through_logger(sink: Any, n: int) -> tuple[float, dict[str, int]]:
    async with WorkflowLogger(sink, batch_size=500, flush_interval=0.05, max_buffer=n + 1) as logger:
        handles = [logger.execution(e) for e in LIVE]
        started = time.perf_counter()
        for i in range(n):
            handles[i % len(handles)].info(MESSAGE, **entry_fields(i))
            if i % 5000 == 4999:
                await asyncio.sleep(0)  # a real worker yields now and then; let the flusher run
        await logger.flush()
        rate = n / (time.perf_counter() - started)
        return rate, logger.stats.as_dict()


async def call_cost(url: str) -> float:
    """Microseconds per `handle.info(...)`: the flusher cannot run during the tight loop."""
    samples = []
    async with WorkflowLogger(PostgresSink(url), batch_size=500, max_buffer=200_000) as logger:
        handle = logger.execution(LIVE[0])
        for _ in range(5):
            started = time.perf_counter()
            for i in range(10_000):
                handle.info(MESSAGE, **entry_fields(i))
            samples.append((time.perf_counter() - started) / 10_000 * 1e6)
            await logger.flush()
    return statistics.median(samples)


async def main(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    report: dict[str, Any] = {"machine": machine_info(), "logs_per_path": args.logs}
    with tempfile.TemporaryDirectory(prefix="wl_bench_pg_") as tmp:
        admin, where = await resolve_admin_url(os.environ.get("BENCH_DATABASE_URL"), Path(tmp) / "data")
        async with scratch_database(admin, prefix="wl_bench_sdk") as url:
            await migrate(url, supabase_shim=True)
            if args.broadcast != "inline":
                conn = await asyncpg.connect(url)
                try:  # new sessions of this database pick it up (the writers connect after this)
                    db = await conn.fetchval("select current_database()")
                    await conn.execute(f"alter database \"{db}\" set workflow_logs.broadcast = '{args.broadcast}'")
                finally:
                    await conn.close()
            report["broadcast"] = args.broadcast
            print(f"Loading {args.preload:,} logs ({where}) ...")
            report["load"] = await load(url, args.preload, 100_000)
            secret = secrets.token_urlsafe(32)
            port = free_port()
            rounds: dict[str, list[float]] = {"copy": [], "postgres_sink": [], "http_sink": []}
            with bridge(url, secret, port):
                service_key = mint_token(secret, sub=None, role="service_role", ttl_seconds=3600)
                for r in range(args.rounds):
                    print(f"round {r + 1}: COPY, PostgresSink, HttpSink ({args.logs:,} logs each) ...")
                    rounds["copy"].append(await raw_copy(url, args.logs))
                    rate, pg_stats = await through_logger(PostgresSink(url), args.logs)
                    rounds["postgres_sink"].append(rate)
                    rate, http_stats = await through_logger(HttpSink(f"http://127.0.0.1:{port}", service_key), args.logs)
                    rounds["http_sink"].append(rate)
            report["rounds"] = {k: [round(v) for v in vs] for k, vs in rounds.items()}
            report["median_logs_per_s"] = {k: round(statistics.median(vs)) for k, vs in rounds.items()}
            report["stats"] = {"postgres_sink": pg_stats, "http_sink": http_stats}
            report["call_cost_us"] = round(await call_cost(url), 2)
    med = report["median_logs_per_s"]
    floor = med["copy"]
    report["ratio_to_copy"] = {k: round(v / floor, 2) for k, v in med.items()}
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    print_table(
        f"SDK writer throughput ({args.logs:,} logs per path, 50 running executions, median of {args.rounds} rounds,"
        f" broadcast={args.broadcast})",
        ["path", "logs/s", "rounds", "x COPY", "target"],
        [
            ["raw COPY, 500-row batches (floor)", f"{med['copy']:,}", " / ".join(f"{v:,}" for v in report["rounds"]["copy"]), "1.00", ""],
            ["WorkflowLogger + PostgresSink", f"{med['postgres_sink']:,}",
             " / ".join(f"{v:,}" for v in report["rounds"]["postgres_sink"]), f"{report['ratio_to_copy']['postgres_sink']:.2f}",
             ">= 0.70x COPY, >= 50,000/s"],
            ["WorkflowLogger + HttpSink (bridge)", f"{med['http_sink']:,}",
             " / ".join(f"{v:,}" for v in report["rounds"]["http_sink"]), f"{report['ratio_to_copy']['http_sink']:.2f}", ""],
        ],
    )
    print(f"One log call in the worker's thread: {report['call_cost_us']} µs (median of 5 x 10,000 calls)")
    print(f"Writer stats (last round): {report['stats']}")
    path = write_json("sdk", report)
    print(f"Wrote {path}")
    return 0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--logs", type=int, default=100_000, help="logs written per path per round")
    p.add_argument("--preload", type=int, default=300_000, help="logs in the table before writing")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--broadcast", choices=["inline", "hint", "off"], default="inline",
                   help="workflow_logs.broadcast for the run (Realtime Broadcast of new logs)")
    return p.parse_args()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parse_args())))
