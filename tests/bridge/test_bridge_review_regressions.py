"""Regressions found in review: a resume point past the last log, several identities on one finished
execution, and shutdown that ends streams at once."""

from __future__ import annotations

import asyncio

import anyio

STREAM = "/api/v1/app/executions/{id}/logs/stream"


async def test_resume_past_the_last_log_then_new_logs_still_arrive_and_other_streams_stay_idle(
    client, world, scratch, open_sse, exactly_once, metric
):
    execution_id = await scratch.execution(logs=10)
    async with open_sse(client, STREAM.format(id=execution_id), token=world.token(),
                        headers={"Last-Event-ID": "999999999999"}) as bogus, \
               open_sse(client, STREAM.format(id=execution_id), token=world.token()) as normal:
        await normal.wait_until(lambda r: len(r.logs) == 10)
        before = (await client.get("/metrics")).text
        await asyncio.sleep(1.0)  # a stream spinning on the database would show here
        after = (await client.get("/metrics")).text
        appended = await scratch.append(execution_id, 3)
        await bogus.wait_seq(appended["last_seq"])
        await normal.wait_seq(appended["last_seq"])
        await scratch.finish(execution_id)
        await bogus.wait_ended(5)
        await normal.wait_ended(5)
    seqs = await scratch.seqs(execution_id)
    assert bogus.seqs == seqs[10:], "the resumed stream gets exactly the logs written after it resumed"
    exactly_once(normal.seqs, seqs)
    assert bogus.complete["data"]["status"] == normal.complete["data"]["status"] == "SUCCESS"
    # Idle second: no shared reads (NOTIFY-to-fetch count unchanged) and no catch-up loop.
    name = "workflow_logs_notify_to_fetch_seconds_count"
    assert metric(after, name) - metric(before, name) <= 1


async def test_owner_and_service_watching_one_execution_both_get_complete_promptly(
    client, world, scratch, open_sse, exactly_once
):
    execution_id = await scratch.execution(logs=5)
    async with open_sse(client, STREAM.format(id=execution_id), token=world.token()) as owner, \
               open_sse(client, STREAM.format(id=execution_id), token=world.token("service")) as service:
        await owner.wait_until(lambda r: len(r.logs) == 5)
        await service.wait_until(lambda r: len(r.logs) == 5)
        for _ in range(5):
            await scratch.append(execution_id, 2)
        await scratch.finish(execution_id)
        with anyio.fail_after(5):
            await owner.wait_ended(5)
            await service.wait_ended(5)
    seqs = await scratch.seqs(execution_id)
    exactly_once(owner.seqs, seqs)
    exactly_once(service.seqs, seqs)
    assert owner.complete["event_type"] == service.complete["event_type"] == "COMPLETE"
