"""Database faults: the listener's connection killed, every bridge connection killed mid-stream, and a database
that is not there at all. Each stream still delivers every log exactly once after recovery; an outage is a 503,
never an empty 200.

These tests kill backends, so each uses a database of its own (the shared 127.0.0.1:5432 server is never
restarted) and a bridge of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import asyncpg
import httpx
import pytest_asyncio

import factories
from workflow_logs_bridge.auth import mint_token


@dataclass
class Site:
    pool: asyncpg.Pool
    bridge: object
    client: httpx.AsyncClient
    owner_token: str
    workflow_id: str

    async def execution(self, logs: int = 0) -> str:
        async with self.pool.acquire() as conn:
            execution_id = await factories.make_execution(conn, self.workflow_id)
            if logs:
                await factories.insert_logs_bulk(conn, execution_id, logs)
        return execution_id

    async def append(self, execution_id: str, n: int) -> dict:
        async with self.pool.acquire() as conn:
            return await factories.append_logs(conn, [factories.log_entry(execution_id, f"m{i}") for i in range(n)])

    async def seqs(self, execution_id: str) -> list[int]:
        rows = await self.pool.fetch(
            "select seq from public.workflow_execution_logs where execution_id = $1 order by seq", execution_id
        )
        return [r["seq"] for r in rows]

    async def finish(self, execution_id: str) -> None:
        await self.pool.execute(
            "update public.workflow_executions set status = 'SUCCESS', end_time = now() where execution_id = $1",
            execution_id,
        )

    async def kill(self, application_name_like: str) -> list[int]:
        """Terminate this database's backends whose application_name matches; their pids."""
        rows = await self.pool.fetch(
            "select pid, pg_terminate_backend(pid) from pg_stat_activity"
            " where application_name like $1 and datname = current_database() and pid <> pg_backend_pid()",
            application_name_like,
        )
        return [r["pid"] for r in rows]

    async def delivered(self, reader, seq: int, timeout: float) -> None:
        """Wait until the stream has delivered `seq`; on failure show the bridge's own warnings and errors."""
        try:
            await reader.wait_seq(seq, timeout)
        except (TimeoutError, AssertionError):
            problems = [line[:1500] for line in self.bridge.log_text().splitlines()
                        if '"level": "error"' in line or '"level": "warning"' in line]
            raise AssertionError(
                f"seq {seq} not delivered within {timeout}s (stream at {reader.last_seq}, ended={reader.ended});"
                " bridge log:\n" + "\n".join(problems[-10:])
            ) from None

    async def health(self) -> httpx.Response:
        return await self.client.get("/health")

    async def wait_health(self, predicate, timeout: float, interval: float = 0.03) -> dict:
        with anyio.fail_after(timeout):
            while True:
                r = await self.health()
                body = r.json()
                if predicate(body):
                    return body
                await asyncio.sleep(interval)


@pytest_asyncio.fixture(loop_scope="session")
async def site(new_database, start_bridge, jwt_secret) -> AsyncIterator[Site]:
    """A fresh database with one owner's workflow, and a bridge on it whose listener comes back after >= 1 s."""
    async with new_database(prefix="wl_bridge_fault") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=6, init=factories.init_connection)
        try:
            async with pool.acquire() as conn:
                owner = await factories.make_user(conn)
                workflow_id = await factories.make_workflow(conn, owner)
            async with start_bridge(url, WORKFLOW_LOGS_POLL_MIN=1.0, WORKFLOW_LOGS_POLL_MAX=2.0) as bridge, \
                    httpx.AsyncClient(base_url=bridge.url, timeout=httpx.Timeout(10, read=60)) as client:
                yield Site(pool, bridge, client, mint_token(jwt_secret, sub=owner), workflow_id)
        finally:
            await pool.close()


async def test_listener_killed_mid_stream_then_fallback_poll_and_relisten_deliver_everything(
    site, open_sse, exactly_once
):
    execution_id = await site.execution(logs=10)
    assert (await site.wait_health(lambda b: True, 5))["listener"] == "ok"
    async with open_sse(site.client, f"/v2/executions/{execution_id}/logs/stream", token=site.owner_token) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 10)
        first = await site.append(execution_id, 5)
        await site.delivered(reader, first["last_seq"], 5)

        killed = await site.kill("workflow-logs-bridge-listener")
        assert len(killed) == 1
        down = await site.wait_health(lambda b: b["listener"] == "down", 3, interval=0.02)
        assert down == {"status": "degraded", "database": "ok", "listener": "down"}
        during = await site.append(execution_id, 5)  # while nobody listens: the tail polls
        await site.delivered(reader, during["last_seq"], 10)

        await site.wait_health(lambda b: b["listener"] == "ok", 10)
        pids = await site.pool.fetch(
            "select pid from pg_stat_activity where application_name = 'workflow-logs-bridge-listener'"
            " and datname = current_database()"
        )
        assert len(pids) == 1 and pids[0]["pid"] not in killed
        after = await site.append(execution_id, 5)
        await site.delivered(reader, after["last_seq"], 5)

        await site.finish(execution_id)
        await reader.wait_ended(10)
    assert reader.complete["data"]["message"] == "Execution completed"
    exactly_once(reader.seqs, await site.seqs(execution_id))


async def test_every_bridge_connection_killed_mid_stream_then_stream_continues_without_loss(
    site, open_sse, exactly_once
):
    execution_id = await site.execution(logs=5)
    stop = asyncio.Event()
    statuses: list[int] = []

    async def keep_writing() -> None:
        while not stop.is_set():
            await site.append(execution_id, 2)
            await asyncio.sleep(0.05)

    async def keep_reading() -> None:
        while not stop.is_set():
            r = await site.client.get(f"/v2/workflows/executions/{execution_id}/logs",
                                      headers={"Authorization": f"Bearer {site.owner_token}"})
            statuses.append(r.status_code)
            if r.status_code == 200:
                assert r.json()["total_count"] > 0, "an outage must never look like no logs"
            else:
                assert r.status_code == 503, r.text
                assert "retry-after" in r.headers
            await asyncio.sleep(0.02)

    async with open_sse(site.client, f"/v2/executions/{execution_id}/logs/stream", token=site.owner_token) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 5)
        tasks = [asyncio.create_task(keep_writing()), asyncio.create_task(keep_reading())]
        try:
            await asyncio.sleep(0.3)
            for _ in range(5):  # a few rounds, as a restarting server would look
                killed = await site.kill("workflow-logs-bridge%")
                assert killed
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            with anyio.fail_after(10):
                await asyncio.gather(*tasks)
        # Recovered: plain requests answer again.
        with anyio.fail_after(10):
            while (await site.client.get(f"/v2/workflows/executions/{execution_id}/logs",
                                         headers={"Authorization": f"Bearer {site.owner_token}"})).status_code != 200:
                await asyncio.sleep(0.1)
        await site.wait_health(lambda b: b == {"status": "ok", "database": "ok", "listener": "ok"}, 10)
        last = await site.append(execution_id, 3)
        await site.delivered(reader, last["last_seq"], 10)
        await site.finish(execution_id)
        await reader.wait_ended(10)
    assert reader.transport_error is None, "the stream itself must survive the database's connections dying"
    assert reader.complete["data"]["status"] == "SUCCESS"
    assert set(statuses) <= {200, 503}
    exactly_once(reader.seqs, await site.seqs(execution_id))


# =============================================================================================
# A database that is not there
# =============================================================================================
@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def dead_bridge(start_bridge) -> AsyncIterator[object]:
    with contextlib.closing(__import__("socket").socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on `port` once the socket is closed.
    async with start_bridge(f"postgresql://postgres@127.0.0.1:{port}/nowhere") as bridge:
        yield bridge


async def test_database_down_then_reads_are_503_with_retry_after_never_an_empty_200(dead_bridge, world):
    async with httpx.AsyncClient(base_url=dead_bridge.url, timeout=20) as c:
        for path in (f"/v2/workflows/executions/{world.finished}/logs",
                     f"/api/v1/app/executions/{world.finished}/logs",
                     f"/v2/executions/{world.finished}/logs/summary",
                     f"/api/v1/app/executions/recent_logs?workflow_id={world.workflow_id}",
                     f"/v2/executions/{world.finished}/logs/stream"):
            with anyio.fail_after(15):
                r = await c.get(path, headers=world.auth())
            assert r.status_code == 503, (path, r.text[:300])
            assert int(r.headers["retry-after"]) > 0
            assert "unavailable" in r.json()["detail"]
            assert r.json()["request_id"] == r.headers["x-request-id"]
        r = await c.post(f"/v2/executions/{world.finished}/logs", json=[{"event_type": "separator", "message": ""}],
                         headers=world.auth("service"))
        assert r.status_code == 503
        # Auth is still checked first.
        assert (await c.get(f"/v2/workflows/executions/{world.finished}/logs")).status_code == 401


async def test_database_down_then_health_is_503_database_unavailable(dead_bridge):
    async with httpx.AsyncClient(base_url=dead_bridge.url, timeout=20) as c:
        for path in ("/health", "/api/v1/public/health"):
            with anyio.fail_after(15):
                r = await c.get(path)
            assert r.status_code == 503
            assert r.json()["database"] == "unavailable"
            assert r.json()["status"] == "unavailable"
            assert r.json()["listener"] == "down"
            assert "retry-after" in r.headers
        r = await c.get("/metrics")  # metrics still answer during an outage
        assert r.status_code == 200 and "workflow_logs_listener_up 0.0" in r.text
