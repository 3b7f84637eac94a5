"""The ingest-logs edge function end to end: Deno running supabase/functions/ingest-logs/index.ts on a
free port against the session's scratch database, written to through SupabaseSink and HttpSink, read
back through a real bridge, and answering bad requests exactly as the bridge does.

Deno runs the function with `deno run` and DENO_SERVE_ADDRESS (Deno's own way to place `Deno.serve`),
not `deno serve`, which requires `export default { fetch }` where Supabase requires `Deno.serve(...)`.
The requests reach it under every path shape a deployment sees: `/functions/v1/ingest-logs/...` (a
supabase client pointed at the function's address), `/ingest-logs/...` (what Supabase hands a deployed
function) and the bare contract path.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import asyncpg
import factories
import httpx
import pytest
import pytest_asyncio
from bridge_process import free_port, spawn, wait_answering
from workflow_logs import (
    HttpSink,
    PermanentSinkError,
    SupabaseSink,
    TransientSinkError,
    WorkflowLogger,
    uuid7,
)
from workflow_logs_bridge.auth import mint_token

REPO = Path(__file__).resolve().parents[2]
DENO = REPO / "node_modules" / ".bin" / "deno"
FUNCTION_DIR = REPO / "supabase" / "functions" / "ingest-logs"
START_TIMEOUT = 30.0
FAST = {"flush_interval": 0.02, "retry_base": 0.01, "retry_max": 0.1}
MAX_BYTES = 64 * 1024
MAX_ENTRIES = 50



@pytest.fixture(autouse=True)
def _deno_installed() -> None:
    # `make test` installs Deno (install-deno): a machine without it fails here, saying how to get it,
    # rather than skipping the edge function's only end-to-end tests.
    if not DENO.exists():
        pytest.fail(f"Deno not found at {DENO}: run `make install-deno` (npm ci)", pytrace=False)


@dataclass
class Stack:
    function_url: str  # where Deno listens (the Supabase project URL, for a supabase client)
    bridge_url: str
    secret: str
    service_key: str  # SUPABASE_SERVICE_ROLE_KEY as the function knows it (not a JWT)
    user_id: str
    other_user_id: str
    workflow_id: str
    function_log: Path

    def service_jwt(self) -> str:
        return mint_token(self.secret, sub=None, role="service_role")

    def user_token(self, user_id: str | None = None) -> str:
        return mint_token(self.secret, sub=user_id or self.user_id)


def spawn_function(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Deno running the function as Supabase would (index.ts calls Deno.serve); output to `log_path`."""
    command = [
        str(DENO), "run", "--quiet", "--frozen", "--allow-net", "--allow-env",
        "--config", str(FUNCTION_DIR / "deno.json"), str(FUNCTION_DIR / "index.ts"),
    ]  # fmt: skip
    with open(log_path, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)


async def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _wait_function(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"deno exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                await client.get("/")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError(
        f"the function did not answer within {START_TIMEOUT}s:\n{log_path.read_text()[-4000:]}"
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(database_url: str, admin_pool: asyncpg.Pool, tmp_path_factory) -> AsyncIterator[Stack]:
    secret = secrets.token_urlsafe(48)
    service_key = "sb_secret_" + secrets.token_urlsafe(24)
    logs = tmp_path_factory.mktemp("edge")
    fn_port, bridge_port = free_port(), free_port()
    fn_log = logs / "function.log"
    env = dict(
        os.environ,
        DENO_SERVE_ADDRESS=f"tcp:127.0.0.1:{fn_port}",
        SUPABASE_DB_URL=database_url,
        SUPABASE_SERVICE_ROLE_KEY=service_key,
        SUPABASE_JWT_SECRET=secret,
        WORKFLOW_LOGS_MAX_INGEST_BYTES=str(MAX_BYTES),
        WORKFLOW_LOGS_MAX_INGEST_ENTRIES=str(MAX_ENTRIES),
        NO_COLOR="1",
    )
    fn = spawn_function(env, fn_log)
    bridge_log = logs / "bridge.log"
    bridge = spawn(
        bridge_port,
        {
            "DATABASE_URL": database_url,
            "SUPABASE_JWT_SECRET": secret,
            "WORKFLOW_LOGS_ENV": "test",
            "WORKFLOW_LOGS_POOL_MIN": 1,
            "WORKFLOW_LOGS_MAX_INGEST_BYTES": MAX_BYTES,
            "WORKFLOW_LOGS_MAX_INGEST_ENTRIES": MAX_ENTRIES,
        },
        bridge_log,
        log_level="WARNING",
    )
    try:
        fn_url, bridge_url = f"http://127.0.0.1:{fn_port}", f"http://127.0.0.1:{bridge_port}"
        await _wait_function(fn_url, fn, fn_log)
        await wait_answering(bridge_url, bridge, bridge_log)
        async with admin_pool.acquire() as conn:
            user = await factories.make_user(conn)
            other = await factories.make_user(conn)
            workflow = await factories.make_workflow(conn, user, name="edge workflow")
        yield Stack(fn_url, bridge_url, secret, service_key, user, other, workflow, fn_log)
    finally:
        await _stop(fn)
        await _stop(bridge)


async def new_execution(pool: asyncpg.Pool, stack: Stack, execution_id: str | None = None) -> str:
    async with pool.acquire() as conn:
        return await factories.make_execution(conn, stack.workflow_id, execution_id=execution_id)


async def read_back(stack: Stack, execution_id: str, user_id: str | None = None) -> httpx.Response:
    """The execution's logs as its owner reads them, through the bridge."""
    async with httpx.AsyncClient(base_url=stack.bridge_url, timeout=10) as client:
        return await client.get(
            f"/v2/workflows/executions/{quote(execution_id, safe='')}/logs",
            params={"limit": 1000},
            headers={"Authorization": f"Bearer {stack.user_token(user_id)}"},
        )


async def messages(stack: Stack, execution_id: str) -> list[str]:
    response = await read_back(stack, execution_id)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total_count"] == len(page["logs"])
    return [log["message"] for log in page["logs"]]


class AckLosing:
    """Loses the answer to its sink's first send (the function committed it)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.calls = 0

    async def open(self) -> None:
        await self.sink.open()

    async def aclose(self) -> None:
        await self.sink.aclose()

    async def send(self, entries):
        self.calls += 1
        result = await self.sink.send(entries)
        if self.calls == 1:
            raise TransientSinkError("connection reset before the response")
        return result


# =============================================================================================
# Writing through the function
# =============================================================================================
async def test_supabase_sink_writes_through_the_function_and_a_retried_batch_does_not_duplicate(
    stack: Stack, admin_pool: asyncpg.Pool
):
    plain = await new_execution(admin_pool, stack)
    odd = await new_execution(admin_pool, stack, execution_id=f"edge run {uuid7().hex[:8]} 100% ü:é")
    sink = AckLosing(SupabaseSink(stack.function_url, stack.service_key))
    async with WorkflowLogger(sink, batch_size=40, **FAST) as logger:
        a, b = logger.execution(plain), logger.execution(odd)
        with anyio.fail_after(30):
            for i in range(100):
                (a if i % 2 else b).info(f"edge {i}", data={"i": i})
            async with a.step("Through the edge", node_id="edge", step_number=1, total_steps=1):
                pass
            await logger.flush()
        stats = logger.stats
    assert stats.retries == 1 and stats.duplicates == 40 and stats.sent == 102
    got_plain = await messages(stack, plain)
    assert got_plain[:50] == [f"edge {i}" for i in range(1, 100, 2)] and len(got_plain) == 52
    got_odd = await messages(stack, odd)
    assert got_odd == [f"edge {i}" for i in range(0, 100, 2)]
    rows = await admin_pool.fetch(
        "select id from public.workflow_execution_logs where execution_id = any($1::text[])", [plain, odd]
    )
    assert len(rows) == 102 == len({r["id"] for r in rows})


async def test_http_sink_works_against_the_function_under_each_path_shape(
    stack: Stack, admin_pool: asyncpg.Pool
):
    execution_id = await new_execution(admin_pool, stack)
    bases = [
        f"{stack.function_url}/functions/v1/ingest-logs",  # the project URL's shape
        stack.function_url,  # the bare contract path, as the bridge serves it
    ]
    keys = [stack.service_jwt(), stack.service_key]
    sent: list[str] = []
    for n, (base, key) in enumerate(zip(bases, keys)):
        sink = HttpSink(base, key, max_entries=7)
        try:
            entries = [factories.log_entry(execution_id, f"http {n}.{i}", id=str(uuid7())) for i in range(20)]
            first, again = await sink.send(entries), await sink.send(entries)
        finally:
            await sink.aclose()
        assert (first.inserted, first.duplicates) == (20, 0)
        assert (again.inserted, again.duplicates) == (0, 20)
        sent += [e["message"] for e in entries]
    # Supabase hands a deployed function the path behind its name.
    async with httpx.AsyncClient(base_url=stack.function_url) as client:
        response = await client.post(
            f"/ingest-logs/v2/executions/{execution_id}/logs",
            json={"logs": [factories.log_entry(execution_id, "deployed shape")]},
            headers={"Authorization": f"Bearer {stack.service_key}"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 1
    got = await messages(stack, execution_id)
    assert sorted(got[:-1]) == sorted(sent) and got[-1] == "deployed shape"  # chunks go concurrently


async def test_sink_errors_through_the_function_are_permanent_and_name_the_entry(
    stack: Stack, admin_pool: asyncpg.Pool
):
    execution_id = await new_execution(admin_pool, stack)
    sink = SupabaseSink(stack.function_url, stack.service_key)
    try:
        with pytest.raises(PermanentSinkError) as missing:
            await sink.send([factories.log_entry("no-such-execution", "x", id=str(uuid7()))])
        assert missing.value.execution_id == "no-such-execution" and "HTTP 404" in str(missing.value)
        bad = [
            factories.log_entry(execution_id, "ok", id=str(uuid7())),
            factories.log_entry(execution_id, "bad", level="LOUD"),
        ]
        with pytest.raises(PermanentSinkError) as invalid:
            await sink.send(bad)
        assert invalid.value.index == 1 and "level" in str(invalid.value)
        with pytest.raises(PermanentSinkError, match="cannot be named"):
            await sink.send([factories.log_entry("a/b", "x")])
    finally:
        await sink.aclose()
    for key in ("not-the-key", mint_token(stack.secret, sub=stack.user_id)):
        wrong = SupabaseSink(stack.function_url, key)
        try:
            with pytest.raises(PermanentSinkError, match=r"HTTP (401|403)"):
                await wrong.send([factories.log_entry(execution_id, "x")])
        finally:
            await wrong.aclose()
    assert await messages(stack, execution_id) == []


async def test_an_unreachable_function_is_transient():
    dead = SupabaseSink(f"http://127.0.0.1:{free_port()}", "k", timeout=2)
    try:
        with pytest.raises(TransientSinkError):
            await dead.send([factories.log_entry("e", "x")])
    finally:
        await dead.aclose()


# =============================================================================================
# The same answers as the bridge
# =============================================================================================
async def test_the_function_answers_bad_requests_with_the_bridges_statuses_and_bodies(
    stack: Stack, admin_pool: asyncpg.Pool
):
    execution_id = await new_execution(admin_pool, stack)
    other_execution = await new_execution(admin_pool, stack)
    service = {"Authorization": f"Bearer {stack.service_jwt()}"}
    user = {"Authorization": f"Bearer {stack.user_token()}"}
    expired = {
        "Authorization": "Bearer " + mint_token(stack.secret, sub=None, role="service_role", ttl_seconds=-60)
    }
    path = f"/v2/executions/{execution_id}/logs"
    entry = factories.log_entry(execution_id, "x")
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("no token", {"json": [entry]}, 401),
        ("not a JWT", {"json": [entry], "headers": {"Authorization": "Bearer nonsense"}}, 401),
        ("expired", {"json": [entry], "headers": expired}, 401),
        ("a user's token", {"json": [entry], "headers": user}, 403),
        ("not JSON", {"content": b"[{", "headers": service}, 422),
        ("not an array", {"json": {"entries": []}, "headers": service}, 422),
        (
            "another path's execution",
            {"json": [factories.log_entry(other_execution, "x")], "headers": service},
            422,
        ),
        ("invalid entry", {"json": [{**entry, "level": "LOUD"}], "headers": service}, 422),
        ("too many entries", {"json": [entry] * (MAX_ENTRIES + 1), "headers": service}, 413),
        ("too many bytes", {"json": [{**entry, "message": "m" * MAX_BYTES}], "headers": service}, 413),
    ]
    async with (
        httpx.AsyncClient(base_url=stack.function_url, timeout=10) as fn,
        httpx.AsyncClient(base_url=stack.bridge_url, timeout=10) as bridge,
    ):
        for name, request, status in cases:
            got = await fn.post(f"/functions/v1/ingest-logs{path}", **request)
            want = await bridge.post(path, **request)
            assert (name, got.status_code) == (name, status) == (name, want.status_code), (
                got.text,
                want.text,
            )
            got_body, want_body = got.json(), want.json()
            assert set(got_body) == set(want_body) and got_body["request_id"], (name, got_body, want_body)
            if name == "not JSON":  # the parser's own words differ between Python and JavaScript
                assert got_body["detail"].startswith("body is not valid JSON: ")
            elif name == "no token":
                assert got_body["detail"].startswith("missing token: send Authorization: Bearer <token>")
            else:
                assert got_body["detail"] == want_body["detail"], name
            assert got.headers.get("www-authenticate") == want.headers.get("www-authenticate"), name
        unknown = factories.log_entry("no-such-execution", "x")
        got = await fn.post(
            "/functions/v1/ingest-logs/v2/executions/no-such-execution/logs", json=[unknown], headers=service
        )
        want = await bridge.post("/v2/executions/no-such-execution/logs", json=[unknown], headers=service)
        assert got.status_code == want.status_code == 404
        assert {k: v for k, v in got.json().items() if k != "request_id"} == {
            k: v for k, v in want.json().items() if k != "request_id"
        }
        got = await fn.get(f"/functions/v1/ingest-logs{path}", headers=service)
        assert got.status_code == 405 and got.headers["allow"] == "POST"
        got = await fn.post("/functions/v1/ingest-logs/v2/somewhere-else", json=[], headers=service)
        assert got.status_code == 404 and got.json()["detail"] == "Not Found"
    assert await messages(stack, execution_id) == []
    assert await messages(stack, other_execution) == []
    log_text = stack.function_log.read_text()
    assert stack.service_key not in log_text and stack.service_jwt().split(".")[2] not in log_text
