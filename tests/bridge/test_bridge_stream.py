"""The SSE contract, read by an independent client (httpx-sse): backfill, live logs, completion, resume."""

from __future__ import annotations

import uuid

import anyio
import httpx
import pytest

import factories

FAMILIES = ["/v2/executions/{id}/logs/stream", "/api/v1/app/executions/{id}/logs/stream"]


@pytest.mark.parametrize("family", FAMILIES)
async def test_finished_execution_streams_every_log_then_complete(client, world, read_sse, family):
    reader = await read_sse(client, family.format(id=world.finished), token=world.token())
    assert reader.status_code == 200
    assert reader.retry == 2000
    assert reader.seqs == world.finished_seqs
    for event, sse_id in zip(reader.logs, reader.ids):
        assert set(event) == {"event_type", "session_id", "is_final", "data", "timestamp"}
        assert event["session_id"] == world.finished
        assert event["is_final"] is False
        assert sse_id == str(event["data"]["seq"])
        assert event["data"]["is_realtime"] is False
        assert {"id", "seq", "message", "level", "event_type", "log_category"} <= set(event["data"])
    final = reader.events[-1]
    assert final["event_type"] == "COMPLETE" and final["is_final"] is True
    assert final["session_id"] == world.finished
    assert final["data"] == {
        "execution_id": world.finished,
        "status": "SUCCESS",
        "message": "Historical logs retrieved",
        "total_logs": 250,
    }
    assert sum(1 for e in reader.events if e["event_type"] != "LOG") == 1


async def test_follow_false_on_a_running_execution_returns_logs_then_complete(client, world, read_sse):
    reader = await read_sse(client, f"/v2/executions/{world.running}/logs/stream", token=world.token(),
                            params={"follow": "false"}, timeout=10)
    assert len(reader.seqs) == 40
    assert reader.complete["event_type"] == "COMPLETE"
    assert reader.complete["data"]["message"] == "Historical logs retrieved"
    assert reader.complete["data"]["status"] == "RUNNING"
    assert reader.complete["data"]["total_logs"] == 40


@pytest.mark.parametrize("family", FAMILIES)
async def test_running_execution_streams_backfill_then_live_logs_then_completion(
    client, world, scratch, open_sse, exactly_once, family
):
    execution_id = await scratch.execution(logs=30)
    backfill = await scratch.seqs(execution_id)
    async with open_sse(client, family.format(id=execution_id), token=world.token()) as reader:
        await reader.wait_seq(backfill[-1])
        assert all(e["data"]["is_realtime"] is False for e in reader.logs)

        # Through the bridge, as the engine's service would.
        r = await client.post(
            f"/v2/executions/{execution_id}/logs",
            json=[{"event_type": "step_output", "message": f"live post {i}"} for i in range(3)],
            headers=world.auth("service"),
        )
        assert r.status_code == 200, r.text
        await reader.wait_seq(r.json()["last_seq"])
        # Through the SQL API directly, and by a plain INSERT.
        appended = await scratch.append(execution_id, 4, prefix="live sql")
        await reader.wait_seq(appended["last_seq"])
        await scratch.insert_raw(execution_id, 5)
        await reader.wait_seq((await scratch.seqs(execution_id))[-1])

        live = reader.logs[len(backfill):]
        assert len(live) == 12
        assert all(e["data"]["is_realtime"] is True for e in live)
        assert [e["data"]["message"] for e in live[:3]] == ["live post 0", "live post 1", "live post 2"]
        assert reader.complete is None

        await scratch.finish(execution_id, "SUCCESS")
        await reader.wait_until(lambda r: r.complete is not None)
        await reader.wait_ended()
    final = reader.complete
    assert final["event_type"] == "COMPLETE" and final["is_final"] is True
    assert final["data"]["message"] == "Execution completed"
    assert final["data"]["status"] == "SUCCESS"
    assert final["data"]["total_logs"] == 42
    exactly_once(reader.seqs, await scratch.seqs(execution_id))


async def test_execution_that_fails_ends_the_stream_with_its_final_status(client, world, scratch, open_sse):
    execution_id = await scratch.execution(logs=3)
    async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token()) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 3)
        await scratch.finish(execution_id, "ERROR")
        await reader.wait_ended()
    assert reader.complete["data"]["status"] == "ERROR"
    assert reader.complete["data"]["message"] == "Execution completed"


async def test_logs_written_with_the_final_status_in_one_transaction_all_arrive_before_complete(
    client, world, scratch, open_sse, exactly_once, admin_pool
):
    execution_id = await scratch.execution(logs=2)
    async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token()) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 2)
        async with admin_pool.acquire() as conn, conn.transaction():
            await factories.insert_logs_bulk(conn, execution_id, 700, first=10_000)
            await conn.execute(
                "update public.workflow_executions set status = 'SUCCESS', end_time = now() where execution_id = $1",
                execution_id,
            )
        await reader.wait_ended(15)
    assert reader.events[-1]["event_type"] == "COMPLETE"
    assert reader.complete["data"]["total_logs"] == 702
    exactly_once(reader.seqs, await scratch.seqs(execution_id))


async def test_finished_run_with_more_than_1000_logs_streams_all_of_them(client, world, scratch, read_sse, exactly_once):
    execution_id = await scratch.execution(status="SUCCESS", logs=2600)
    reader = await read_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token(), timeout=30)
    exactly_once(reader.seqs, await scratch.seqs(execution_id))
    assert reader.complete["data"]["total_logs"] == 2600


async def test_live_batch_of_more_than_1000_logs_streams_all_of_them(client, world, scratch, open_sse, exactly_once):
    execution_id = await scratch.execution(logs=5)
    async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token()) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 5)
        await scratch.insert_raw(execution_id, 2500)
        expected = await scratch.seqs(execution_id)
        await reader.wait_seq(expected[-1], timeout=30)
        await scratch.finish(execution_id)
        await reader.wait_ended()
    exactly_once(reader.seqs, expected)


# =============================================================================================
# Resume
# =============================================================================================
@pytest.mark.parametrize("how", ["header", "query"])
async def test_resume_after_last_event_id_continues_exactly_after_it(client, world, read_sse, how):
    cut = world.finished_seqs[99]
    kwargs = {"headers": {"Last-Event-ID": str(cut)}} if how == "header" else {"params": {"last_event_id": str(cut)}}
    reader = await read_sse(client, f"/v2/executions/{world.finished}/logs/stream", token=world.token(), **kwargs)
    assert reader.seqs == world.finished_seqs[100:]
    assert reader.complete["data"]["total_logs"] == 250


async def test_resume_at_the_last_seq_sends_only_complete(client, world, read_sse):
    reader = await read_sse(client, f"/v2/executions/{world.finished}/logs/stream", token=world.token(),
                            headers={"Last-Event-ID": str(world.finished_seqs[-1])})
    assert reader.seqs == []
    assert reader.complete["data"]["message"] == "Historical logs retrieved"


async def test_header_last_event_id_wins_over_the_query(client, world, read_sse):
    reader = await read_sse(client, f"/v2/executions/{world.finished}/logs/stream", token=world.token(),
                            headers={"Last-Event-ID": str(world.finished_seqs[200])},
                            params={"last_event_id": str(world.finished_seqs[10])})
    assert reader.seqs == world.finished_seqs[201:]


async def test_resume_of_a_running_execution_then_live(client, world, scratch, open_sse, exactly_once):
    execution_id = await scratch.execution(logs=20)
    seqs = await scratch.seqs(execution_id)
    async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token(),
                        headers={"Last-Event-ID": str(seqs[9])}) as reader:
        await reader.wait_seq(seqs[-1])
        appended = await scratch.append(execution_id, 3)
        await reader.wait_seq(appended["last_seq"])
        await scratch.finish(execution_id)
        await reader.wait_ended()
    exactly_once(reader.seqs, (await scratch.seqs(execution_id))[10:])


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "9" * 40])
@pytest.mark.parametrize("how", ["header", "query"])
async def test_invalid_last_event_id_is_422(client, world, value, how):
    kwargs = {"headers": {"Last-Event-ID": value}} if how == "header" else {"params": {"last_event_id": value}}
    headers = {**world.auth(), **kwargs.get("headers", {})}
    with anyio.fail_after(10):
        r = await client.get(f"/v2/executions/{world.finished}/logs/stream", headers=headers, params=kwargs.get("params"))
    assert r.status_code == 422, r.text[:300]
    assert "last_event_id" in r.text


async def test_stream_of_unknown_execution_is_404_not_a_stream(client, world):
    with anyio.fail_after(10):
        r = await client.get(f"/v2/executions/{uuid.uuid4()}/logs/stream", headers=world.auth())
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")


async def test_ping_comments_arrive_on_an_idle_stream(bridge, world):
    """The default test bridge pings every second: raw `: ping` lines between events."""
    lines: list[str] = []
    async with httpx.AsyncClient(base_url=bridge.url, timeout=httpx.Timeout(10, read=10)) as c:
        with anyio.fail_after(8):
            async with c.stream("GET", f"/v2/executions/{world.running}/logs/stream", headers=world.auth()) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    lines.append(line)
                    if sum(1 for x in lines if x.startswith(": ping")) >= 2:
                        break
    pings = [x for x in lines if x.startswith(": ping")]
    assert len(pings) >= 2
    assert sum(1 for x in lines if x.startswith("id: ")) == 40  # the backfill came first
