"""Benchmark of the bridge: REST pages, live delivery over SSE, memory per stream, and the design's
polling loop side by side in the same run.

    .venv/bin/python bench/bench_bridge.py            # full run (~3 min on 2 cores)
    .venv/bin/python bench/bench_bridge.py --reuse URL   # against a database kept by bench_sql_api --keep

1. REST: a 100-log cursor page at depth 90,000 of the 100k-log execution (1M logs loaded), with wrk at 1 and
   32 connections (p50 / p95 / p99 / req/s). wrk runs on the same 2 cores as the bridge and Postgres.
2. Live: 1,000 SSE streams over 100 running executions while a writer appends 5,000 logs/s through
   append_execution_logs; latency = client receive time - the writer's stamp taken just before the append
   commits. Every stream's seqs are checked against the database: zero lost, zero duplicated.
3. Memory: bridge RSS idle, with 1,000 and with 5,000 open streams.
4. The reference design's loop for comparison, with the same writer: each viewer reads the first 100 logs
   (offset 0) and the status every second (as documented; the code sleeps 0.1 s), as the caller, through
   the same SQL API. Reports its delivery latency, database queries per second per viewer, and how many
   written logs it never delivers.

Server: BENCH_DATABASE_URL, else the server on 127.0.0.1:5432, else an embedded Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, percentile, print_table, write_json  # noqa: E402
from bench_sql_api import BIG, OWNER, WORKFLOWS, load  # noqa: E402
from workflow_logs._migrate import migrate  # noqa: E402
from workflow_logs._server import resolve_admin_url, scratch_database  # noqa: E402
from workflow_logs_bridge.auth import mint_token  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STREAM_EXECUTIONS = [f"bench-stream-{i:03d}" for i in range(100)]
WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def bridge(url: str, secret: str, port: int, **env: str):
    environment = {
        **os.environ,
        "SUPABASE_JWT_SECRET": secret,
        "WORKFLOW_LOGS_ENV": "test",
        "WORKFLOW_LOGS_MAX_STREAMS_PER_USER": "100000",
        "WORKFLOW_LOGS_POOL_MAX": "8",
        **env,
    }
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/workflow-logs"), "serve", "--database-url", url, "--port", str(port), "--log-level", "warning"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("bridge did not start")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_mib(proc: subprocess.Popen) -> float:
    return psutil.Process(proc.pid).memory_info().rss / 2**20


# ---------------------------------------------------------------------------------------------
# 1. REST
# ---------------------------------------------------------------------------------------------
def run_wrk(url: str, token: str, connections: int, seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA)
        script = f.name
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s", script,
         "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(script)
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    _, requests, duration_us, p50, p95, p99, errors = line.split()
    return {
        "connections": connections,
        "requests": int(requests),
        "req_per_s": round(int(requests) / (int(duration_us) / 1e6)),
        "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
        "errors": int(errors),
        "tool": "wrk",
    }


async def run_python_load(url: str, token: str, connections: int, seconds: float) -> dict[str, Any]:
    """Fallback when wrk is not installed (client overhead is higher: read the numbers accordingly)."""
    samples: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < stop:
            t = time.perf_counter()
            r = await client.get(url, headers={"Authorization": f"Bearer {token}"})
            samples.append(time.perf_counter() - t)
            errors += r.status_code != 200

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    return {
        "connections": connections, "requests": len(samples), "req_per_s": round(len(samples) / seconds),
        "p50_ms": round(percentile(samples, 50) * 1000, 3), "p95_ms": round(percentile(samples, 95) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3), "errors": errors, "tool": "httpx",
    }


# ---------------------------------------------------------------------------------------------
# 2-4. Live
# ---------------------------------------------------------------------------------------------
class Writer:
    """Appends `rate` logs/s through append_execution_logs as service_role, stamping data.t."""

    def __init__(self, url: str, executions: list[str], rate: int, per_statement: int = 100) -> None:
        self.url, self.executions, self.rate, self.per_statement = url, executions, rate, per_statement
        self.written = 0
        self.statements = 0
        self.committed_at: dict[float, float] = {}  # stamp t -> wall time the append returned

    async def run(self, seconds: float) -> None:
        conn = await asyncpg.connect(self.url)
        await conn.execute("set role service_role")
        interval = self.per_statement / self.rate
        per_exec = 5
        rotation = 0
        start = time.monotonic()
        try:
            while time.monotonic() - start < seconds:
                tick = time.monotonic()
                entries = []
                for k in range(self.per_statement // per_exec):
                    exec_id = self.executions[(rotation + k) % len(self.executions)]
                    for j in range(per_exec):
                        entries.append({
                            "id": str(uuid.uuid4()), "execution_id": exec_id, "event_type": "step_output",
                            "message": f"tool call {self.written + len(entries)} returned 200 in 41 ms",
                            "log_category": "technical", "node_id": f"node-{j}", "data": {},
                        })
                rotation += self.per_statement // per_exec
                now = time.time()
                for e in entries:
                    e["data"]["t"] = now
                await conn.fetchval("select public.append_execution_logs($1::jsonb)::text", json.dumps(entries))
                self.committed_at[now] = time.time()
                self.written += len(entries)
                self.statements += 1
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - tick)))
        finally:
            await conn.close()


async def start_client(port: int, token: str, executions: list[str], streams: int) -> tuple[asyncio.subprocess.Process, dict]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).parent / "_sse_client.py"), "--port", str(port), "--token", token,
        "--executions", ",".join(executions), "--streams", str(streams),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 30,
    )
    first = json.loads(await proc.stdout.readline())
    return proc, first


async def stop_client(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    proc.stdin.write(b"stop\n")
    await proc.stdin.drain()
    line = await proc.stdout.readline()
    await proc.wait()
    return json.loads(line)


async def check_delivery(url: str, result: dict[str, Any]) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "select execution_id, array_agg(seq order by seq) as seqs from public.workflow_execution_logs"
            " where execution_id = any($1::text[]) group by 1",
            list(result["seqs"]),
        )
    finally:
        await conn.close()
    truth = {r["execution_id"]: r["seqs"] for r in rows}
    lost = duplicated = 0
    for exec_id, streams in result["seqs"].items():
        expected = truth.get(exec_id, [])
        for got in streams:
            lost += len(set(expected) - set(got))
            duplicated += len(got) - len(set(got))
    return {"lost": lost, "duplicated": duplicated + result["duplicates"], "out_of_order": result["out_of_order"]}


async def spec_loop(url: str, executions: list[str], seconds: float, sleep_s: float) -> dict[str, Any]:
    """The reference design's stream loop, one viewer per execution, against the same SQL API."""
    pool = await asyncpg.create_pool(url, min_size=4, max_size=8)
    claims = json.dumps({"sub": str(OWNER), "role": "authenticated"})
    queries = 0
    latencies: list[float] = []
    delivered = 0
    stop = time.monotonic() + seconds

    async def call(sql: str, *args: Any) -> Any:
        nonlocal queries
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)", claims)
            queries += 1
            return await conn.fetchval(sql, *args)

    async def viewer(exec_id: str) -> None:
        nonlocal delivered
        sent: set[str] = set()
        while time.monotonic() < stop:
            page = json.loads(await call('select public.get_execution_logs($1, "limit" => 100, "offset" => 0)::text', exec_id))
            now = time.time()
            for log in page["logs"]:
                if log["id"] not in sent:
                    sent.add(log["id"])
                    delivered += 1
                    t = (log.get("data") or {}).get("t")
                    if t is not None:
                        latencies.append((now - t) * 1000)
            await call("select public.get_execution_state($1)::text", exec_id)
            await asyncio.sleep(sleep_s)

    started = time.monotonic()
    await asyncio.gather(*(viewer(e) for e in executions))
    elapsed = time.monotonic() - started
    await pool.close()
    return {
        "viewers": len(executions), "sleep_s": sleep_s, "queries_per_s_per_viewer": round(queries / elapsed / len(executions), 2),
        "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
        "delivered": delivered,
    }


async def reset_stream_executions(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "delete from public.workflow_execution_logs where execution_id = any($1::text[])", STREAM_EXECUTIONS
        )
        await conn.execute(
            "insert into public.workflow_executions (execution_id, workflow_id, status)"
            " select e, $2, 'RUNNING' from unnest($1::text[]) e"
            " on conflict (execution_id) do update set status = 'RUNNING', end_time = null",
            STREAM_EXECUTIONS, WORKFLOWS[0],
        )
    finally:
        await conn.close()


async def live_phase(url: str, port: int, token: str, proc: subprocess.Popen, args: argparse.Namespace) -> dict[str, Any]:
    await reset_stream_executions(url)
    client, connected = await start_client(port, token, STREAM_EXECUTIONS, args.streams)
    rss_streams = rss_mib(proc)
    writer = Writer(url, STREAM_EXECUTIONS, args.rate)
    started = time.monotonic()
    await writer.run(args.seconds)
    achieved = writer.written / (time.monotonic() - started)
    await asyncio.sleep(2)  # let the last batch arrive
    result = await stop_client(client)
    metrics_text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    check = await check_delivery(url, result)
    # commit -> client: from the moment the append returned (its commit) to the client's receipt.
    lat = [(received - writer.committed_at.get(t, t)) * 1000 for t, received in result["samples"]]
    stamp = [(received - t) * 1000 for t, received in result["samples"]]
    return {
        "stamp_to_client_p50_ms": round(percentile(stamp, 50), 2),
        "streams": args.streams, "connected": connected["connected"], "failed": connected["failed"],
        "executions": len(STREAM_EXECUTIONS), "target_rate": args.rate, "achieved_rate": round(achieved),
        "written": writer.written, "events": result["events"],
        "p50_ms": round(percentile(lat, 50), 2), "p99_ms": round(percentile(lat, 99), 2),
        "max_ms": round(max(lat), 1) if lat else None, "rss_mib_with_streams": round(rss_streams, 1),
        # Inside the bridge: NOTIFY received -> logs read, and -> first stream write (histogram medians).
        "bridge_notify_to_fetch_p50_ms": histogram_median_ms(metrics_text, "workflow_logs_notify_to_fetch_seconds"),
        "bridge_notify_to_send_p50_ms": histogram_median_ms(metrics_text, "workflow_logs_notify_to_send_seconds"),
        **check,
    }


def histogram_median_ms(text: str, name: str) -> float | None:
    """The bucket bound holding the median of a Prometheus histogram (an upper bound of it)."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= total / 2:
            return round(bound * 1000, 2)
    return None


async def spec_phase(url: str, args: argparse.Namespace) -> dict[str, Any]:
    await reset_stream_executions(url)
    writer = Writer(url, STREAM_EXECUTIONS, args.rate)
    loop_task = asyncio.create_task(spec_loop(url, STREAM_EXECUTIONS, args.seconds + 2, 1.0))
    await writer.run(args.seconds)
    result = await loop_task
    result["written"] = writer.written
    result["never_delivered"] = writer.written - result["delivered"]
    return result


async def memory_phase(url: str, port: int, token: str, proc: subprocess.Popen, streams: int) -> float:
    await reset_stream_executions(url)
    client, connected = await start_client(port, token, STREAM_EXECUTIONS, streams)
    await asyncio.sleep(2)
    rss = rss_mib(proc)
    await stop_client(client)
    if connected["failed"]:
        print(f"  note: {connected['failed']} of {streams} streams failed to connect")
    return round(rss, 1)


async def main(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    report: dict[str, Any] = {"machine": machine_info()}
    async with contextlib.AsyncExitStack() as stack:
        if args.reuse:
            url = args.reuse
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="wl_bench_pg_"))
            admin, where = await resolve_admin_url(os.environ.get("BENCH_DATABASE_URL"), Path(tmp) / "data")
            url = await stack.enter_async_context(scratch_database(admin, prefix="wl_bench_bridge"))
            await migrate(url, supabase_shim=True)
            print(f"Loading {args.logs:,} logs ({where}) ...")
            report["load"] = await load(url, args.logs, 100_000)
        conn = await asyncpg.connect(url)
        depth_seq = await conn.fetchval(
            "select seq from public.workflow_execution_logs where execution_id = $1 order by seq offset $2 limit 1",
            BIG, min(90_000, args.logs // 10) - 1,
        )
        await conn.close()
        secret = secrets.token_urlsafe(32)
        token = mint_token(secret, sub=str(OWNER), ttl_seconds=3 * 3600)
        port = free_port()
        with bridge(url, secret, port) as proc:
            rss_idle = rss_mib(proc)
            page_url = f"http://127.0.0.1:{port}/api/v1/app/executions/{BIG}/logs?limit=100&after={depth_seq}"
            rest = []
            for c in (1, 32):
                print(f"REST: {c} connection(s), {args.rest_seconds}s ...")
                if shutil.which("wrk"):
                    rest.append(run_wrk(page_url, token, c, args.rest_seconds))
                else:
                    rest.append(await run_python_load(page_url, token, c, args.rest_seconds))
            report["rest"] = rest
            print(f"Live: {args.streams} streams, {args.rate} logs/s for {args.seconds}s ...")
            report["live"] = await live_phase(url, port, token, proc, args)
            print("Memory: 5,000 streams ...")
            report["memory"] = {"rss_mib_idle": round(rss_idle, 1),
                                "rss_mib_1000_streams": report["live"]["rss_mib_with_streams"],
                                "rss_mib_5000_streams": await memory_phase(url, port, token, proc, 5000)}
        print("The reference design's polling loop, same writer ...")
        report["spec_loop"] = await spec_phase(url, args)
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    print_report(report)
    path = write_json("bridge", report)
    print(f"Wrote {path}")
    return 0


def print_report(r: dict[str, Any]) -> None:
    rows = [
        [f"REST page @90k, c={x['connections']} ({x['tool']})", f"{x['p50_ms']:.2f}", f"{x['p95_ms']:.2f}",
         f"{x['p99_ms']:.2f}", f"{x['req_per_s']:,}", str(x["errors"])]
        for x in r["rest"]
    ]
    print_table("REST (cursor page of 100 at depth 90,000 of a 100k-log execution; 1M logs)",
                ["case", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors"], rows)
    live, spec, mem = r["live"], r["spec_loop"], r["memory"]
    print_table(
        "Live delivery (commit -> client)",
        ["path", "viewers", "writes/s", "p50 ms", "p99 ms", "DB queries/s/viewer", "lost", "duplicated"],
        [
            ["bridge: LISTEN + shared tail", str(live["connected"]), f"{live['achieved_rate']:,}", f"{live['p50_ms']:.1f}",
             f"{live['p99_ms']:.1f}", "~0 (per execution)", str(live["lost"]), str(live["duplicated"])],
            ["reference loop (1 s poll, first 100)", str(spec["viewers"]), f"{r['live']['achieved_rate']:,}",
             f"{spec['p50_ms']:.1f}", f"{spec['p99_ms']:.1f}", str(spec["queries_per_s_per_viewer"]),
             f"{spec['never_delivered']:,} of {spec['written']:,}", "0"],
        ],
    )
    print_table("Bridge memory (RSS)", ["state", "MiB"], [
        ["idle", str(mem["rss_mib_idle"])], ["1,000 streams", str(mem["rss_mib_1000_streams"])],
        ["5,000 streams", str(mem["rss_mib_5000_streams"])],
    ])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reuse", metavar="URL", help="a database loaded by bench_sql_api.py --keep")
    p.add_argument("--logs", type=int, default=1_000_000)
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--rate", type=int, default=5000, help="logs/s written during the live phases")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--rest-seconds", type=int, default=10)
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
