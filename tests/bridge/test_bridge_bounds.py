"""Bounds of a stream: per-user limit, maximum duration, pings, graceful shutdown, poll-only mode; and fan-out
that shares the database work between the streams of one execution."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import anyio
import httpx
import pytest

STREAM = "/v2/executions/{id}/logs/stream"


@pytest.fixture
async def bounded_client(bounded_bridge):
    async with httpx.AsyncClient(base_url=bounded_bridge.url, timeout=httpx.Timeout(10, read=60)) as c:
        yield c


async def test_per_user_stream_limit_is_429_past_it_and_the_slot_is_released_after_a_stream_ends(
    bounded_client, world, scratch, open_sse
):
    execution_id = await scratch.execution(logs=2)
    path = STREAM.format(id=execution_id)
    async with open_sse(bounded_client, path, token=world.token()) as one:
        async with open_sse(bounded_client, path, token=world.token()) as two:
            assert one.status_code == 200 and two.status_code == 200
            with anyio.fail_after(5):
                r = await bounded_client.get(path, headers=world.auth())
            assert r.status_code == 429, r.text[:300]
            assert "limit 2" in r.json()["detail"]
            # Other identities have their own slots.
            async with open_sse(bounded_client, path, token=world.token("service")) as service:
                assert service.status_code == 200
        # `two` is closed: a third stream of the owner gets its slot (once the server saw the disconnect).
        with anyio.fail_after(5):
            while True:
                async with open_sse(bounded_client, path, token=world.token()) as three:
                    if three.status_code == 200:
                        await three.wait_until(lambda r: len(r.logs) == 2)
                        break
                    assert three.status_code == 429
                await asyncio.sleep(0.1)


async def test_streams_that_end_by_themselves_release_their_slots(bounded_client, world, read_sse):
    for _ in range(5):  # more than the limit, one after the other
        reader = await read_sse(bounded_client, STREAM.format(id=world.finished), token=world.token())
        assert reader.status_code == 200 and reader.complete is not None
    # Streams refused with 404 give their slot back too.
    for _ in range(3):
        r = await bounded_client.get(STREAM.format(id="no-such-execution"), headers=world.auth())
        assert r.status_code == 404
    reader = await read_sse(bounded_client, STREAM.format(id=world.finished), token=world.token())
    assert reader.status_code == 200


async def test_active_streams_gauge_follows_open_streams(bounded_bridge, bounded_client, world, scratch, open_sse, metric):
    async def active() -> float:
        return metric((await bounded_client.get("/metrics")).text, "workflow_logs_active_streams")

    execution_id = await scratch.execution(logs=1)
    before = await active()
    async with open_sse(bounded_client, STREAM.format(id=execution_id), token=world.token()) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 1)
        assert await active() == before + 1
    with anyio.fail_after(5):
        while await active() != before:
            await asyncio.sleep(0.05)


async def test_stream_ends_cleanly_after_stream_max_seconds_and_resume_has_no_gap(
    bounded_client, world, scratch, open_sse, exactly_once
):
    execution_id = await scratch.execution(logs=5)
    stop = asyncio.Event()

    async def keep_writing() -> None:
        while not stop.is_set():
            await scratch.append(execution_id, 2)
            await asyncio.sleep(0.1)

    writer = asyncio.create_task(keep_writing())
    try:
        started = time.monotonic()
        async with open_sse(bounded_client, STREAM.format(id=execution_id), token=world.token()) as first:
            await first.wait_ended(10)
        lasted = time.monotonic() - started
        assert 2.5 <= lasted <= 8, lasted
        assert first.transport_error is None  # a clean end of the response, not a broken connection
        assert first.complete is None  # no COMPLETE: the execution is still running
        assert len(first.logs) > 5  # live logs arrived before the end
        async with open_sse(bounded_client, STREAM.format(id=execution_id), token=world.token(),
                            headers={"Last-Event-ID": str(first.last_seq)}) as second:
            await second.wait_until(lambda r: len(r.logs) >= 4)
            stop.set()
            with anyio.fail_after(5):
                await writer
            await scratch.finish(execution_id)
            await second.wait_ended(10)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await writer
    assert second.complete["data"]["message"] == "Execution completed"
    exactly_once(first.seqs + second.seqs, await scratch.seqs(execution_id))


async def test_graceful_shutdown_ends_open_streams_and_a_new_server_resumes_without_gap(
    start_bridge, database_url, world, scratch, open_sse, exactly_once
):
    execution_id = await scratch.execution(logs=30)
    async with start_bridge(database_url) as old:
        async with httpx.AsyncClient(base_url=old.url, timeout=httpx.Timeout(10, read=60)) as c:
            async with open_sse(c, STREAM.format(id=execution_id), token=world.token()) as first:
                await first.wait_until(lambda r: len(r.logs) == 30)
                appended = await scratch.append(execution_id, 3)
                await first.wait_seq(appended["last_seq"])
                started = time.monotonic()
                old.terminate()
                await first.wait_ended(15)
                took = time.monotonic() - started
        assert took < 5, took  # SIGTERM ends streams first, not after the 10 s grace period
        assert first.complete is None  # closed without COMPLETE: the client resumes
        # uvicorn re-raises the signal after a graceful shutdown, so the exit status is -SIGTERM.
        assert await old.wait_exit(15) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in old.log_text()
    await scratch.append(execution_id, 4)  # written while no bridge runs
    async with start_bridge(database_url) as new:
        async with httpx.AsyncClient(base_url=new.url, timeout=httpx.Timeout(10, read=60)) as c:
            async with open_sse(c, STREAM.format(id=execution_id), token=world.token(),
                                headers={"Last-Event-ID": str(first.last_seq)}) as second:
                await second.wait_until(lambda r: len(r.logs) == 4)
                await scratch.append(execution_id, 2)
                await scratch.finish(execution_id)
                await second.wait_ended(10)
    assert second.complete["data"]["status"] == "SUCCESS"
    exactly_once(first.seqs + second.seqs, await scratch.seqs(execution_id))


# =============================================================================================
# Poll-only mode (behind a transaction pooler)
# =============================================================================================
async def test_poll_only_mode_health_reports_listener_disabled(poll_bridge):
    async with httpx.AsyncClient(base_url=poll_bridge.url, timeout=10) as c:
        r = await c.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "listener": "disabled"}


async def test_poll_only_mode_still_delivers_live_logs_and_completion(poll_bridge, world, scratch, open_sse, exactly_once):
    execution_id = await scratch.execution(logs=3)
    async with httpx.AsyncClient(base_url=poll_bridge.url, timeout=httpx.Timeout(10, read=60)) as c:
        async with open_sse(c, STREAM.format(id=execution_id), token=world.token()) as reader:
            await reader.wait_until(lambda r: len(r.logs) == 3)
            for _ in range(3):
                appended = await scratch.append(execution_id, 2)
                await reader.wait_seq(appended["last_seq"], timeout=5)
            await asyncio.sleep(3)  # idle: the poll backs off (capped at 2 s on this server)
            appended = await scratch.append(execution_id, 2)
            await reader.wait_seq(appended["last_seq"], timeout=5)
            await scratch.finish(execution_id)
            await reader.wait_ended(5)
    assert reader.complete["data"]["message"] == "Execution completed"
    assert all(e["data"]["is_realtime"] for e in reader.logs[3:])
    exactly_once(reader.seqs, await scratch.seqs(execution_id))


# =============================================================================================
# Fan-out
# =============================================================================================
async def test_fan_out_of_20_streams_reads_each_batch_once_not_once_per_stream(
    client, world, scratch, open_sse, exactly_once, metric
):
    streams, batches = 20, 5
    execution_id = await scratch.execution(logs=10)

    async def fetches() -> float:
        return metric((await client.get("/metrics")).text, "workflow_logs_notify_to_fetch_seconds_count")

    async with contextlib.AsyncExitStack() as stack:
        readers = [
            await stack.enter_async_context(open_sse(client, STREAM.format(id=execution_id), token=world.token()))
            for _ in range(streams)
        ]
        first = await scratch.append(execution_id, 3)  # every stream is subscribed once it has this
        for r in readers:
            await r.wait_seq(first["last_seq"])
        await asyncio.sleep(0.3)
        before = await fetches()
        for _ in range(batches):
            appended = await scratch.append(execution_id, 5)
            for r in readers:
                await r.wait_seq(appended["last_seq"])
        reads = await fetches() - before
        await scratch.finish(execution_id)
        for r in readers:
            await r.wait_ended()
    assert 1 <= reads <= 2 * batches, f"{reads} shared reads for {batches} batches and {streams} streams"
    expected = await scratch.seqs(execution_id)
    for r in readers:
        exactly_once(r.seqs, expected)
        assert r.complete["data"]["message"] == "Execution completed"
