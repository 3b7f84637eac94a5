"""The writer: `WorkflowLogger` buffers log entries and a background task sends them in batches.

    async with WorkflowLogger(PostgresSink(dsn)) as logger:
        log = logger.execution("exec-42")
        log.workflow_started("Sorting your inbox", total_steps=3)
        async with log.step("Fetch emails", node_id="fetch", step_number=1, total_steps=3) as step:
            step.info("connected to IMAP", technical_details={"host": "imap.example"})
        log.workflow_completed("Done")

A log call only enqueues (plain sync methods, thread-safe, no I/O); the flusher sends a batch when
`batch_size` entries are waiting or the oldest has waited `flush_interval` seconds. Each entry gets a
client-side UUIDv7, so a batch retried after a lost connection inserts nothing twice. Transient sink
errors are retried with exponential backoff; permanent ones are reported (a warning and
`stats.failed_batches`) and the refused entries are dropped. `SyncWorkflowLogger` runs the same core
on a background thread's event loop for threaded workers.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import enum
import logging
import random
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self

from ._errors import WorkflowLogsError
from ._redact import Redactor
from ._sinks import PermanentSinkError, Sink, TransientSinkError

__all__ = [
    "BufferFullError",
    "ExecutionLog",
    "Step",
    "SyncWorkflowLogger",
    "WorkflowLogger",
    "WriterStats",
    "current_log",
    "uuid7",
]

logger_ = logging.getLogger("workflow_logs.writer")

Overflow = Literal["block", "drop_oldest", "raise"]
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# =============================================================================================
# UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter, then 62 random bits
# =============================================================================================
_uuid_lock = threading.Lock()
_uuid_last = [0, 0]  # last millisecond, counter within it


def _uuid7_int() -> int:
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _uuid_last[0]:
            ms, counter = _uuid_last[0], _uuid_last[1] + 1
            if counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                ms, counter = ms + 1, 0
        else:
            counter = random.getrandbits(10)  # leave room to count up within the millisecond
        _uuid_last[0], _uuid_last[1] = ms, counter
    # random is reseeded in a forked child (os.register_at_fork), so children never repeat a parent's bits
    return (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | random.getrandbits(62)


def uuid7() -> uuid.UUID:
    """A time-ordered UUID; strictly increasing within this process."""
    return uuid.UUID(int=_uuid7_int())


def _uuid7_str() -> str:
    """`str(uuid7())` at a quarter of the cost (a log call takes one)."""
    h = f"{_uuid7_int():032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# =============================================================================================
# Stats and errors
# =============================================================================================
@dataclass
class WriterStats:
    enqueued: int = 0  # entries accepted into the buffer
    sent: int = 0  # entries the sink confirmed (inserted or already there)
    duplicates: int = 0  # of those, entries that a retry found already written
    dropped: int = 0  # entries discarded by the overflow policy
    retries: int = 0  # batch resends after transient errors
    failed_batches: int = 0  # batches with entries refused permanently or retried past max_retry_time
    failed_entries: int = 0  # entries lost in those batches
    truncated: int = 0  # entries cut down to the 10 KB limit
    redacted: int = 0  # entries in which something was redacted

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class BufferFullError(WorkflowLogsError, RuntimeError):
    """The buffer holds max_buffer entries and the overflow policy is "raise"."""


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


# The log handle (an execution, or a step of one) that code running now writes to. Per task and thread.
_current: contextvars.ContextVar[ExecutionLog | None] = contextvars.ContextVar(
    "workflow_logs_current", default=None
)


def current_log() -> ExecutionLog | None:
    """The ExecutionLog of the innermost active execution or step context, if any."""
    return _current.get()


# =============================================================================================
# The async core
# =============================================================================================
class WorkflowLogger:
    """Buffered, batched, retrying writer of execution logs (see the module docstring)."""

    def __init__(
        self,
        sink: Sink,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        max_buffer: int = 100_000,
        overflow: Overflow = "block",
        redactor: Redactor | None = None,
        max_retry_time: float = 60.0,
        retry_base: float = 0.05,
        retry_max: float = 5.0,
        close_timeout: float | None = 30.0,
    ) -> None:
        if overflow not in ("block", "drop_oldest", "raise"):
            raise ValueError(f"overflow must be block, drop_oldest or raise (got {overflow!r})")
        if batch_size < 1 or max_buffer < 1:
            raise ValueError("batch_size and max_buffer must be at least 1")
        self.sink = sink
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.overflow = overflow
        self.redactor = redactor or Redactor()
        self.max_retry_time = max_retry_time
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.close_timeout = close_timeout
        self._stats = WriterStats()
        self._buffer: deque[tuple[float, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._done = 0  # entries finished (sent, dropped or failed), in enqueue order
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._state = _State.UNOPENED
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._soft_overflow_warned = False

    # -- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        if self._state is _State.OPENED:
            raise RuntimeError("Cannot open a WorkflowLogger that is already open.")
        if self._state is _State.CLOSED:
            raise RuntimeError("Cannot reopen a WorkflowLogger once it has been closed.")
        await self.sink.open()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run(), name="workflow-logs-flusher")
        self._task.add_done_callback(self._flusher_done)
        self._state = _State.OPENED

    async def aclose(self) -> None:
        """Send everything enqueued (up to close_timeout seconds), then stop and close the sink."""
        if self._state is not _State.OPENED:
            self._state = _State.CLOSED
            return
        self._closing = True
        try:
            await asyncio.wait_for(self.flush(), self.close_timeout)
        except (TimeoutError, RuntimeError) as exc:
            logger_.warning(
                "workflow logs: closing with unsent entries (%s); %s", exc or "timeout", self._stats
            )
        finally:
            self._state = _State.CLOSED
            with self._space:
                self._space.notify_all()  # release blocked producers
            assert self._task is not None
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            with self._lock:
                left = len(self._buffer)
            if left:
                logger_.warning("workflow logs: %d entries were never sent", left)
            await self.sink.aclose()

    @property
    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        with self._lock:
            return WriterStats(**asdict(self._stats))

    @property
    def closed(self) -> bool:
        return self._state is _State.CLOSED

    def execution(self, execution_id: str, **defaults: Any) -> ExecutionLog:
        """A handle that writes the logs of one execution; `defaults` are fields of every entry."""
        if not execution_id:
            raise ValueError("execution_id is required")
        return ExecutionLog(self, execution_id, defaults)

    # -- enqueue (any thread, never awaits) -------------------------------------------------
    def enqueue(self, entry: dict[str, Any]) -> None:
        """Put one entry (the append_execution_logs fields) into the buffer."""
        if self._state is _State.CLOSED:
            raise RuntimeError("Cannot log through a WorkflowLogger once it has been closed.")
        # Only what must be taken now (the id and the moment); redaction, the size cap and formatting
        # happen on the flusher, off the caller's thread.
        entry.setdefault("id", _uuid7_str())
        entry.setdefault("created_at", time.time())
        wake = False
        dropped_now = 0
        with self._space:
            while len(self._buffer) >= self.max_buffer:
                if self.overflow == "drop_oldest":
                    self._buffer.popleft()
                    self._stats.dropped += 1
                    self._done += 1
                    dropped_now += 1
                elif self.overflow == "raise":
                    raise BufferFullError(
                        f"the log buffer holds {self.max_buffer} entries (overflow='raise')"
                    )
                elif threading.get_ident() == self._loop_thread or self._state is not _State.OPENED:
                    # blocking here would stop the flusher itself: admit past the bound, say so once
                    if not self._soft_overflow_warned:
                        self._soft_overflow_warned = True
                        logger_.warning(
                            "workflow logs: buffer over max_buffer=%d on the event loop thread, which cannot"
                            " block; await logger.flush() now and then or use overflow='drop_oldest'",
                            self.max_buffer,
                        )
                    break
                else:
                    self._space.wait(0.5)
                    if self._state is _State.CLOSED:
                        raise RuntimeError("WorkflowLogger closed while waiting for buffer space")
            self._buffer.append((time.monotonic(), entry))
            self._stats.enqueued += 1
            size = len(self._buffer)
            wake = size == 1 or size == self.batch_size
            dropped_total = self._stats.dropped
        if dropped_now:
            if dropped_total == dropped_now or dropped_total // 1000 != (dropped_total - dropped_now) // 1000:
                logger_.warning(
                    "workflow logs: buffer full (max_buffer=%d), dropped the oldest entries; %d dropped so far",
                    self.max_buffer,
                    dropped_total,
                )
            self._call_in_loop(self._resolve_waiters)
        if wake:
            self._call_in_loop(self._poke)

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            fn()
        else:
            try:
                loop.call_soon_threadsafe(fn)
            except RuntimeError:  # the loop is closing
                pass

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- flush ------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Wait until every entry enqueued before this call is sent (or dropped, or failed)."""
        if self._state is not _State.OPENED:
            raise RuntimeError("WorkflowLogger is not open")
        with self._lock:
            target = self._stats.enqueued
            if self._done >= target:
                return
        assert self._loop is not None and self._task is not None
        if self._task.done():
            raise RuntimeError("the flusher task has stopped")
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append((target, future))
        self._poke()
        await future

    def _resolve_waiters(self) -> None:
        with self._lock:
            done = self._done
        keep = []
        for target, future in self._waiters:
            if future.done():
                continue
            if done >= target:
                future.set_result(None)
            else:
                keep.append((target, future))
        self._waiters = keep

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger_.error("workflow logs: the flusher stopped", exc_info=task.exception())
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(RuntimeError("the flusher task has stopped"))
        self._waiters = []

    # -- the flusher ------------------------------------------------------------------------
    # One send is in flight at a time (batches commit in the order they were logged, so seq order is
    # log order), and the next batch is prepared (redacted, capped, formatted) while it is: the CPU work
    # of this process overlaps the database's.
    async def _run(self) -> None:
        assert self._wake is not None
        in_flight: asyncio.Task[None] | None = None
        in_flight_n = 0
        try:
            while True:
                self._wake.clear()
                batch, timeout = self._take()
                if batch is None:
                    if in_flight is not None:
                        await self._settle(in_flight, in_flight_n)
                        in_flight = None
                        continue
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout)
                    except TimeoutError:
                        pass
                    continue
                prepared = self._prepared(batch)
                if in_flight is not None:
                    await self._settle(in_flight, in_flight_n)
                    in_flight = None
                if prepared is None:
                    self._finished(len(batch))
                    continue
                in_flight = asyncio.create_task(self._deliver(prepared), name="workflow-logs-send")
                in_flight_n = len(batch)
                await asyncio.sleep(0)  # let the send reach the network before preparing the next batch
        finally:
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await in_flight

    def _take(self) -> tuple[list[dict[str, Any]] | None, float | None]:
        """The next batch when one is due, else None and how long to wait before one is."""
        with self._space:
            n = len(self._buffer)
            age = time.monotonic() - self._buffer[0][0] if n else 0.0
            urgent = self._closing or any(not f.done() for _, f in self._waiters)
            if n and (n >= self.batch_size or urgent or age >= self.flush_interval):
                batch = [self._buffer.popleft()[1] for _ in range(min(n, self.batch_size))]
                self._space.notify_all()
                return batch, None
        return None, (None if n == 0 else max(self.flush_interval - age, 0.001))

    async def _settle(self, task: asyncio.Task[None], n: int) -> None:
        try:
            await task
        finally:
            self._finished(n)

    def _finished(self, n: int) -> None:
        with self._lock:
            self._done += n
        self._resolve_waiters()

    def _prepared(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        try:
            return self._prepare(batch)
        except Exception as exc:  # a bug in a redaction pattern: report the batch, keep the flusher
            logger_.exception("workflow logs: preparing a batch failed")
            self._fail(batch, repr(exc), counted=False)
            return None

    def _prepare(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Redact, cap at the entry size limit and format the timestamps of a batch about to be sent."""
        prepared = []
        truncated = redacted = 0
        for entry in batch:
            created = entry.get("created_at")
            if isinstance(created, float):
                entry["created_at"] = datetime.fromtimestamp(created, UTC).isoformat()
            p = self.redactor.prepare(entry)
            truncated += p.truncated
            redacted += p.redacted
            prepared.append(p.entry)
        with self._lock:
            self._stats.truncated += truncated
            self._stats.redacted += redacted
        return prepared

    async def _deliver(self, batch: list[dict[str, Any]]) -> None:
        """Send a prepared batch, retrying transient failures; never raises but for cancellation."""
        started = time.monotonic()
        attempt = 0
        failed = False
        while batch:
            try:
                result = await self.sink.send(batch)
            except TransientSinkError as exc:
                elapsed = time.monotonic() - started
                if elapsed >= self.max_retry_time:
                    self._fail(batch, f"still failing after {elapsed:.0f}s: {exc}", counted=failed)
                    return
                delay = min(self.retry_max, self.retry_base * 2**attempt) * (0.5 + random.random() / 2)
                attempt += 1
                with self._lock:
                    self._stats.retries += 1
                logger_.info(
                    "workflow logs: batch of %d failed (%s); retry %d in %.2fs",
                    len(batch),
                    exc,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            except PermanentSinkError as exc:
                refused = self._refused(batch, exc)
                if not refused:
                    self._fail(batch, str(exc), counted=failed)
                    return
                self._fail([batch[i] for i in refused], str(exc), counted=failed)
                failed = True
                batch = [e for i, e in enumerate(batch) if i not in refused]
                continue
            except Exception as exc:  # a bug in a sink: report the batch instead of killing the flusher
                logger_.exception("workflow logs: the sink raised unexpectedly")
                self._fail(batch, repr(exc), counted=failed)
                return
            with self._lock:
                self._stats.sent += len(batch)
                self._stats.duplicates += result.duplicates
            return

    @staticmethod
    def _refused(batch: list[dict[str, Any]], exc: PermanentSinkError) -> set[int]:
        if exc.index is not None and 0 <= exc.index < len(batch):
            return {exc.index}
        if exc.execution_id is not None:
            return {i for i, e in enumerate(batch) if e.get("execution_id") == exc.execution_id}
        return set()

    def _fail(self, entries: list[dict[str, Any]], reason: str, *, counted: bool) -> None:
        with self._lock:
            self._stats.failed_entries += len(entries)
            if not counted:
                self._stats.failed_batches += 1
        logger_.warning("workflow logs: %d log entries were refused and dropped: %s", len(entries), reason)


# =============================================================================================
# Handles
# =============================================================================================
def _progress(step_number: int | None, total_steps: int | None) -> float | None:
    if step_number is None or not total_steps:
        return None
    return round(min(max(step_number / total_steps * 100, 0.0), 100.0), 2)


class ExecutionLog:
    """Writes the logs of one execution; every method only enqueues.

    Keyword fields (any of them on any method): level, log_category / category, data, node_id,
    node_name, node_type, step_number, total_steps, progress_percentage, duration_seconds,
    user_friendly_message, display_priority, is_milestone, technical_details, stack_trace,
    performance_metrics. `progress_percentage` follows from step_number / total_steps when not given.
    Also a context manager (sync or async) making it the current log for `WorkflowLogHandler`.
    """

    def __init__(self, writer: WorkflowLogger, execution_id: str, defaults: dict[str, Any]) -> None:
        self.writer = writer
        self.execution_id = execution_id
        self.defaults = defaults
        # per (thread, task): the same handle may be entered concurrently by several of them
        self._tokens: dict[tuple[int, int], list[contextvars.Token[ExecutionLog | None]]] = {}

    def bind(self, **defaults: Any) -> ExecutionLog:
        """The same execution with more default fields (for example a step's node)."""
        return ExecutionLog(self.writer, self.execution_id, {**self.defaults, **defaults})

    # -- the generic call -------------------------------------------------------------------
    def log(self, event_type: str, message: str, *, category: str | None = None, **fields: Any) -> None:
        entry: dict[str, Any] = {**self.defaults, **{k: v for k, v in fields.items() if v is not None}}
        if category is not None:
            entry["log_category"] = category
        if "level" in entry:
            entry["level"] = str(entry["level"]).upper()
            if entry["level"] == "WARN":
                entry["level"] = "WARNING"
        if entry.get("duration_seconds") is not None:
            entry["duration_seconds"] = max(round(entry["duration_seconds"]), 0)
        if "progress_percentage" not in entry:
            step = entry.get("step_number")
            if event_type == "step_started" and step is not None:
                step -= 1  # the step has not been done yet
            progress = _progress(step, entry.get("total_steps"))
            if progress is not None:
                entry["progress_percentage"] = progress
        entry.update(execution_id=self.execution_id, event_type=event_type, message=str(message))
        self.writer.enqueue(entry)

    # -- one helper per event type ----------------------------------------------------------
    def workflow_started(self, message: str = "Workflow started", **fields: Any) -> None:
        fields.setdefault("is_milestone", True)
        self.log("workflow_started", message, category=fields.pop("category", "business"), **fields)

    def workflow_progress(self, message: str, **fields: Any) -> None:
        self.log("workflow_progress", message, category=fields.pop("category", "business"), **fields)

    def workflow_completed(self, message: str = "Workflow completed", **fields: Any) -> None:
        fields.setdefault("is_milestone", True)
        self.log("workflow_completed", message, category=fields.pop("category", "business"), **fields)

    def step_started(self, message: str, **fields: Any) -> None:
        self.log("step_started", message, category=fields.pop("category", "business"), **fields)

    def step_input(self, message: str, **fields: Any) -> None:
        self.log("step_input", message, category=fields.pop("category", "technical"), **fields)

    def step_output(self, message: str, **fields: Any) -> None:
        self.log("step_output", message, category=fields.pop("category", "technical"), **fields)

    def step_completed(self, message: str, **fields: Any) -> None:
        self.log("step_completed", message, category=fields.pop("category", "business"), **fields)

    def step_error(self, message: str, *, exc: BaseException | None = None, **fields: Any) -> None:
        fields.setdefault("level", "ERROR")
        if exc is not None and "stack_trace" not in fields:
            fields["stack_trace"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log("step_error", message, category=fields.pop("category", "business"), **fields)

    def separator(self, message: str = "", **fields: Any) -> None:
        self.log("separator", message, category=fields.pop("category", "business"), **fields)

    # -- technical logs (event type step_output) --------------------------------------------
    def technical(self, level: str, message: str, **fields: Any) -> None:
        event_type = fields.pop("event_type", "step_output")
        self.log(event_type, message, category=fields.pop("category", "technical"), level=level, **fields)

    def debug(self, message: str, **fields: Any) -> None:
        self.technical("DEBUG", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.technical("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.technical("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.technical("ERROR", message, **fields)

    def critical(self, message: str, **fields: Any) -> None:
        self.technical("CRITICAL", message, **fields)

    # -- steps ------------------------------------------------------------------------------
    def step(
        self,
        name: str,
        *,
        node_id: str | None = None,
        node_type: str | None = None,
        step_number: int | None = None,
        total_steps: int | None = None,
        **fields: Any,
    ) -> Step:
        """`async with log.step("Fetch emails", node_id="fetch", step_number=1, total_steps=3) as step:`
        (or a plain `with`): step_started on entry, step_completed with duration_seconds on exit, or
        step_error with the stack trace when the body raises (the exception propagates)."""
        node = {
            k: v
            for k, v in {
                "node_id": node_id,
                "node_name": name,
                "node_type": node_type,
                "step_number": step_number,
                "total_steps": total_steps,
            }.items()
            if v is not None
        }
        return Step(self.bind(**node), name, fields)

    # -- the current-log context ------------------------------------------------------------
    def _stack_key(self) -> tuple[int, int]:
        try:
            task = id(asyncio.current_task())
        except RuntimeError:  # no running loop in this thread
            task = 0
        return threading.get_ident(), task

    def __enter__(self) -> Self:
        self._tokens.setdefault(self._stack_key(), []).append(_current.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        key = self._stack_key()
        tokens = self._tokens[key]
        _current.reset(tokens.pop())
        if not tokens:
            del self._tokens[key]

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


class Step:
    """The context manager returned by `ExecutionLog.step(...)`; yields the step's bound ExecutionLog."""

    def __init__(self, log: ExecutionLog, name: str, fields: dict[str, Any]) -> None:
        self.log = log
        self.name = name
        self.fields = fields
        self._started: float | None = None
        self._token: contextvars.Token[ExecutionLog | None] | None = None

    def __enter__(self) -> ExecutionLog:
        self.log.step_started(f"{self.name} started", **self.fields)
        self._started = time.monotonic()
        self._token = _current.set(self.log)
        return self.log

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        assert self._started is not None and self._token is not None
        _current.reset(self._token)
        elapsed = time.monotonic() - self._started
        timing = {
            "duration_seconds": elapsed,
            "performance_metrics": {"duration_ms": round(elapsed * 1000, 3)},
        }
        if exc is None:
            self.log.step_completed(f"{self.name} completed", **timing)
        else:
            self.log.step_error(
                f"{self.name} failed: {exc_type.__name__ if exc_type else 'error'}: {exc}",
                exc=exc,
                **timing,
            )
        return False

    async def __aenter__(self) -> ExecutionLog:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        return self.__exit__(exc_type, exc, tb)


# =============================================================================================
# The sync facade
# =============================================================================================
class SyncWorkflowLogger:
    """`WorkflowLogger` for threaded code: the async core runs on a background thread's event loop.

        with SyncWorkflowLogger(PostgresSink(dsn)) as logger:
            log = logger.execution("exec-42")
            with log.step("Fetch", node_id="fetch"):
                ...
            logger.flush()

    Closing (or interpreter exit, through atexit) flushes what was enqueued.
    """

    def __init__(self, sink: Sink, **options: Any) -> None:
        self._sink = sink
        self._options = options
        self._core: WorkflowLogger | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._state = _State.UNOPENED

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        if self._state is not _State.UNOPENED:
            raise RuntimeError("Cannot reopen a SyncWorkflowLogger (it is open or was closed).")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="workflow-logs-writer", daemon=True
        )
        self._thread.start()
        self._core = WorkflowLogger(self._sink, **self._options)
        try:
            self._call(self._core.open())
        except BaseException:
            self._stop_loop()
            raise
        self._state = _State.OPENED
        atexit.register(self.close)

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _stop_loop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    @property
    def core(self) -> WorkflowLogger:
        if self._core is None:
            raise RuntimeError("SyncWorkflowLogger is not open")
        return self._core

    @property
    def stats(self) -> WriterStats:
        return self.core.stats

    def execution(self, execution_id: str, **defaults: Any) -> ExecutionLog:
        return self.core.execution(execution_id, **defaults)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every entry enqueued so far is sent (or dropped, or failed)."""
        if self._state is not _State.OPENED:
            raise RuntimeError("SyncWorkflowLogger is not open")
        self._call(self.core.flush(), timeout)

    def close(self) -> None:
        if self._state is not _State.OPENED:
            self._state = _State.CLOSED
            return
        self._state = _State.CLOSED
        atexit.unregister(self.close)
        try:
            self._call(self.core.aclose())
        finally:
            self._stop_loop()
