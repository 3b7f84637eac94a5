"""Live hooks: NOTIFY on `workflow_execution_logs` (a hint: {execution_id, seq} or {execution_id, status}),
one per statement per execution, and the Realtime Broadcast rows written next to it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import anyio
import asyncpg
import pytest

import factories
from factories import connect

CHANNEL = "workflow_execution_logs"
TIME_LIMIT = 10


class Listener:
    """A LISTEN connection of its own, as the bridge has; `drain()` returns what arrived up to now."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def _on_notify(self, _conn, _pid, channel: str, payload: str) -> None:
        assert channel == CHANNEL
        self.queue.put_nowait(payload)

    async def drain(self, writer: asyncpg.Connection | asyncpg.Pool) -> list[dict]:
        """Every notification committed before this call, in order.

        A marker is sent after the writer's commits; notifications reach a listener in commit order, so
        when the marker arrives everything before it has arrived too (no sleeps, no guessing).
        """
        marker = str(uuid.uuid4())
        await writer.execute("select pg_notify($1, $2)", CHANNEL, json.dumps({"marker": marker}))
        received = []
        with anyio.fail_after(TIME_LIMIT):
            while True:
                payload = json.loads(await self.queue.get())
                if payload.get("marker") == marker:
                    return received
                if "marker" not in payload:
                    received.append(payload)


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[Listener]:
    conn = await connect(database_url)
    listen = Listener(conn)
    await conn.add_listener(CHANNEL, listen._on_notify)
    try:
        yield listen
    finally:
        await conn.remove_listener(CHANNEL, listen._on_notify)
        await conn.close()


def for_executions(notifications: list[dict], *execution_ids: str) -> list[dict]:
    return [n for n in notifications if n.get("execution_id") in execution_ids]


async def max_seq(conn: asyncpg.Connection, execution_id: str) -> int:
    return await conn.fetchval(
        "select max(seq) from public.workflow_execution_logs where execution_id = $1", execution_id
    )


# =============================================================================================
# Logs
# =============================================================================================
async def test_notify_when_1000_rows_inserted_in_one_statement_then_one_notification(
    admin_pool, as_service, listener
):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
    await listener.drain(admin_pool)

    async with as_service() as conn:
        inserted = await factories.insert_logs_bulk(conn, run.execution_id, 1000, nodes=4, milestone_every=100)
    assert inserted == 1000

    received = await listener.drain(admin_pool)
    async with admin_pool.acquire() as conn:
        expected_seq = await max_seq(conn, run.execution_id)
    assert received == [{"execution_id": run.execution_id, "seq": expected_seq}]


async def test_notify_when_one_statement_writes_two_executions_then_one_notification_each(
    admin_pool, as_service, listener
):
    async with admin_pool.acquire() as conn:
        first = await factories.make_run(conn)
        second = await factories.make_execution(conn, first.workflow_id)

    async with as_service() as conn:
        await factories.insert_logs_bulk(conn, [first.execution_id, second], 50)

    received = await listener.drain(admin_pool)
    async with admin_pool.acquire() as conn:
        expected = {
            first.execution_id: await max_seq(conn, first.execution_id),
            second: await max_seq(conn, second),
        }
    assert len(received) == 2
    assert {n["execution_id"]: n["seq"] for n in received} == expected
    assert all(set(n) == {"execution_id", "seq"} for n in received)


async def test_notify_when_append_execution_logs_then_one_notification_with_its_last_seq(
    admin_pool, listener
):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
        result = await factories.append_logs(
            conn, [factories.log_entry(run.execution_id, f"entry {i}") for i in range(25)]
        )

    received = await listener.drain(admin_pool)
    assert result["inserted"] == 25
    assert received == [{"execution_id": run.execution_id, "seq": result["last_seq"]}]


async def test_notify_when_append_is_a_retry_of_committed_entries_then_nothing_new_is_announced(
    admin_pool, listener
):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
        entries = [factories.log_entry(run.execution_id, f"entry {i}", id=str(uuid.uuid4())) for i in range(3)]
        await factories.append_logs(conn, entries)
        await listener.drain(admin_pool)

        retry = await factories.append_logs(conn, entries)

    assert retry["inserted"] == 0 and retry["duplicates"] == 3
    assert for_executions(await listener.drain(admin_pool), run.execution_id) == []


async def test_notify_when_transaction_rolls_back_then_nothing_is_announced(admin_pool, as_service, listener):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)

    with pytest.raises(RuntimeError, match="abandon"):
        async with as_service() as conn:
            await factories.insert_logs_bulk(conn, run.execution_id, 10)
            raise RuntimeError("abandon the request")

    assert for_executions(await listener.drain(admin_pool), run.execution_id) == []


# =============================================================================================
# Execution status
# =============================================================================================
async def test_notify_when_status_changes_then_one_status_notification(admin_pool, as_service, listener):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn, status="RUNNING")

    async with as_service() as conn:
        await conn.execute(
            "update public.workflow_executions set status = 'SUCCESS', end_time = now() where execution_id = $1",
            run.execution_id,
        )

    assert await listener.drain(admin_pool) == [{"execution_id": run.execution_id, "status": "SUCCESS"}]


async def test_notify_when_update_does_not_change_status_then_none(admin_pool, as_service, listener):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn, status="RUNNING")

    async with as_service() as conn:
        await conn.execute(
            "update public.workflow_executions set status = 'RUNNING', error_message = 'still going',"
            " updated_at = now() where execution_id = $1",
            run.execution_id,
        )
        await conn.execute(
            "update public.workflow_executions set end_time = null where execution_id = $1", run.execution_id
        )

    assert for_executions(await listener.drain(admin_pool), run.execution_id) == []


# =============================================================================================
# Realtime Broadcast (realtime.messages, topic execution:<id>)
# =============================================================================================
async def broadcasts(conn: asyncpg.Connection, execution_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select event, private, payload from realtime.messages where topic = $1 order by inserted_at, id",
        f"execution:{execution_id}",
    )


async def test_broadcast_when_small_batch_then_one_message_carrying_the_entries(admin_pool):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
        result = await factories.append_logs(
            conn, [factories.log_entry(run.execution_id, f"entry {i}") for i in range(3)]
        )
        messages = await broadcasts(conn, run.execution_id)

    assert len(messages) == 1
    message = messages[0]
    assert message["event"] == "logs" and message["private"] is True
    payload = message["payload"]
    assert payload["count"] == 3 and payload["last_seq"] == result["last_seq"]
    assert [entry["message"] for entry in payload["logs"]] == ["entry 0", "entry 1", "entry 2"]
    assert [entry["seq"] for entry in payload["logs"]] == list(range(payload["first_seq"], payload["last_seq"] + 1))


async def test_broadcast_when_batch_is_large_then_one_message_with_the_seq_range_only(admin_pool):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
        await factories.insert_logs_bulk(conn, run.execution_id, 1000)
        messages = await broadcasts(conn, run.execution_id)
        bounds = await conn.fetchrow(
            "select min(seq) lo, max(seq) hi from public.workflow_execution_logs where execution_id = $1",
            run.execution_id,
        )

    assert len(messages) == 1
    payload = messages[0]["payload"]
    assert payload["logs"] is None
    assert (payload["first_seq"], payload["last_seq"], payload["count"]) == (bounds["lo"], bounds["hi"], 1000)


async def test_broadcast_when_status_changes_then_one_status_message(admin_pool):
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn, status="RUNNING")
        await conn.execute(
            "update public.workflow_executions set status = 'ERROR', end_time = now(), error_message = 'boom'"
            " where execution_id = $1",
            run.execution_id,
        )
        messages = await broadcasts(conn, run.execution_id)

    assert [(m["event"], m["payload"]["status"], m["payload"]["error_message"]) for m in messages] == [
        ("status", "ERROR", "boom")
    ]


async def test_broadcast_when_one_statement_writes_200_executions_then_the_batch_is_read_a_bounded_number_of_times(
    admin_pool,
):
    """One statement, 10 rows for each of 200 executions (2,000 rows). The broadcast trigger should read
    its transition table a bounded number of times, not once per execution.

    Fails today: broadcast_logs_inserted() builds each execution's `logs` with a correlated
    `select ... from new_rows x where x.execution_id = g.execution_id`, a full scan of the transition
    table per execution: 200 x 2,000 = 400,000 rows read here, O(executions x rows) in general (a 120,000-
    row load over 6,000 executions took ~50 s).
    """
    async with admin_pool.acquire() as conn:
        run = await factories.make_run(conn)
        executions = [run.execution_id] + [
            await factories.make_execution(conn, run.workflow_id) for _ in range(199)
        ]
        async with factories.auto_explain(conn, analyze=True) as plans:
            await factories.insert_logs_bulk(conn, executions, 10)
        messages = await conn.fetchval(
            "select count(*) from realtime.messages where topic = any($1::text[])",
            [f"execution:{e}" for e in executions],
        )

    assert messages == 200
    broadcast = [p for p in plans if "realtime.send" in p["Query Text"]]
    assert len(broadcast) == 1
    rows_read = sum(
        node.get("Actual Loops", 1) * (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0))
        for node in factories.plan_nodes(broadcast[0]["Plan"])
        if node["Node Type"] == "Named Tuplestore Scan"
    )
    assert rows_read <= 3 * 2000, f"the broadcast trigger read {rows_read} transition rows for 2,000 inserted"
