"""Real bridges for the bridge tests: uvicorn subprocesses on free ports against the session's scratch database.

Fixtures:

* `jwt_secret` (session): a random HS256 secret every bridge here trusts.
* `start_bridge(database_url, **settings)`: an async context manager starting a bridge subprocess
  (`Settings(**settings)` in a tiny runner) and waiting for it to answer /health; yields a `Bridge`
  (url, stderr log, `terminate()`). Stopped at exit.
* `bridge` (session): the default bridge (pings every second).
* `bounded_bridge` (session): small limits (2 streams per user, streams of 3 s, 4 KB / 10 entries per POST).
* `poll_bridge` (session): poll-only (`listen=False`).
* `world` (session): owner and other user, the owner's workflow with a finished execution (SUCCESS, 250 logs
  of mixed category, level, milestones and nodes) and a running one (40 logs); tokens for each role.
* `scratch`: makes further executions of the owner (own workflow), appends logs, finishes them.
* `client`: an httpx.AsyncClient on the default bridge.
* `open_stream(client, path, ...)`: an async context manager reading an SSE stream in the background
  (`SSEReader`: events, seqs, complete, `wait_until(...)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
import pytest_asyncio
from httpx_sse import aconnect_sse

import factories
from bridge_process import free_port, spawn, wait_answering
from workflow_logs_bridge.auth import mint_token

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0

@dataclass
class Bridge:
    url: str
    proc: subprocess.Popen
    log_path: Path
    settings: dict[str, Any]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        with anyio.fail_after(timeout):
            while self.proc.poll() is None:
                await asyncio.sleep(0.05)
        return self.proc.returncode


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
def start_bridge(jwt_secret: str, tmp_path_factory):
    """`async with start_bridge(database_url, WORKFLOW_LOGS_STREAM_MAX_SECONDS=3) as bridge:`."""

    @contextlib.asynccontextmanager
    async def start(database_url: str, **overrides: Any) -> AsyncIterator[Bridge]:
        settings: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "SUPABASE_JWT_SECRET": jwt_secret,
            "WORKFLOW_LOGS_ENV": "test",
            "WORKFLOW_LOGS_POOL_MIN": 1,
        }
        settings.update(overrides)
        port = free_port()
        log_path = tmp_path_factory.mktemp("bridge") / "stderr.log"
        proc = spawn(port, settings, log_path)
        bridge = Bridge(f"http://127.0.0.1:{port}", proc, log_path, settings)
        try:
            await wait_answering(bridge.url, proc, log_path)
            yield bridge
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await bridge.wait_exit(15)
                except TimeoutError:
                    proc.kill()
                    proc.wait()

    return start


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bridge(start_bridge, database_url: str) -> AsyncIterator[Bridge]:
    async with start_bridge(database_url, WORKFLOW_LOGS_STREAM_PING_SECONDS=1) as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bounded_bridge(start_bridge, database_url: str) -> AsyncIterator[Bridge]:
    async with start_bridge(
        database_url,
        WORKFLOW_LOGS_MAX_STREAMS_PER_USER=2,
        WORKFLOW_LOGS_STREAM_MAX_SECONDS=3,
        WORKFLOW_LOGS_MAX_INGEST_BYTES=4096,
        WORKFLOW_LOGS_MAX_INGEST_ENTRIES=10,
    ) as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def poll_bridge(start_bridge, database_url: str) -> AsyncIterator[Bridge]:
    async with start_bridge(database_url, WORKFLOW_LOGS_LISTEN=False, WORKFLOW_LOGS_POLL_MAX=2) as server:
        yield server


# =============================================================================================
# Data
# =============================================================================================
@dataclass
class World:
    secret: str
    owner: str
    other: str
    workflow_id: str
    finished: str  # SUCCESS, 250 logs
    running: str  # RUNNING, 40 logs
    scratch_workflow_id: str  # the owner's workflow for executions that tests change
    finished_seqs: list[int] = field(default_factory=list)

    def token(self, who: str = "owner") -> str:
        if who == "owner":
            return mint_token(self.secret, sub=self.owner)
        if who == "other":
            return mint_token(self.secret, sub=self.other)
        if who == "service":
            return mint_token(self.secret, sub=None, role="service_role")
        if who == "anon":
            return mint_token(self.secret, sub=None, role="anon")
        raise ValueError(who)

    def auth(self, who: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who)}"}


FINISHED_LOGS = 250
RUNNING_LOGS = 40


async def execution_seqs(conn: asyncpg.Connection | asyncpg.Pool, execution_id: str) -> list[int]:
    rows = await conn.fetch(
        "select seq from public.workflow_execution_logs where execution_id = $1 order by seq", execution_id
    )
    return [r["seq"] for r in rows]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def world(admin_pool: asyncpg.Pool, jwt_secret: str) -> World:
    now = datetime.now(timezone.utc)
    async with admin_pool.acquire() as conn:
        owner = await factories.make_user(conn)
        other = await factories.make_user(conn)
        workflow_id = await factories.make_workflow(conn, owner, name="bridge contract workflow")
        scratch_workflow_id = await factories.make_workflow(conn, owner, name="bridge scratch workflow")
        finished = await factories.make_execution(
            conn, workflow_id, status="SUCCESS", start_time=now - timedelta(hours=2)
        )
        await factories.insert_logs_bulk(
            conn,
            finished,
            FINISHED_LOGS,
            business_every=3,
            error_every=11,
            warning_every=7,
            debug_every=5,
            milestone_every=25,
            nodes=5,
            event_types=factories.EVENT_TYPES,
            start=now - timedelta(hours=2),
            step=timedelta(seconds=1),
        )
        await conn.execute(
            "update public.workflow_executions set end_time = start_time + interval '10 minutes'"
            " where execution_id = $1",
            finished,
        )
        running = await factories.make_execution(conn, workflow_id, status="RUNNING", start_time=now - timedelta(hours=1))
        await factories.insert_logs_bulk(conn, running, RUNNING_LOGS, nodes=3, start=now - timedelta(hours=1))
        w = World(jwt_secret, owner, other, workflow_id, finished, running, scratch_workflow_id)
        w.finished_seqs = await execution_seqs(conn, finished)
    return w


class Scratch:
    """Executions that a test may change, on the owner's scratch workflow."""

    def __init__(self, pool: asyncpg.Pool, world: World) -> None:
        self.pool = pool
        self.world = world

    async def execution(self, *, status: str = "RUNNING", logs: int = 0) -> str:
        async with self.pool.acquire() as conn:
            execution_id = await factories.make_execution(conn, self.world.scratch_workflow_id, status=status)
            if logs:
                await factories.insert_logs_bulk(conn, execution_id, logs, nodes=2)
        return execution_id

    async def append(self, execution_id: str, n: int = 1, prefix: str = "late") -> dict[str, Any]:
        """n entries through the SQL API as service_role (the way a writer without the bridge does)."""
        entries = [factories.log_entry(execution_id, f"{prefix} {i}") for i in range(n)]
        async with self.pool.acquire() as conn:
            return await factories.append_logs(conn, entries)

    async def insert_raw(self, execution_id: str, n: int) -> None:
        """n rows by a plain INSERT as the superuser (statement triggers still NOTIFY)."""
        async with self.pool.acquire() as conn:
            first = await conn.fetchval("select coalesce(max(seq), 0) + 1 from public.workflow_execution_logs")
            await factories.insert_logs_bulk(conn, execution_id, n, first=first, start=datetime.now(timezone.utc))

    async def finish(self, execution_id: str, status: str = "SUCCESS") -> None:
        await self.pool.execute(
            "update public.workflow_executions set status = $2, end_time = now() where execution_id = $1",
            execution_id,
            status,
        )

    async def seqs(self, execution_id: str) -> list[int]:
        return await execution_seqs(self.pool, execution_id)


@pytest.fixture
def scratch(admin_pool: asyncpg.Pool, world: World) -> Scratch:
    return Scratch(admin_pool, world)


@pytest_asyncio.fixture(loop_scope="session")
async def client(bridge: Bridge) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge.url, timeout=httpx.Timeout(15.0, read=60.0)) as c:
        yield c


# =============================================================================================
# SSE
# =============================================================================================
class SSEReader:
    """An SSE stream read in the background: parsed payloads, LOG seqs, and a way to wait for them."""

    def __init__(self) -> None:
        self.status_code: int | None = None
        self.headers: httpx.Headers | None = None
        self.body: bytes = b""
        self.events: list[dict[str, Any]] = []  # parsed `data` of every event
        self.ids: list[str | None] = []  # `id:` of each LOG event as received
        self.retry: int | None = None
        self.ended = False  # the server closed the stream
        self.error: BaseException | None = None
        self.transport_error: BaseException | None = None  # the connection broke (server went away)
        self._changed = asyncio.Event()

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_type"] == "LOG"]

    @property
    def seqs(self) -> list[int]:
        return [e["data"]["seq"] for e in self.logs]

    @property
    def last_seq(self) -> int | None:
        seqs = self.seqs
        return seqs[-1] if seqs else None

    @property
    def complete(self) -> dict[str, Any] | None:
        done = [e for e in self.events if e["event_type"] in ("COMPLETE", "ERROR")]
        return done[0] if done else None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[["SSEReader"], bool], timeout: float = 10.0) -> None:
        with anyio.fail_after(timeout):
            while not predicate(self):
                if self.error is not None:
                    raise AssertionError(f"stream failed: {self.error!r}") from self.error
                if self.ended and not predicate(self):
                    raise AssertionError(
                        f"stream ended before the condition held; {len(self.logs)} logs, last {self.last_seq}, "
                        f"final {self.complete}"
                    )
                await self._changed.wait()

    async def wait_seq(self, seq: int, timeout: float = 10.0) -> None:
        await self.wait_until(lambda r: (r.last_seq or 0) >= seq, timeout)

    async def wait_ended(self, timeout: float = 10.0) -> None:
        await self.wait_until(lambda r: r.ended, timeout)

    async def run(self, client: httpx.AsyncClient, path: str, params: dict | None, headers: dict | None) -> None:
        try:
            async with aconnect_sse(client, "GET", path, params=params, headers=headers) as source:
                self.status_code = source.response.status_code
                self.headers = source.response.headers
                self._notify()
                if self.status_code != 200:
                    self.body = await source.response.aread()
                    return
                async for sse in source.aiter_sse():
                    if sse.retry is not None:
                        self.retry = sse.retry
                    if not sse.data:
                        continue
                    payload = json.loads(sse.data)
                    self.events.append(payload)
                    if payload["event_type"] == "LOG":
                        self.ids.append(sse.id)
                    self._notify()
        except (httpx.TransportError, httpx.StreamError) as exc:
            # A server that goes away mid-stream ends the stream, like a closed connection does.
            self.transport_error = exc
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self.error = exc
            raise
        finally:
            self.ended = True
            self._notify()


@contextlib.asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    path: str,
    *,
    token: str | None = None,
    params: dict | None = None,
    headers: dict | None = None,
    wait_open: bool = True,
) -> AsyncIterator[SSEReader]:
    """Read `path` as SSE in a background task; leaving the block drops the connection."""
    reader = SSEReader()
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    task = asyncio.create_task(reader.run(client, path, params, hdrs))
    try:
        if wait_open:
            await reader.wait_until(lambda r: r.status_code is not None or r.ended, 10)
        yield reader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def read_stream(client: httpx.AsyncClient, path: str, timeout: float = 20.0, **kwargs) -> SSEReader:
    """A stream read until the server ends it."""
    async with open_stream(client, path, **kwargs) as reader:
        await reader.wait_ended(timeout)
    return reader


def assert_exactly_once(received: list[int], expected: list[int]) -> None:
    """Every seq of the database once, in strictly increasing order."""
    assert received == sorted(set(received)), f"not strictly increasing or duplicated: {received[:50]}..."
    missing = sorted(set(expected) - set(received))
    extra = sorted(set(received) - set(expected))
    assert not missing and not extra, f"missing {missing[:20]} (of {len(missing)}), extra {extra[:20]}"
    assert received == expected


def metric_value(text: str, name: str, labels: str | None = None) -> float:
    """One sample of a Prometheus text exposition (`name{labels} value`)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name or (labels is not None and key == f"{name}{{{labels}}}"):
            return float(value)
    raise KeyError(f"{name}{{{labels or ''}}} not in metrics")


# Helpers handed to test modules as fixtures (test modules cannot import one of two conftests by name).
@pytest.fixture(scope="session")
def open_sse():
    return open_stream


@pytest.fixture(scope="session")
def read_sse():
    return read_stream


@pytest.fixture(scope="session")
def exactly_once():
    return assert_exactly_once


@pytest.fixture(scope="session")
def metric():
    return metric_value
