"""Live fan-out: one LISTEN connection per process, one tail per watched execution.

A notification is only a hint. Each watched execution has one `Tail` that, when poked, reads
`seq > cursor` once (as one of its subscribers, so RLS still decides) and keeps the rendered events in a
bounded buffer; every stream of that execution sends from the buffer. Database work therefore grows with
the number of active executions, not with the number of viewers. A stream that falls behind the buffer
catches up from the database by itself. Without a healthy listener (connection lost, or poll-only mode
behind a transaction pooler) each tail polls with backoff, 250 ms doubling to 16 s while nothing arrives.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import time
from typing import Any

import asyncpg

from . import db as data
from . import events
from .auth import Claims
from .metrics import LISTENER_UP, NOTIFY_TO_FETCH
from .settings import Settings

CHANNEL = "workflow_execution_logs"
log = logging.getLogger("workflow_logs_bridge.hub")


class Tail:
    """The live end of one execution, shared by all its streams."""

    def __init__(self, hub: "Hub", execution_id: str, cursor: int) -> None:
        self.hub = hub
        self.execution_id = execution_id
        self.cursor = cursor  # highest seq read
        self.covered_from = cursor  # the buffer holds every log with covered_from < seq <= cursor
        self._seqs: list[int] = []
        self._chunks: list[bytes] = []
        self.final: dict[str, Any] | None = None  # set once the execution is finished and fully read
        self.failure: str | None = None
        self.subscribers: dict[int, Claims] = {}
        self._poke = asyncio.Event()
        self._wake = asyncio.Event()
        self.poked_at: float | None = None  # first poke not yet served by a read
        self.served_poke_at: float | None = None  # the poke that the last published read served
        self.task: asyncio.Task | None = None

    # -- subscribers ---------------------------------------------------------------------------
    @property
    def wake(self) -> asyncio.Event:
        """The event set at the next change; capture it before reading the buffer."""
        return self._wake

    def events_after(self, cursor: int) -> list[tuple[int, bytes]]:
        i = bisect.bisect_right(self._seqs, cursor)
        return list(zip(self._seqs[i:], self._chunks[i:]))

    def poke(self) -> None:
        if self.poked_at is None:
            self.poked_at = time.monotonic()
        self._poke.set()

    def _publish(self) -> None:
        woken, self._wake = self._wake, asyncio.Event()
        woken.set()

    def _append(self, seq: int, chunk: bytes) -> None:
        self._seqs.append(seq)
        self._chunks.append(chunk)
        limit = self.hub.settings.stream_buffer
        if len(self._seqs) > limit:
            drop = len(self._seqs) - limit + limit // 10
            self.covered_from = self._seqs[drop - 1]
            del self._seqs[:drop]
            del self._chunks[:drop]

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        settings = self.hub.settings
        idle_interval = settings.poll_min_seconds
        try:
            while self.subscribers and not self.hub.closing:
                try:
                    got = await self._read_new()
                except asyncpg.PostgresError as exc:
                    if exc.sqlstate in ("P0002", "42501"):
                        self.failure = "execution is no longer visible to this user"
                        self._publish()
                        return
                    log.warning("tail %s read failed: %s", self.execution_id, exc)
                    got = False
                except (OSError, asyncio.TimeoutError, asyncpg.InterfaceError) as exc:
                    log.warning("tail %s cannot reach the database: %r", self.execution_id, exc)
                    got = False
                if self.final is not None:
                    return
                if self.hub.listener_healthy:
                    timeout = settings.poll_max_seconds  # safety net only; NOTIFY wakes us
                else:
                    idle_interval = settings.poll_min_seconds if got else min(idle_interval * 2, settings.poll_max_seconds)
                    timeout = idle_interval
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), timeout)
                self._poke.clear()
        finally:
            self._publish()

    async def _read_new(self) -> bool:
        """Read everything after the cursor; True when something new arrived."""
        poked_at, self.poked_at = self.poked_at, None
        got = False
        while True:
            claims = next(iter(self.subscribers.values()), None)
            if claims is None:
                return got
            async with self.hub.db.as_caller(claims) as conn:
                page = await data.log_events(conn, self.execution_id, self.cursor, self.hub.settings.stream_batch)
            for entry in page["logs"]:
                seq = entry["seq"]
                if seq > self.cursor:
                    self._append(seq, events.log_event(self.execution_id, entry, realtime=True))
                    self.cursor = seq
                    got = True
            if page["finished"] and not page["has_more"]:
                self.final = page
            if got or self.final is not None:
                if poked_at is not None:
                    NOTIFY_TO_FETCH.observe(time.monotonic() - poked_at)
                self.served_poke_at = poked_at
                self._publish()
            if not page["has_more"]:
                return got


class Hub:
    def __init__(self, settings: Settings, db: data.Database) -> None:
        self.settings = settings
        self.db = db
        self.tails: dict[str, Tail] = {}
        self.closing = False
        self.listener_healthy = False
        self._listener: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._next_id = 0

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.settings.listen:
            self._spawn(self._listen_forever(), "listener")
            # Wait briefly for the first LISTEN so early streams get pushed events.
            for _ in range(50):
                if self.listener_healthy:
                    break
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        self.closing = True
        for tail in self.tails.values():
            tail.poke()
            tail._publish()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    # -- LISTEN --------------------------------------------------------------------------------
    async def _listen_forever(self) -> None:
        backoff = self.settings.poll_min_seconds
        while not self.closing:
            try:
                conn = await asyncpg.connect(
                    self.settings.database_url,
                    server_settings={"application_name": "workflow-logs-bridge-listener"},
                    timeout=10,
                )
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("listener cannot connect: %r (retry in %.2fs)", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.poll_max_seconds)
                continue
            self._listener = conn
            self._lost = asyncio.Event()
            conn.add_termination_listener(lambda _c: self._lost.set())
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                self.listener_healthy = True
                LISTENER_UP.set(1)
                backoff = self.settings.poll_min_seconds
                log.info("listening on %s", CHANNEL)
                # Anything committed while we were not listening: every tail re-reads.
                for tail in self.tails.values():
                    tail.poke()
                while not self._lost.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._lost.wait(), 5.0)
                    if not self._lost.is_set():
                        # A half-open TCP connection never reports termination; ask.
                        await conn.fetchval("select 1", timeout=5)
            except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("listener lost: %r", exc)
            finally:
                self.listener_healthy = False
                LISTENER_UP.set(0)
                if not conn.is_closed():
                    conn.terminate()
            if not self.closing:
                log.warning("listener connection lost; tails poll until it is back")
                for tail in self.tails.values():
                    tail.poke()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.poll_max_seconds)

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        try:
            execution_id = json.loads(payload)["execution_id"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed notification %r", payload[:200])
            return
        tail = self.tails.get(execution_id)
        if tail is not None:
            tail.poke()

    # -- subscriptions -------------------------------------------------------------------------
    def subscribe(self, execution_id: str, claims: Claims, cursor: int) -> tuple[Tail, int]:
        self._next_id += 1
        token = self._next_id
        tail = self.tails.get(execution_id)
        if tail is None or tail.task is None or tail.task.done():
            tail = Tail(self, execution_id, cursor)
            self.tails[execution_id] = tail
            tail.subscribers[token] = claims
            tail.task = self._spawn(self._run_tail(tail), f"tail:{execution_id}")
        else:
            tail.subscribers[token] = claims
            tail.poke()
        return tail, token

    def unsubscribe(self, tail: Tail, token: int) -> None:
        tail.subscribers.pop(token, None)
        if not tail.subscribers:
            tail.poke()  # let the loop see it has no subscribers and end

    async def _run_tail(self, tail: Tail) -> None:
        try:
            await tail.run()
        finally:
            if self.tails.get(tail.execution_id) is tail:
                del self.tails[tail.execution_id]
