"""Fixtures of the reader tests (loaded with `pytest_plugins` by test_reader.py and test_cli_reader.py).

A real bridge subprocess on the session's scratch database (the way tests/bridge/conftest.py starts one,
replicated here so the SDK tests do not depend on that conftest), and a small world of the reader's own:

* `reader_secret` (session): the HS256 secret the bridge trusts.
* `reader_bridge_factory`: `async with reader_bridge_factory(port=None) as bridge:` a bridge subprocess;
  pass the port of a stopped one to restart it at the same URL.
* `reader_bridge` (session): the default bridge.
* `reader_world` (session): owner and other user, a finished (SUCCESS, 250 logs) and a running execution,
  tokens; `make_execution(status, logs)`, `append(...)`, `finish(...)` to change data.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

import factories
from bridge_process import free_port, spawn, wait_answering
from workflow_logs_bridge.auth import mint_token

REPO = Path(__file__).resolve().parents[2]

@dataclass
class ReaderBridge:
    url: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def reader_secret() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
def reader_bridge_factory(reader_secret: str, database_url: str, tmp_path_factory):
    @contextlib.asynccontextmanager
    async def start(port: int | None = None, **overrides: Any) -> AsyncIterator[ReaderBridge]:
        settings: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "SUPABASE_JWT_SECRET": reader_secret,
            "WORKFLOW_LOGS_ENV": "test",
            "WORKFLOW_LOGS_POOL_MIN": 1,
            "WORKFLOW_LOGS_STREAM_PING_SECONDS": 1,
            **overrides,
        }
        port = port or free_port()
        log_path = tmp_path_factory.mktemp("reader-bridge") / "stderr.log"
        proc = spawn(port, settings, log_path, log_level="WARNING")
        bridge = ReaderBridge(f"http://127.0.0.1:{port}", port, proc, log_path)
        try:
            await wait_answering(bridge.url, proc, log_path)
            yield bridge
        finally:
            await bridge.stop()

    return start


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def reader_bridge(reader_bridge_factory) -> AsyncIterator[ReaderBridge]:
    async with reader_bridge_factory() as bridge:
        yield bridge


class ReaderWorld:
    def __init__(self, pool: asyncpg.Pool, secret: str) -> None:
        self.pool = pool
        self.secret = secret
        self.owner = self.other = self.workflow_id = self.finished = self.running = ""

    def token(self, who: str = "owner") -> str:
        if who == "service":
            return mint_token(self.secret, sub=None, role="service_role")
        return mint_token(self.secret, sub=self.owner if who == "owner" else self.other)

    async def make_execution(self, *, status: str = "RUNNING", logs: int = 0, **bulk: Any) -> str:
        async with self.pool.acquire() as conn:
            execution_id = await factories.make_execution(conn, self.workflow_id, status=status)
            if logs:
                await factories.insert_logs_bulk(conn, execution_id, logs, **bulk)
        return execution_id

    async def append(self, execution_id: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [{"execution_id": execution_id, "event_type": "step_output", **e} for e in entries]
        async with self.pool.acquire() as conn:
            return await factories.append_logs(conn, rows)

    async def finish(self, execution_id: str, status: str = "SUCCESS") -> None:
        await self.pool.execute(
            "update public.workflow_executions set status = $2, end_time = now() where execution_id = $1",
            execution_id,
            status,
        )

    async def seqs(self, execution_id: str) -> list[int]:
        rows = await self.pool.fetch(
            "select seq from public.workflow_execution_logs where execution_id = $1 order by seq", execution_id
        )
        return [r["seq"] for r in rows]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def reader_world(admin_pool: asyncpg.Pool, reader_secret: str) -> ReaderWorld:
    w = ReaderWorld(admin_pool, reader_secret)
    async with admin_pool.acquire() as conn:
        w.owner = await factories.make_user(conn)
        w.other = await factories.make_user(conn)
        w.workflow_id = await factories.make_workflow(conn, w.owner, name="reader workflow")
    w.finished = await w.make_execution(
        status="SUCCESS", logs=250, business_every=3, error_every=11, milestone_every=25, nodes=3
    )
    w.running = await w.make_execution(status="RUNNING", logs=40, nodes=2)
    return w
