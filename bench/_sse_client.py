"""A lean SSE load client, run as its own process by bench_bridge.py.

Opens N streams over raw sockets (HTTP/1.1, no client library in the way), parses `id:`/`data:` lines,
and for every LOG event records (data.data.t, receive time) (the writer stamps `t` just before its append) and the
seq. Prints one JSON document on stdout when done: {"connected", "failed", "events", "samples": [[t, received],
...sampled], "seqs": {"exec": [[...seqs of each stream]]}, "duplicates", "out_of_order"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import sys
import time


_SEQ = re.compile(rb'"seq":(\d+)')
_T = re.compile(rb'"t":([0-9.e+-]+)')
_REALTIME = b'"is_realtime":true'


async def one_stream(host: str, port: int, path: str, token: str, state: dict, exec_id: str, stop: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    except OSError:
        state["failed"] += 1
        return
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {token}\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        state["failed"] += 1
        state.setdefault("statuses", []).append(status.decode(errors="replace").strip())
        writer.close()
        return
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass
    state["connected"] += 1
    seen = state["seqs"].setdefault(f"{exec_id}#{id(writer)}", [])
    last = 0
    buf = b""
    stop_task = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            read = asyncio.ensure_future(reader.read(1 << 16))
            done, _ = await asyncio.wait({read, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            if read not in done:
                read.cancel()
                break
            chunk = read.result()
            if not chunk:
                break
            now = time.time()
            buf += chunk
            cut = buf.rfind(b"\n\n")
            if cut < 0:
                continue
            complete, buf = buf[:cut], buf[cut + 2 :]
            # Only what the measurement needs, without a JSON parse per event (the client shares the
            # machine with the bridge and Postgres): the seq, the writer's stamp, is_realtime.
            finished = False
            for line in complete.split(b"\n"):
                if not line.startswith(b"data: "):
                    continue
                if not line.startswith(b'data: {"event_type":"LOG"'):
                    finished = True
                    continue
                state["last_event"] = now
                seq = int(_SEQ.search(line).group(1))
                if seq <= last:
                    state["duplicates" if seq in seen else "out_of_order"] += 1
                last = max(last, seq)
                seen.append(seq)
                state["events"] += 1
                t = _T.search(line)
                if t is not None and _REALTIME in line:
                    sample = (float(t.group(1)), now)
                    samples = state["samples"]
                    if len(samples) < 200_000:
                        samples.append(sample)
                    elif random.random() < 0.05:
                        samples[random.randrange(len(samples))] = sample
            if finished:
                state["completed"] += 1
                break
    finally:
        stop_task.cancel()
        writer.close()


async def main(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    state = {"connected": 0, "failed": 0, "events": 0, "duplicates": 0, "out_of_order": 0, "completed": 0,
             "samples": [], "seqs": {}}
    stop = asyncio.Event()
    executions = args.executions.split(",")
    tasks = []
    for i in range(args.streams):
        exec_id = executions[i % len(executions)]
        path = f"/api/v1/app/executions/{exec_id}/logs/stream"
        tasks.append(asyncio.create_task(one_stream(args.host, args.port, path, args.token, state, exec_id, stop)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)  # ramp up without a SYN flood
    deadline = time.monotonic() + args.connect_timeout
    while state["connected"] + state["failed"] < args.streams and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    print(json.dumps({"phase": "connected", "connected": state["connected"], "failed": state["failed"]}), flush=True)
    # Hold until told to stop (a line on stdin) or the duration passes.
    loop = asyncio.get_running_loop()
    stdin_line = loop.run_in_executor(None, sys.stdin.readline)
    await asyncio.wait({asyncio.ensure_future(stdin_line)}, timeout=args.duration)
    # Drain: keep reading until nothing has arrived for a second (or 30 s), so a backlog is measured
    # as latency, not miscounted as loss.
    drain_until = time.monotonic() + 30
    while time.monotonic() < drain_until and time.time() - state.get("last_event", 0) < 1.0:
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    seqs = {}
    for key, values in state["seqs"].items():
        seqs.setdefault(key.split("#")[0], []).append(values)
    state["seqs"] = seqs
    print(json.dumps(state), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--executions", required=True, help="comma-separated execution ids")
    p.add_argument("--streams", type=int, required=True)
    p.add_argument("--duration", type=float, default=600)
    p.add_argument("--connect-timeout", type=float, default=60)
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args))
