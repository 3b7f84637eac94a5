"""The SDK writer: WorkflowLogger and its sinks, redaction, truncation, the logging handler, the sync facade.

Against the session's migrated scratch database (PostgresSink) and a real bridge subprocess (HttpSink).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import factories
from bridge_process import free_port, spawn, wait_answering
import pytest
import pytest_asyncio
from workflow_logs._handler import WorkflowLogHandler
from workflow_logs._redact import REDACTED, Redactor, entry_size, jsonb_size, truncate_entry
from workflow_logs._sinks import (
    HttpSink,
    PermanentSinkError,
    PostgresSink,
    SendResult,
    TransientSinkError,
)
from workflow_logs._writer import BufferFullError, SyncWorkflowLogger, WorkflowLogger, current_log, uuid7

REPO = Path(__file__).resolve().parents[2]
FAST = {"flush_interval": 0.02, "retry_base": 0.01, "retry_max": 0.1}


# =============================================================================================
# Fixtures and helpers
# =============================================================================================
@pytest_asyncio.fixture(loop_scope="session")
async def execution_id(admin_pool: asyncpg.Pool) -> str:
    async with admin_pool.acquire() as conn:
        return (await factories.make_run(conn)).execution_id


async def rows_of(pool: asyncpg.Pool, execution_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "select *, level::text as level_text, event_type::text as event_text"
        " from public.workflow_execution_logs where execution_id = $1 order by seq",
        execution_id,
    )
    return [dict(r) for r in rows]


class MemorySink:
    """A sink in memory: optionally held shut by a gate, optionally failing on a plan."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.delay = delay
        self.failures: list[Exception] = []  # raised one per send, in order, before succeeding

    async def open(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def send(self, entries: Sequence[dict[str, Any]]) -> SendResult:
        await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        self.batches.append(list(entries))
        return SendResult(len(entries), 0)

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [e for b in self.batches for e in b]


# =============================================================================================
# Ids, redaction, truncation (no I/O)
# =============================================================================================
def test_uuid7_ids_are_version_7_and_strictly_increasing():
    ids = [uuid7() for _ in range(10_000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert abs((ids[0].int >> 80) - time.time() * 1000) < 5_000


def test_redaction_replaces_sensitive_keys_at_any_depth_case_insensitively():
    r = Redactor()
    out = r.clean(
        {
            "Password": "hunter2",
            "nested": {"API-Key": "k", "list": [{"Authorization": "Basic x"}, {"ok": 1}], "Cookie": "c=1"},
            "client_secret": "s",
            "fine": "value",
        }
    )
    assert out == {
        "Password": REDACTED,
        "nested": {"API-Key": REDACTED, "list": [{"Authorization": REDACTED}, {"ok": 1}], "Cookie": REDACTED},
        "client_secret": REDACTED,
        "fine": "value",
    }


def test_redaction_replaces_tokens_jwts_connection_passwords_and_query_secrets_in_text():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl_x-y"
    text = (
        f"auth Bearer abc123.def-456 then {jwt} via postgresql://svc:s3cr3t@db:5432/app and "
        "https://x.test/cb?api_key=K123&token=T456&page=2"
    )
    out = Redactor().redact_text(text)
    for secret in ("abc123", jwt, "s3cr3t", "K123", "T456"):
        assert secret not in out
    assert "postgresql://svc:[REDACTED]@db:5432/app" in out
    assert "page=2" in out and "Bearer [REDACTED]" in out


def test_redaction_is_configurable():
    r = Redactor(extra_keys=["ssn"], extra_patterns=[r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"])
    assert r.clean({"SSN": "1", "card": "pay 1234-5678-9012-3456 now"}) == {
        "SSN": REDACTED,
        "card": f"pay {REDACTED} now",
    }
    off = Redactor(enabled=False)
    assert off.clean({"password": "p"}) == {"password": "p"}
    assert off.redact_text("Bearer abc") == "Bearer abc"


def test_truncation_cuts_the_longest_text_first_with_a_marker():
    entry = {"message": "m" * 200, "stack_trace": "s" * 50_000, "data": {"k": "v"}}
    assert truncate_entry(entry)
    assert entry_size(entry) <= 10240
    assert entry["message"] == "m" * 200
    assert entry["stack_trace"].startswith("sss") and "…[truncated " in entry["stack_trace"]
    small = {"message": "hello"}
    assert not truncate_entry(small) and small == {"message": "hello"}


def test_truncation_replaces_oversized_json_fields_with_a_placeholder():
    entry = {"message": "x" * 3000, "technical_details": {"blob": "b" * 20_000}, "data": {"small": 1}}
    assert truncate_entry(entry)
    assert entry["technical_details"]["_truncated"] is True
    assert entry["technical_details"]["_original_bytes"] > 20_000
    assert entry["data"] == {"small": 1} and entry["message"] == "x" * 3000
    assert entry_size(entry) <= 10240


def test_truncation_counts_multibyte_text_in_bytes():
    entry = {"message": "é" * 8000, "user_friendly_message": "ü" * 4000}
    assert truncate_entry(entry)
    assert entry_size(entry) <= 10240
    entry["message"].encode()  # still valid text


async def test_jsonb_size_estimate_is_never_below_what_postgres_counts(admin_pool):
    samples = [
        {},
        {"a": 1},
        {"n": [1, 2.5, -3, 10**12, True, None], "s": "text" * 10},
        {"deep": {"deeper": {"deepest": [{"x": 1.25}, "é" * 7]}}, "k" * 40: 3},
        {f"k{i}": i * 1.5 for i in range(200)},
    ]
    for value in samples:
        actual = await admin_pool.fetchval("select pg_column_size($1::text::jsonb)", json.dumps(value))
        assert jsonb_size(value) >= actual, value


# =============================================================================================
# PostgresSink: every helper writes the right row
# =============================================================================================
async def test_every_helper_writes_its_row_with_the_given_columns(database_url, admin_pool, execution_id):
    async with WorkflowLogger(PostgresSink(database_url), **FAST) as logger:
        log = logger.execution(execution_id)
        log.workflow_started(
            "Sorting your inbox", total_steps=3, user_friendly_message="Starting", display_priority=8
        )
        log.workflow_progress("a third done", progress_percentage=33.3)
        log.step_started(
            "fetch starting",
            node_id="fetch",
            node_name="Fetch",
            node_type="imap",
            step_number=1,
            total_steps=3,
        )
        log.step_input("input", node_id="fetch", data={"folder": "INBOX"})
        log.step_output("output", node_id="fetch", data={"count": 12}, performance_metrics={"ms": 12.5})
        log.step_completed("fetch done", node_id="fetch", step_number=1, total_steps=3, duration_seconds=2.4)
        log.step_error("boom", node_id="send", stack_trace="Traceback ...", technical_details={"code": 7})
        log.separator("----")
        log.warning("slow IMAP", node_id="fetch", technical_details={"latency_ms": 900})
        log.log("step_output", "generic", level="debug", category="technical", is_milestone=True)
        log.workflow_completed("Done", user_friendly_message="All done")
        await logger.flush()
        assert logger.stats.sent == 11

    rows = await rows_of(admin_pool, execution_id)
    assert [r["event_text"] for r in rows] == [
        "workflow_started", "workflow_progress", "step_started", "step_input", "step_output", "step_completed",
        "step_error", "separator", "step_output", "step_output", "workflow_completed",
    ]  # fmt: skip
    by_message = {r["message"]: r for r in rows}
    started = by_message["Sorting your inbox"]
    assert (started["log_category"], started["is_milestone"], started["display_priority"]) == (
        "business",
        True,
        8,
    )
    assert started["user_friendly_message"] == "Starting" and started["total_steps"] == 3
    assert float(by_message["a third done"]["progress_percentage"]) == 33.3
    fetch = by_message["fetch starting"]
    assert (fetch["node_id"], fetch["node_name"], fetch["node_type"], fetch["step_number"]) == (
        "fetch",
        "Fetch",
        "imap",
        1,
    )
    assert float(fetch["progress_percentage"]) == 0.0  # step 1 of 3 has just begun
    assert (
        by_message["input"]["data"] == {"folder": "INBOX"}
        and by_message["input"]["log_category"] == "technical"
    )
    assert by_message["output"]["performance_metrics"] == {"ms": 12.5}
    done = by_message["fetch done"]
    assert done["duration_seconds"] == 2 and float(done["progress_percentage"]) == 33.33
    error = by_message["boom"]
    assert (error["level_text"], error["stack_trace"], error["technical_details"]) == (
        "ERROR",
        "Traceback ...",
        {"code": 7},
    )
    warn = by_message["slow IMAP"]
    assert (warn["level_text"], warn["log_category"], warn["technical_details"]) == (
        "WARNING",
        "technical",
        {"latency_ms": 900},
    )
    generic = by_message["generic"]
    assert (generic["level_text"], generic["is_milestone"]) == ("DEBUG", True)
    assert by_message["Done"]["user_friendly_message"] == "All done"
    assert all(uuid.UUID(str(r["id"])).version == 7 for r in rows)


async def test_step_that_raises_logs_step_error_with_the_stack_trace_and_reraises(
    database_url, admin_pool, execution_id
):
    async with WorkflowLogger(PostgresSink(database_url), **FAST) as logger:
        log = logger.execution(execution_id)
        async with log.step("Fetch emails", node_id="fetch", step_number=1, total_steps=4):
            await asyncio.sleep(0.01)
        with pytest.raises(ZeroDivisionError):
            async with log.step("Classify", node_id="classify", step_number=2, total_steps=4):
                _ = 1 / 0
        with pytest.raises(KeyError), log.step("Sync body", node_id="sync", step_number=3, total_steps=4):
            _ = {}["missing"]
        await logger.flush()

    rows = await rows_of(admin_pool, execution_id)
    summary = [(r["event_text"], r["node_id"], float(r["progress_percentage"])) for r in rows]
    assert summary == [
        ("step_started", "fetch", 0.0),
        ("step_completed", "fetch", 25.0),
        ("step_started", "classify", 25.0),
        ("step_error", "classify", 50.0),
        ("step_started", "sync", 50.0),
        ("step_error", "sync", 75.0),
    ]
    completed, error = rows[1], rows[3]
    assert completed["duration_seconds"] == 0 and completed["performance_metrics"]["duration_ms"] >= 10
    assert completed["node_name"] == "Fetch emails"
    assert error["level_text"] == "ERROR" and "ZeroDivisionError" in error["message"]
    assert "Traceback (most recent call last)" in error["stack_trace"] and "1 / 0" in error["stack_trace"]
    assert "KeyError" in rows[5]["stack_trace"]


async def test_logging_handler_puts_records_of_concurrent_tasks_on_their_own_steps(
    database_url, admin_pool, execution_id
):
    handler = WorkflowLogHandler()
    app_logger = logging.getLogger("tests.sdk.worker")
    app_logger.setLevel(logging.DEBUG)
    app_logger.addHandler(handler)
    try:
        async with WorkflowLogger(PostgresSink(database_url), **FAST) as logger:
            log = logger.execution(execution_id)
            app_logger.info("outside any execution")  # ignored

            async def worker(node: str) -> None:
                async with log.step(f"Step {node}", node_id=node):
                    for i in range(5):
                        app_logger.info("%s tick %d", node, i, extra={"tick": i})
                        await asyncio.sleep(0.001)
                    try:
                        raise ValueError(node)
                    except ValueError:
                        app_logger.exception("%s handled", node)

            with anyio.fail_after(10):
                await asyncio.gather(*(worker(f"node-{n}") for n in range(4)))
                async with log:
                    app_logger.warning("execution-level")
                assert current_log() is None
                await logger.flush()
    finally:
        app_logger.removeHandler(handler)

    rows = await rows_of(admin_pool, execution_id)
    technical = [r for r in rows if r["log_category"] == "technical"]
    assert len(technical) == 4 * 6 + 1
    for r in technical:
        if r["message"] == "execution-level":
            assert r["node_id"] is None and r["level_text"] == "WARNING"
            continue
        node = r["message"].split()[0]
        assert r["node_id"] == node and r["node_name"] == f"Step {node}"
        assert r["technical_details"]["logger"] == "tests.sdk.worker"
    handled = [r for r in technical if r["message"].endswith("handled")]
    assert all(r["level_text"] == "ERROR" and "ValueError" in r["stack_trace"] for r in handled)
    assert "outside any execution" not in {r["message"] for r in rows}
    assert {r["technical_details"]["extra"]["tick"] for r in technical if "tick" in r["message"]} == set(
        range(5)
    )


async def test_logging_handler_with_a_default_execution_takes_records_outside_any_context(
    database_url, admin_pool, execution_id
):
    async with WorkflowLogger(PostgresSink(database_url), **FAST) as logger:
        handler = WorkflowLogHandler(default=logger.execution(execution_id))
        lg = logging.getLogger("tests.sdk.default")
        lg.addHandler(handler)
        try:
            lg.warning("no context")
        finally:
            lg.removeHandler(handler)
        await logger.flush()
    assert [r["message"] for r in await rows_of(admin_pool, execution_id)] == ["no context"]


# =============================================================================================
# Retries: a dropped connection loses nothing and duplicates nothing
# =============================================================================================
class FlakyPostgresSink(PostgresSink):
    """Has its backend killed in the middle of one batch, and loses the acknowledgement of another."""

    def __init__(self, dsn: str, admin_pool: asyncpg.Pool, app_name: str) -> None:
        super().__init__(f"{dsn}{'&' if '?' in dsn else '?'}application_name={app_name}")
        self.admin_pool = admin_pool
        self.app_name = app_name
        self.calls = 0
        self.killed = 0

    async def _kill(self, *, waiting: bool = False) -> None:
        self.killed += await self.admin_pool.fetchval(
            "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity"
            " where application_name = $1 and (not $2 or wait_event_type = 'Lock')) t",
            self.app_name,
            waiting,
        )

    async def _send_killed_midway(self, entries):
        """Hold the execution's append lock so the batch waits inside append_execution_logs, kill it there."""
        async with self.admin_pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "select pg_advisory_xact_lock(hashtextextended('workflow_execution_logs:' || $1, 0))",
                entries[0]["execution_id"],
            )
            task = asyncio.ensure_future(super().send(entries))
            killed = self.killed
            with anyio.fail_after(10):
                while self.killed == killed:
                    await asyncio.sleep(0.01)
                    await self._kill(waiting=True)
        return await task

    async def send(self, entries):
        self.calls += 1
        if self.calls in (2, 5):  # the backend dies while the batch is inside the database
            return await self._send_killed_midway(entries)
        result = await super().send(entries)
        if self.calls in (3, 7):  # the batch committed, then the connection died before the answer
            await self._kill()
            raise TransientSinkError("connection lost after commit")
        return result


async def test_batches_retried_after_the_database_drops_the_connection_are_not_lost_or_duplicated(
    database_url, admin_pool, execution_id
):
    sink = FlakyPostgresSink(database_url, admin_pool, f"wl_flaky_{uuid.uuid4().hex[:8]}")
    total = 2000
    async with WorkflowLogger(sink, batch_size=200, **FAST) as logger:
        log = logger.execution(execution_id)
        with anyio.fail_after(30):
            for i in range(total):
                log.info(f"entry {i}", data={"i": i})
                if i % 100 == 0:
                    await asyncio.sleep(0)
            await logger.flush()
        stats = logger.stats

    assert sink.killed >= 4
    assert stats.retries >= 4
    assert stats.duplicates >= 200  # the batches acknowledged too late came back as duplicates
    assert (stats.enqueued, stats.sent, stats.failed_entries, stats.dropped) == (total, total, 0, 0)
    rows = await admin_pool.fetch(
        "select id, data from public.workflow_execution_logs where execution_id = $1", execution_id
    )
    assert len(rows) == total
    assert len({r["id"] for r in rows}) == total
    assert sorted(r["data"]["i"] for r in rows) == list(range(total))


async def test_a_permanently_refused_entry_is_reported_and_the_rest_of_its_batch_is_written(
    database_url, admin_pool, execution_id, caplog
):
    async with WorkflowLogger(PostgresSink(database_url), batch_size=100, **FAST) as logger:
        log = logger.execution(execution_id)
        log.info("good 1")
        log.info("bad", display_priority=11)  # the table allows 1..10
        log.info("good 2")
        logger.execution("no-such-execution").info("orphan")
        with caplog.at_level(logging.WARNING, logger="workflow_logs.writer"):
            with anyio.fail_after(10):
                await logger.flush()
        stats = logger.stats
    assert stats.failed_batches == 1 and stats.failed_entries == 2 and stats.sent == 2
    assert "display_priority" in caplog.text and "no-such-execution" in caplog.text
    assert [r["message"] for r in await rows_of(admin_pool, execution_id)] == ["good 1", "good 2"]


# =============================================================================================
# Redaction and truncation, through the database
# =============================================================================================
async def test_a_50kb_message_lands_truncated_with_the_marker_and_no_secret_reaches_the_database(
    database_url, admin_pool, execution_id
):
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    big = f"connect postgres://app:pa55word@db/x with Bearer tok3n {jwt} " + "x" * 50_000
    async with WorkflowLogger(PostgresSink(database_url), **FAST) as logger:
        log = logger.execution(execution_id)
        log.error(
            big,
            technical_details={"headers": {"Authorization": "Bearer tok3n"}, "password": "pa55word"},
            data={"blob": "y" * 30_000},
        )
        await logger.flush()
        assert (logger.stats.truncated, logger.stats.redacted, logger.stats.sent) == (1, 1, 1)
    row = (await rows_of(admin_pool, execution_id))[0]
    assert "…[truncated " in row["message"] and row["message"].startswith(
        "connect postgres://app:[REDACTED]@db"
    )
    assert row["data"]["_truncated"] is True
    assert row["technical_details"] == {"headers": {"Authorization": REDACTED}, "password": REDACTED}
    stored = json.dumps({k: str(v) for k, v in row.items()})
    for secret in ("pa55word", "tok3n", jwt):
        assert secret not in stored


# =============================================================================================
# Overflow policies and the client's states
# =============================================================================================
async def test_overflow_drop_oldest_keeps_the_newest_and_counts_and_warns(caplog):
    sink = MemorySink()
    sink.gate.clear()
    async with WorkflowLogger(sink, batch_size=10, max_buffer=50, overflow="drop_oldest", **FAST) as logger:
        log = logger.execution("e")
        log.info("first")  # taken by the flusher, held at the gate
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="workflow_logs.writer"):
            for i in range(200):
                log.info(f"m{i}")
        sink.gate.set()
        with anyio.fail_after(5):
            await logger.flush()
        stats = logger.stats
    assert stats.dropped == 150 and stats.enqueued == 201 and stats.sent == 51
    assert [e["message"] for e in sink.entries] == ["first"] + [f"m{i}" for i in range(150, 200)]
    assert "dropped the oldest" in caplog.text


async def test_overflow_raise_refuses_the_entry():
    sink = MemorySink()
    sink.gate.clear()
    async with WorkflowLogger(sink, batch_size=5, max_buffer=5, overflow="raise", **FAST) as logger:
        log = logger.execution("e")
        for i in range(5):
            log.info(f"m{i}")
        with pytest.raises(BufferFullError):
            log.info("one too many")
        sink.gate.set()
        with anyio.fail_after(5):
            await logger.flush()
        assert logger.stats.enqueued == 5 and logger.stats.sent == 5


async def test_overflow_block_makes_producer_threads_wait_for_space_and_loses_nothing():
    sink = MemorySink(delay=0.01)
    async with WorkflowLogger(sink, batch_size=20, max_buffer=40, overflow="block", **FAST) as logger:
        log = logger.execution("e")
        high_water = 0

        def produce(worker: int) -> None:
            nonlocal high_water
            for i in range(150):
                log.info(f"w{worker} {i}")
                high_water = max(high_water, len(logger._buffer))

        with anyio.fail_after(20):
            await asyncio.gather(*(asyncio.to_thread(produce, w) for w in range(4)))
            await logger.flush()
        stats = logger.stats
    assert stats.dropped == 0 and stats.sent == 600
    assert high_water <= 40
    assert len({e["id"] for e in sink.entries}) == 600


async def test_transient_errors_are_retried_with_the_same_ids_and_permanent_ones_are_not():
    sink = MemorySink()
    sink.failures = [
        TransientSinkError("503"),
        TransientSinkError("timeout"),
        PermanentSinkError("22023 nope"),
    ]
    async with WorkflowLogger(sink, batch_size=3, **FAST) as logger:
        log = logger.execution("e")
        for i in range(3):
            log.info(f"m{i}")
        with anyio.fail_after(5):
            await logger.flush()
        stats = logger.stats
        assert (stats.retries, stats.failed_batches, stats.failed_entries, stats.sent) == (2, 1, 3, 0)
        for i in range(3):
            log.info(f"n{i}")
        with anyio.fail_after(5):
            await logger.flush()
        assert logger.stats.sent == 3


async def test_a_closed_logger_refuses_reuse_and_close_flushes():
    sink = MemorySink()
    logger = WorkflowLogger(sink, flush_interval=10)
    async with logger:
        logger.execution("e").info("sent at close")
    assert [e["message"] for e in sink.entries] == ["sent at close"]
    with pytest.raises(RuntimeError):
        await logger.open()
    with pytest.raises(RuntimeError):
        logger.execution("e").info("too late")


async def test_batches_are_cut_by_count_and_by_age():
    sink = MemorySink()
    async with WorkflowLogger(sink, batch_size=100, flush_interval=0.1) as logger:
        log = logger.execution("e")
        for i in range(250):
            log.info(str(i))
        with anyio.fail_after(5):
            while len(sink.entries) < 200:
                await asyncio.sleep(0.005)
        assert [len(b) for b in sink.batches] == [100, 100]
        with anyio.fail_after(5):
            while len(sink.entries) < 250:  # the rest goes once it is flush_interval old, without flush()
                await asyncio.sleep(0.01)
        assert [len(b) for b in sink.batches] == [100, 100, 50]


# =============================================================================================
# The sync facade
# =============================================================================================
async def test_the_next_batch_is_prepared_while_one_send_is_in_flight_and_sends_never_overlap():
    events: list[str] = []
    in_flight = 0

    class Watching(MemorySink):
        async def send(self, entries):
            nonlocal in_flight
            in_flight += 1
            assert in_flight == 1, "two sends in flight at once"
            events.append(f"send {entries[0]['message']}")
            try:
                return await super().send(entries)
            finally:
                in_flight -= 1
                events.append(f"sent {entries[0]['message']}")

    class NotingRedactor(Redactor):
        def prepare(self, entry):
            if entry["message"].endswith("0"):
                events.append(f"prepare {entry['message']}")
            return super().prepare(entry)

    sink = Watching(delay=0.05)
    async with WorkflowLogger(sink, batch_size=10, redactor=NotingRedactor(), **FAST) as logger:
        log = logger.execution("e")
        for i in range(30):
            log.info(f"m{i}")
        with anyio.fail_after(10):
            await logger.flush()
    assert [e["message"] for e in sink.entries] == [f"m{i}" for i in range(30)]  # log order kept
    # batch 2 was prepared after batch 1 went out and before it came back; likewise batch 3
    assert events.index("prepare m10") < events.index("sent m0")
    assert events.index("send m0") < events.index("prepare m10")
    assert events.index("prepare m20") < events.index("sent m10")


async def test_sync_facade_from_threads_writes_every_step_to_the_database(
    database_url, admin_pool, execution_id
):
    handler = WorkflowLogHandler()
    lg = logging.getLogger("tests.sdk.threads")
    lg.setLevel(logging.INFO)
    lg.addHandler(handler)

    def run() -> dict[str, int]:
        with SyncWorkflowLogger(PostgresSink(database_url), batch_size=50, flush_interval=0.02) as logger:
            log = logger.execution(execution_id)

            def worker(n: int) -> None:
                with log.step(f"Thread step {n}", node_id=f"t{n}", step_number=n + 1, total_steps=4):
                    for i in range(25):
                        lg.info("t%d line %d", n, i)

            threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            logger.flush(timeout=10)
            return logger.stats.as_dict()

    try:
        with anyio.fail_after(30):
            stats = await asyncio.to_thread(run)
    finally:
        lg.removeHandler(handler)
    assert stats["sent"] == stats["enqueued"] == 4 * 27
    rows = await rows_of(admin_pool, execution_id)
    assert len(rows) == 4 * 27
    for r in rows:
        if r["event_text"] == "step_output":
            assert r["node_id"] == r["message"].split()[0]
    completed = {
        r["node_id"]: float(r["progress_percentage"]) for r in rows if r["event_text"] == "step_completed"
    }
    assert completed == {"t0": 25.0, "t1": 50.0, "t2": 75.0, "t3": 100.0}


def test_sync_facade_close_flushes_and_refuses_reuse():
    sink = MemorySink()
    logger = SyncWorkflowLogger(sink, flush_interval=10)
    with logger:
        log = logger.execution("e")
        with log.step("Only step", node_id="only"):
            log.info("inside")
    assert [e["event_type"] for e in sink.entries] == ["step_started", "step_output", "step_completed"]
    with pytest.raises(RuntimeError):
        logger.open()
    with pytest.raises(RuntimeError):
        logger.flush()


_ATEXIT_SCRIPT = """
import json, sys
from workflow_logs._sinks import SendResult
from workflow_logs._writer import SyncWorkflowLogger

class FileSink:
    async def open(self): pass
    async def aclose(self): pass
    async def send(self, entries):
        with open(sys.argv[1], "a") as f:
            for e in entries:
                f.write(json.dumps(e) + "\\n")
        return SendResult(len(entries), 0)

logger = SyncWorkflowLogger(FileSink(), flush_interval=60)
logger.open()
for i in range(3):
    logger.execution("e").info(f"line {i}")
# no close(): the atexit hook flushes
"""


def test_sync_facade_left_open_is_flushed_at_interpreter_exit(tmp_path):
    out = tmp_path / "sent.jsonl"
    subprocess.run([sys.executable, "-c", _ATEXIT_SCRIPT, str(out)], check=True, timeout=30, cwd=REPO)
    assert [json.loads(line)["message"] for line in out.read_text().splitlines()] == [
        "line 0",
        "line 1",
        "line 2",
    ]


async def test_postgres_sink_on_a_callers_pool_with_json_codecs(admin_pool, execution_id):
    sink = PostgresSink(pool=admin_pool)
    async with WorkflowLogger(sink, **FAST) as logger:
        logger.execution(execution_id).info("via the caller's pool", data={"n": 1})
        await logger.flush()
    assert not admin_pool._closed  # the sink does not close a pool it was given
    rows = await rows_of(admin_pool, execution_id)
    assert [(r["message"], r["data"]) for r in rows] == [("via the caller's pool", {"n": 1})]


@pytest_asyncio.fixture(loop_scope="session")
async def login_role(admin_pool) -> AsyncIterator[Any]:
    """Makes login roles for the test (cluster-wide, so uniquely named) and drops them afterwards."""
    made: list[str] = []

    async def make(*, member_of_service_role: bool) -> str:
        name = f"wl_worker_{uuid.uuid4().hex[:8]}"
        async with admin_pool.acquire() as conn:
            await conn.execute(f"create role {name} login noinherit")
            if member_of_service_role:
                await conn.execute(f"grant service_role to {name}")
        made.append(name)
        return name

    yield make
    async with admin_pool.acquire() as conn:
        for name in made:
            await conn.execute(f"drop role if exists {name}")


def _as_login(database_url: str, role: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


async def test_postgres_sink_as_a_login_role_that_may_become_service_role(database_url, admin_pool, execution_id, login_role):
    # Supabase's own `postgres` and a dedicated worker role are members of service_role without being it
    role = await login_role(member_of_service_role=True)
    async with WorkflowLogger(PostgresSink(_as_login(database_url, role)), **FAST) as logger:
        logger.execution(execution_id).info("from a worker role")
        await logger.flush()
        assert logger.stats.sent == 1
    assert [r["message"] for r in await rows_of(admin_pool, execution_id)] == ["from a worker role"]


async def test_postgres_sink_on_a_pool_whose_sessions_already_are_service_role(database_url, admin_pool, execution_id, login_role):
    role = await login_role(member_of_service_role=True)
    pool = await asyncpg.create_pool(
        _as_login(database_url, role), min_size=1, max_size=1, server_settings={"role": "service_role"}
    )
    try:
        assert await pool.fetchval("select current_user") == "service_role"
        async with WorkflowLogger(PostgresSink(pool=pool), **FAST) as logger:
            logger.execution(execution_id).info("plain call as service_role")
            await logger.flush()
            assert logger.stats.sent == 1 and logger.stats.failed_entries == 0
    finally:
        await pool.close()
    assert [r["message"] for r in await rows_of(admin_pool, execution_id)] == ["plain call as service_role"]


async def test_postgres_sink_refuses_at_open_a_role_that_may_not_write_logs(database_url, login_role):
    role = await login_role(member_of_service_role=False)
    logger = WorkflowLogger(PostgresSink(_as_login(database_url, role)), **FAST)
    with pytest.raises(PermanentSinkError, match=rf"role '{role}' may not write logs.*service_role"):
        await logger.open()
    assert logger.sink.pool is None  # the sink closed the pool it had opened


async def test_an_execution_handle_entered_by_concurrent_tasks_restores_each_tasks_context():
    async with WorkflowLogger(MemorySink(), **FAST) as logger:
        log = logger.execution("e")
        seen = []

        async def task(n: int) -> None:
            async with log:
                await asyncio.sleep(0.01 * (3 - n))
                seen.append(current_log() is log)
            seen.append(current_log() is None)

        with anyio.fail_after(5):
            await asyncio.gather(*(task(n) for n in range(3)))
    assert seen == [True] * 6


# =============================================================================================
# HttpSink against a real bridge
# =============================================================================================
@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def writer_bridge(database_url: str, tmp_path_factory) -> AsyncIterator[tuple[str, str]]:
    """A bridge subprocess (as tests/bridge/conftest.py starts them); yields (url, service key)."""
    from workflow_logs_bridge.auth import mint_token

    secret = uuid.uuid4().hex + uuid.uuid4().hex
    port = free_port()
    settings = {
        "DATABASE_URL": database_url,
        "SUPABASE_JWT_SECRET": secret,
        "WORKFLOW_LOGS_ENV": "test",
        "WORKFLOW_LOGS_POOL_MIN": 1,
    }
    log_path = tmp_path_factory.mktemp("writer-bridge") / "stderr.log"
    proc = spawn(port, settings, log_path, log_level="WARNING")
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_answering(url, proc, log_path)
        yield url, mint_token(secret, sub=None, role="service_role")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class AckLosingHttpSink(HttpSink):
    """Loses the answer to its first request (the bridge committed it)."""

    calls = 0

    async def send(self, entries):
        self.calls += 1
        result = await super().send(entries)
        if self.calls == 1:
            raise TransientSinkError("connection reset before the response")
        return result


async def test_http_sink_writes_through_the_bridge_and_a_retried_batch_does_not_duplicate(
    writer_bridge, admin_pool, execution_id
):
    url, key = writer_bridge
    async with admin_pool.acquire() as conn:
        other = await factories.make_execution(
            conn,
            await conn.fetchval(
                "select workflow_id::text from public.workflow_executions where execution_id = $1",
                execution_id,
            ),
        )
    sink = AckLosingHttpSink(url, key)
    async with WorkflowLogger(sink, batch_size=50, **FAST) as logger:
        a, b = logger.execution(execution_id), logger.execution(other)
        with anyio.fail_after(20):
            for i in range(120):
                (a if i % 2 else b).info(f"http {i}", data={"i": i})
            async with a.step("Over HTTP", node_id="http", step_number=1, total_steps=1):
                pass
            await logger.flush()
        stats = logger.stats
    assert stats.retries == 1 and stats.duplicates == 50 and stats.sent == 122
    rows_a, rows_b = await rows_of(admin_pool, execution_id), await rows_of(admin_pool, other)
    assert len(rows_a) == 62 and len(rows_b) == 60
    assert len({r["id"] for r in rows_a + rows_b}) == 122
    assert float(rows_a[-1]["progress_percentage"]) == 100.0 and rows_a[-1]["node_id"] == "http"


async def test_http_sink_splits_big_batches_and_maps_bridge_errors(writer_bridge, admin_pool, execution_id):
    url, key = writer_bridge
    sink = HttpSink(url, key, max_entries=7, max_bytes=4000)
    await sink.open()
    try:
        entries = [factories.log_entry(execution_id, f"chunk {i}", id=str(uuid7())) for i in range(30)]
        entries += [factories.log_entry(execution_id, "p" * 1500, id=str(uuid7())) for _ in range(5)]
        first = await sink.send(entries)
        again = await sink.send(entries)
        assert (first.inserted, first.duplicates) == (35, 0)
        assert (again.inserted, again.duplicates) == (0, 35)
        with pytest.raises(PermanentSinkError) as missing:
            await sink.send([factories.log_entry("no-such-execution", "x", id=str(uuid7()))])
        assert missing.value.execution_id == "no-such-execution"
        bad = [
            factories.log_entry(execution_id, "ok", id=str(uuid7())),
            factories.log_entry(execution_id, "bad", level="LOUD"),
        ]
        with pytest.raises(PermanentSinkError) as invalid:
            await sink.send(bad)
        assert invalid.value.index == 1 and "level" in str(invalid.value)
        with pytest.raises(PermanentSinkError):
            await HttpSink(url, "not-a-key", client=sink._client).send(entries[:1])
    finally:
        await sink.aclose()
    assert len(await rows_of(admin_pool, execution_id)) == 35


async def test_http_sink_reports_an_unreachable_bridge_as_transient():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = HttpSink(f"http://127.0.0.1:{port}", "k", timeout=2)
    try:
        with pytest.raises(TransientSinkError):
            await sink.send([factories.log_entry("e", "x")])
    finally:
        await sink.aclose()
