"""Concurrent writers: append_execution_logs serialises writers per execution (advisory lock), so within an
execution seq order is commit order and a reader's `seq > cursor` never skips a late commit."""

from __future__ import annotations

import asyncio
import random

import anyio
import asyncpg
import pytest

import factories
from factories import as_role, claims_for

TIME_LIMIT = 20


def service(conn: asyncpg.Connection):
    return as_role(conn, "service_role", claims_for("service_role"))


async def wait_until_blocked(observer: asyncpg.Connection, pid: int) -> str:
    """Wait until backend `pid` waits for a lock; return the lock type it waits for."""
    with anyio.fail_after(TIME_LIMIT):
        while True:
            locktype = await observer.fetchval(
                "select locktype from pg_locks where pid = $1 and not granted limit 1", pid
            )
            if locktype is not None:
                return locktype
            await asyncio.sleep(0.01)


async def visible_seqs(reader: asyncpg.Connection, execution_id: str, after: int = 0) -> list[int]:
    rows = await reader.fetch(
        "select seq from public.workflow_execution_logs where execution_id = $1 and seq > $2 order by seq",
        execution_id,
        after,
    )
    return [r["seq"] for r in rows]


async def seqs_of(reader: asyncpg.Connection, execution_id: str, prefix: str) -> list[int]:
    rows = await reader.fetch(
        "select seq from public.workflow_execution_logs where execution_id = $1 and message like $2 order by seq",
        execution_id,
        prefix + "%",
    )
    return [r["seq"] for r in rows]


def batch(execution_id: str, prefix: str, n: int = 10) -> list[dict]:
    return [factories.log_entry(execution_id, f"{prefix} {i}") for i in range(n)]


@pytest.fixture
async def conns(admin_pool):
    """Three connections: two writers and a reader/observer."""
    async with admin_pool.acquire() as a, admin_pool.acquire() as b, admin_pool.acquire() as c:
        yield a, b, c


async def test_append_when_another_writer_holds_the_execution_then_it_waits_until_that_commit(conns):
    first, second, reader = conns
    run = await factories.make_run(reader)

    async def second_writer() -> dict:
        async with service(second):
            return await factories.append_logs(second, batch(run.execution_id, "second"))

    with anyio.fail_after(TIME_LIMIT):
        async with service(first):
            await factories.append_logs(first, batch(run.execution_id, "first"))
            task = asyncio.create_task(second_writer())
            try:
                assert await wait_until_blocked(reader, second.get_server_pid()) == "advisory"
                assert not task.done()
                assert await visible_seqs(reader, run.execution_id) == []
            except BaseException:
                task.cancel()
                raise
        # first committed: second may now take the lock, insert and commit.
        second_result = await task

    first_seqs = await seqs_of(reader, run.execution_id, "first")
    second_seqs = await seqs_of(reader, run.execution_id, "second")
    assert len(first_seqs) == len(second_seqs) == 10
    assert max(first_seqs) < min(second_seqs)
    assert second_result["last_seq"] == max(second_seqs)


async def test_cursor_when_transaction_started_first_commits_last_then_its_rows_come_after_the_cursor(conns):
    early, late, reader = conns
    run = await factories.make_run(reader)

    with anyio.fail_after(TIME_LIMIT):
        async with service(early):
            await early.fetchval("select txid_current()")  # the early transaction is under way
            async with service(late):
                await factories.append_logs(late, batch(run.execution_id, "late"))
            cursor = max(await visible_seqs(reader, run.execution_id))

            await factories.append_logs(early, batch(run.execution_id, "early"))
            assert max(await visible_seqs(reader, run.execution_id)) == cursor
        # the early transaction commits last

    new_rows = await visible_seqs(reader, run.execution_id, after=cursor)
    early_seqs = await seqs_of(reader, run.execution_id, "early")
    assert new_rows == early_seqs and len(early_seqs) == 10
    assert all(seq > cursor for seq in await seqs_of(reader, run.execution_id, "early"))


async def test_cursor_when_many_writers_commit_at_random_then_a_polling_reader_sees_every_row(admin_pool):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
    rng = random.Random(20251125)
    writers, transactions, per_batch = 4, 5, 20
    done = asyncio.Event()

    async def writer(w: int) -> None:
        async with admin_pool.acquire() as conn:
            for t in range(transactions):
                async with service(conn):
                    await factories.append_logs(conn, batch(run.execution_id, f"w{w} t{t}", per_batch))
                    await asyncio.sleep(rng.uniform(0, 0.02))

    async def reader() -> tuple[list[int], int]:
        seen: list[int] = []
        cursor, polls = 0, 0
        async with admin_pool.acquire() as conn:
            while True:
                finished = done.is_set()
                rows = await visible_seqs(conn, run.execution_id, after=cursor)
                polls += 1
                seen.extend(rows)
                if rows:
                    cursor = rows[-1]
                if finished:
                    return seen, polls
                await asyncio.sleep(0.002)

    with anyio.fail_after(TIME_LIMIT):
        reading = asyncio.create_task(reader())
        try:
            await asyncio.gather(*(writer(w) for w in range(writers)))
        finally:
            done.set()
        seen, polls = await reading

    async with admin_pool.acquire() as conn:
        everything = await visible_seqs(conn, run.execution_id)
    assert len(everything) == writers * transactions * per_batch
    assert seen == everything, "the polling reader skipped rows that committed behind its cursor"
    assert polls > 1


async def test_cursor_when_writers_bypass_append_then_a_late_commit_is_skipped(conns):
    """Control: plain INSERTs take no lock, and a cursor reader misses the late commit. This is the
    failure append_execution_logs exists to prevent (and shows the tests above can detect it)."""
    first, second, reader = conns
    run = await factories.make_run(reader)
    # A committed first log, so the execution's partition range exists and neither insert below writes
    # it (the second would wait for the first: here, in one task, a self-deadlock).
    await factories.insert_logs_bulk(reader, run.execution_id, 1, debug_every=1)

    # Different levels, so the two inserts do not meet on the same counts row (the stats upsert would
    # otherwise make the second wait for the first, here in one task: a self-deadlock).
    with anyio.fail_after(TIME_LIMIT):
        async with service(first):
            await factories.insert_logs_bulk(first, run.execution_id, 1, error_every=1)
            async with service(second):
                await factories.insert_logs_bulk(second, run.execution_id, 1)
            cursor = max(await visible_seqs(reader, run.execution_id))

    everything = await visible_seqs(reader, run.execution_id)
    assert len(everything) == 3
    assert await visible_seqs(reader, run.execution_id, after=cursor) == []
    assert sorted(everything)[1] < cursor  # committed after the reader passed it: skipped


@pytest.mark.parametrize("second_order", ["same", "reversed"])
async def test_append_when_one_batch_spans_two_executions_in_either_order_then_no_deadlock(
    conns, second_order
):
    first, second, observer = conns
    run = await factories.make_run(observer)
    other = await factories.make_execution(observer, run.workflow_id)
    first_batch = batch(run.execution_id, "t1") + batch(other, "t1")
    second_batch = batch(other, "t2") + batch(run.execution_id, "t2")
    if second_order == "same":
        second_batch.reverse()

    async def second_writer() -> dict:
        async with service(second):
            return await factories.append_logs(second, second_batch)

    with anyio.fail_after(TIME_LIMIT):
        async with service(first):
            await factories.append_logs(first, first_batch)
            task = asyncio.create_task(second_writer())
            try:
                await wait_until_blocked(observer, second.get_server_pid())
            except BaseException:
                task.cancel()
                raise
        result = await task

    assert result["inserted"] == 20
    for execution_id in (run.execution_id, other):
        t1 = await seqs_of(observer, execution_id, "t1")
        t2 = await seqs_of(observer, execution_id, "t2")
        assert len(t1) == len(t2) == 10 and max(t1) < min(t2)


async def test_append_when_many_batches_span_executions_in_random_orders_then_all_commit(admin_pool):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
        executions = [run.execution_id] + [
            await factories.make_execution(conn, run.workflow_id) for _ in range(2)
        ]
    rng = random.Random(7)

    async def writer(w: int) -> dict:
        order = executions[:]
        rng.shuffle(order)
        entries = [e for execution_id in order for e in batch(execution_id, f"w{w}", 5)]
        async with admin_pool.acquire() as conn:
            async with service(conn):
                result = await factories.append_logs(conn, entries)
                await asyncio.sleep(rng.uniform(0, 0.02))
                return result

    with anyio.fail_after(TIME_LIMIT):
        results = await asyncio.gather(*(writer(w) for w in range(6)))

    assert [r["inserted"] for r in results] == [15] * 6
    async with admin_pool.acquire() as conn:
        counts = await conn.fetch(
            "select execution_id, sum(log_count)::int n from public.workflow_execution_log_counts"
            " where execution_id = any($1::text[]) group by 1",
            executions,
        )
    assert {r["execution_id"]: r["n"] for r in counts} == {e: 30 for e in executions}
