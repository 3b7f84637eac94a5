"""Every log exactly once, in seq order, when writers race and clients drop and resume.

Each test compares what a stream delivered with the seqs the database holds for the execution."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random

import anyio
import asyncpg
import httpx
import pytest

import factories

APPEND = "select public.append_execution_logs($1::jsonb)::text"


@contextlib.asynccontextmanager
async def service_tx(database_url: str):
    """A connection inside an open service_role transaction (PostgREST style); the caller commits."""
    conn = await asyncpg.connect(database_url)
    tx = conn.transaction()
    await tx.start()
    await conn.execute("set local role service_role")
    await conn.execute("select set_config('request.jwt.claims', '{\"role\":\"service_role\"}', true)")
    try:
        yield conn, tx
    finally:
        if not conn.is_closed() and conn.is_in_transaction():  # what a failing test left open
            await tx.rollback()
        await conn.close()


def batch(execution_id: str, n: int, tag: str) -> str:
    return json.dumps([{"execution_id": execution_id, "event_type": "step_output", "message": f"{tag} {i}"}
                       for i in range(n)])


async def test_stream_when_second_writer_waits_for_the_first_then_commit_order_is_delivery_order(
    client, world, scratch, database_url, admin_pool, open_sse, exactly_once
):
    execution_id = await scratch.execution(logs=3)
    async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token()) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 3)
        async with service_tx(database_url) as (a, tx_a), service_tx(database_url) as (b, tx_b):
            result_a = json.loads(await a.fetchval(APPEND, batch(execution_id, 4, "writer A")))

            async def writer_b():
                result = json.loads(await b.fetchval(APPEND, batch(execution_id, 4, "writer B")))
                await tx_b.commit()
                return result

            task_b = asyncio.create_task(writer_b())
            with anyio.fail_after(10):
                # B is parked on the execution's advisory lock while A's transaction is open.
                while not await admin_pool.fetchval(
                    "select count(*) from pg_locks where locktype = 'advisory' and not granted"
                    " and database = (select oid from pg_database where datname = current_database())"
                ):
                    await asyncio.sleep(0.02)
            await asyncio.sleep(1.0)  # A is slow to commit
            assert not task_b.done()
            assert len(reader.logs) == 3  # nothing uncommitted is streamed
            await tx_a.commit()
            with anyio.fail_after(10):
                result_b = await task_b
        # A committed first, so A's seqs are all below B's: seq order is commit order.
        assert result_a["last_seq"] < result_b["last_seq"] - 3
        await reader.wait_seq(result_b["last_seq"])
        messages = [e["data"]["message"] for e in reader.logs[3:]]
        assert messages == [f"writer A {i}" for i in range(4)] + [f"writer B {i}" for i in range(4)]
        await scratch.finish(execution_id)
        await reader.wait_ended()
    exactly_once(reader.seqs, await scratch.seqs(execution_id))


async def test_stream_when_writer_commits_late_then_no_log_is_skipped(
    client, world, scratch, database_url, open_sse, exactly_once
):
    """Writer A appends and sleeps 1 s before committing while writer B appends: both are delivered."""
    execution_id = await scratch.execution(logs=1)
    async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token()) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 1)

        async def writer(tag: str, hold: float, delay: float) -> dict:
            await asyncio.sleep(delay)
            async with service_tx(database_url) as (conn, tx):
                result = json.loads(await conn.fetchval(APPEND, batch(execution_id, 3, tag)))
                await asyncio.sleep(hold)
                await tx.commit()
                return result

        with anyio.fail_after(15):
            results = await asyncio.gather(writer("slow", 1.0, 0), writer("fast", 0, 0.2))
        await reader.wait_seq(max(r["last_seq"] for r in results))
        await scratch.finish(execution_id)
        await reader.wait_ended()
    exactly_once(reader.seqs, await scratch.seqs(execution_id))
    assert len(reader.seqs) == 7


async def test_stream_when_many_writers_race_then_every_log_arrives_once_in_order(
    client, world, scratch, database_url, open_sse, exactly_once
):
    execution_id = await scratch.execution()
    rng = random.Random(7)

    async def writer(w: int) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for i in range(15):
                async with conn.transaction():
                    await conn.execute("set local role service_role")
                    await conn.fetchval(APPEND, batch(execution_id, rng.randint(1, 6), f"w{w}b{i}"))
                    await asyncio.sleep(rng.random() * 0.02)
        finally:
            await conn.close()

    streams = [f"/v2/executions/{execution_id}/logs/stream", f"/api/v1/app/executions/{execution_id}/logs/stream"]
    async with open_sse(client, streams[0], token=world.token()) as one, \
            open_sse(client, streams[1], token=world.token("service")) as two:
        with anyio.fail_after(30):
            await asyncio.gather(*(writer(w) for w in range(6)))
        await scratch.finish(execution_id)
        await one.wait_ended(15)
        await two.wait_ended(15)
    expected = await scratch.seqs(execution_id)
    exactly_once(one.seqs, expected)
    exactly_once(two.seqs, expected)
    assert one.complete["data"]["total_logs"] == len(expected)


@pytest.mark.parametrize("how", ["header", "query"])
async def test_client_dropping_mid_stream_resumes_with_last_event_id_without_gap(
    client, world, scratch, open_sse, exactly_once, how
):
    execution_id = await scratch.execution(logs=10)
    stop = asyncio.Event()

    async def keep_writing() -> None:
        while not stop.is_set():
            await scratch.append(execution_id, 3)
            await asyncio.sleep(0.03)

    writer = asyncio.create_task(keep_writing())
    received: list[int] = []
    try:
        last: int | None = None
        for _attempt in range(4):
            kwargs = {}
            if last is not None:
                kwargs = {"headers": {"Last-Event-ID": str(last)}} if how == "header" else {"params": {"last_event_id": str(last)}}
            async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token(), **kwargs) as r:
                target = len(r.logs) + 15
                await r.wait_until(lambda x: len(x.logs) >= target)
                # leaving the block drops the connection mid-stream
            received += r.seqs
            last = r.last_seq
    finally:
        stop.set()
        with anyio.fail_after(10):
            await writer
    await scratch.finish(execution_id)
    async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token(),
                        headers={"Last-Event-ID": str(last)}) as r:
        await r.wait_ended(15)
    received += r.seqs
    assert r.complete["data"]["status"] == "SUCCESS"
    exactly_once(received, await scratch.seqs(execution_id))


async def test_many_streams_resuming_at_random_points_each_see_the_rest_exactly(
    client, world, scratch, open_sse, exactly_once
):
    execution_id = await scratch.execution(logs=300)
    seqs = await scratch.seqs(execution_id)
    cuts = [0, seqs[0], seqs[57], seqs[150], seqs[-2], seqs[-1]]
    async with contextlib.AsyncExitStack() as stack:
        readers = [
            await stack.enter_async_context(
                open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token(),
                         headers={"Last-Event-ID": str(cut)})
            )
            for cut in cuts
        ]
        appended = await scratch.append(execution_id, 20)
        for r in readers:
            await r.wait_seq(appended["last_seq"])
        await scratch.finish(execution_id)
        for r in readers:
            await r.wait_ended()
    everything = await scratch.seqs(execution_id)
    for cut, r in zip(cuts, readers):
        exactly_once(r.seqs, [s for s in everything if s > cut])
        assert r.complete["data"]["message"] == "Execution completed"


async def test_logs_of_other_executions_never_leak_into_a_stream(client, world, scratch, open_sse):
    mine = await scratch.execution(logs=2)
    theirs = await scratch.execution(logs=2)
    async with open_sse(client, f"/v2/executions/{mine}/logs/stream", token=world.token()) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 2)
        async with factories_conn(scratch) as conn:
            await factories.append_logs(conn, [factories.log_entry(theirs, "not yours")] * 1
                                        + [factories.log_entry(mine, "yours")])
        await reader.wait_until(lambda r: len(r.logs) == 3)
        await scratch.append(theirs, 5)
        await scratch.finish(mine)
        await reader.wait_ended()
    assert {e["session_id"] for e in reader.events} == {mine}
    assert [e["data"]["message"] for e in reader.logs][-1] == "yours"
    assert reader.seqs == await scratch.seqs(mine)


@contextlib.asynccontextmanager
async def factories_conn(scratch):
    async with scratch.pool.acquire() as conn:
        yield conn


async def test_streams_that_fall_behind_the_shared_buffer_catch_up_without_gap(
    start_bridge, database_url, world, scratch, open_sse, exactly_once
):
    """A buffer of 100 events and a live burst of 3,000: streams behind the buffer read the rest themselves."""
    execution_id = await scratch.execution(logs=5)
    async with start_bridge(database_url, WORKFLOW_LOGS_STREAM_BUFFER=100, WORKFLOW_LOGS_STREAM_BATCH=200) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=60)) as c:
            path = f"/v2/executions/{execution_id}/logs/stream"
            async with open_sse(c, path, token=world.token()) as one, open_sse(c, path, token=world.token()) as two:
                await one.wait_until(lambda r: len(r.logs) == 5)
                await two.wait_until(lambda r: len(r.logs) == 5)
                for _ in range(3):
                    await scratch.insert_raw(execution_id, 1000)
                last = (await scratch.seqs(execution_id))[-1]
                await one.wait_seq(last, 30)
                await two.wait_seq(last, 30)
                await scratch.finish(execution_id)
                await one.wait_ended()
                await two.wait_ended()
    expected = await scratch.seqs(execution_id)
    exactly_once(one.seqs, expected)
    exactly_once(two.seqs, expected)
