"""Live fan-out: one LISTEN connection per process, one tail per watched execution.

A notification is only a hint. Each watched execution has one `Tail` holding its rendered events in a
bounded buffer; every stream of that execution sends from the buffer. A notification marks the tail
dirty; one shared reader takes all dirty tails in a wave and reads `seq > cursor` for all of them in one
query per caller identity (get_execution_log_events_batch, as one of the subscribers, so RLS still
decides). Database work therefore grows with the number of active executions, not with the number of
viewers, and a burst touching many executions costs one round trip. A stream that falls behind the buffer
catches up from the database by itself. Without a healthy listener (connection lost, or poll-only mode
behind a transaction pooler) the tails are polled with backoff, 250 ms doubling to 16 s while nothing
arrives.
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
from .metrics import LISTENER_UP, NOTIFY_TO_FETCH, NOTIFY_TO_SEND
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
        self.revoked: set[str] = set()  # identities (claims JSON) that can no longer see the execution
        # Per identity, the highest seq that identity's own read has returned: a stream sends only up to
        # it, so a log read as one viewer never reaches another whose access RLS has since withdrawn.
        self.verified: dict[str, int] = {}
        self.subscribers: dict[int, Claims] = {}
        self._wake = asyncio.Event()
        self.poked_at: float | None = None  # first notification not yet served by a read
        self.served_poke_at: float | None = None  # the notification the last published read served

    def identities(self) -> list[Claims]:
        """The distinct callers watching: the shared read runs once per identity, so RLS decides for each."""
        seen: dict[str, Claims] = {}
        for claims in self.subscribers.values():
            if claims.json not in self.revoked:
                seen.setdefault(claims.json, claims)
        return list(seen.values())

    def revoked_for(self, claims: Claims) -> bool:
        return claims.json in self.revoked

    @property
    def wake(self) -> asyncio.Event:
        """The event set at the next change; capture it before reading the buffer."""
        return self._wake

    @property
    def done(self) -> bool:
        """Finished and read up to the end by every identity still watching (nothing left to read)."""
        return self.final is not None and not self.lagging()

    def lagging(self) -> list[Claims]:
        """Identities whose own reads have not yet reached the tail's cursor."""
        return [c for c in self.identities() if self.verified.get(c.json, -1) < self.cursor]

    def events_after(self, cursor: int, claims: Claims) -> list[tuple[int, bytes]]:
        """Buffered events after `cursor` that `claims`' own reads have confirmed."""
        upto = self.verified.get(claims.json, cursor)
        i = bisect.bisect_right(self._seqs, cursor)
        j = bisect.bisect_right(self._seqs, upto)
        return list(zip(self._seqs[i:j], self._chunks[i:j]))

    def caught_up(self, cursor: int, claims: Claims) -> bool:
        return cursor >= self.cursor and self.verified.get(claims.json, -1) >= self.cursor

    def publish(self) -> None:
        woken, self._wake = self._wake, asyncio.Event()
        woken.set()

    def observe_send(self) -> None:
        """Notification-to-send lag, recorded by the first stream that sends a wave (one sample per
        wave, not one per stream)."""
        if self.served_poke_at is not None:
            NOTIFY_TO_SEND.observe(time.monotonic() - self.served_poke_at)
            self.served_poke_at = None

    def apply(self, page: dict[str, Any], claims: Claims) -> bool:
        """Take one read's result (made as `claims`); True when there is more to read right away."""
        got = False
        identity = claims.json
        confirmed = page["next_cursor"] or 0
        if confirmed > self.verified.get(identity, -1):
            self.verified[identity] = confirmed
            got = True
        for entry in page["logs"]:
            seq = entry["seq"]
            if seq > self.cursor:
                self._append(seq, events.log_event(self.execution_id, entry, realtime=True))
                self.cursor = seq
                got = True
        if page["finished"] and not page["has_more"]:
            self.final = page
        if got or self.final is not None:
            if self.poked_at is not None:
                NOTIFY_TO_FETCH.observe(time.monotonic() - self.poked_at)
            self.served_poke_at = self.poked_at
            self.poked_at = None
            self.publish()
        return bool(page["has_more"])

    def revoke(self, claims: Claims) -> None:
        self.revoked.add(claims.json)
        self.publish()

    def _append(self, seq: int, chunk: bytes) -> None:
        self._seqs.append(seq)
        self._chunks.append(chunk)
        limit = self.hub.settings.stream_buffer
        if len(self._seqs) > limit:
            drop = len(self._seqs) - limit + limit // 10
            self.covered_from = self._seqs[drop - 1]
            del self._seqs[:drop]
            del self._chunks[:drop]


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
        self._dirty: set[str] = set()
        self._work = asyncio.Event()
        self._reader: asyncio.Task | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._reader = self._spawn(self._fetch_forever(), "shared-reader")
        self._spawn(self._poll_forever(), "poller")
        self._spawn(self._tick_forever(), "ticker")
        if self.settings.listen:
            self._spawn(self._listen_forever(), "listener")
            # Wait briefly for the first LISTEN so early streams get pushed events.
            for _ in range(50):
                if self.listener_healthy:
                    break
                await asyncio.sleep(0.02)

    @property
    def reader_alive(self) -> bool:
        return self._reader is not None and not self._reader.done()

    def begin_shutdown(self) -> None:
        """Streams end now (cleanly; clients resume with Last-Event-ID elsewhere)."""
        self.closing = True
        self._work.set()
        for tail in list(self.tails.values()):
            tail.publish()

    async def close(self) -> None:
        self.begin_shutdown()
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
                for tail in list(self.tails.values()):
                    self.poke(tail)
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
                for tail in list(self.tails.values()):
                    self.poke(tail)
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
            self.poke(tail)

    # -- subscriptions ---------------------------------------------------------------------------
    def subscribe(self, execution_id: str, claims: Claims, cursor: int) -> tuple[Tail, int]:
        self._next_id += 1
        token = self._next_id
        tail = self.tails.get(execution_id)
        if tail is None:
            tail = Tail(self, execution_id, cursor)
            self.tails[execution_id] = tail
        tail.subscribers[token] = claims
        # This caller's own backfill just succeeded: whatever an earlier stream of it lost is back.
        tail.revoked.discard(claims.json)
        # The subscriber read everything up to its cursor as itself during its backfill.
        if cursor > tail.verified.get(claims.json, -1):
            tail.verified[claims.json] = cursor
        # Read once now: covers anything committed between the stream's backfill and this moment.
        self.poke(tail)
        return tail, token

    def unsubscribe(self, tail: Tail, token: int) -> None:
        tail.subscribers.pop(token, None)
        if not tail.subscribers and self.tails.get(tail.execution_id) is tail:
            del self.tails[tail.execution_id]
            self._dirty.discard(tail.execution_id)

    def poke(self, tail: Tail) -> None:
        if tail.done:
            return
        if tail.poked_at is None:
            tail.poked_at = time.monotonic()
        self._dirty.add(tail.execution_id)
        self._work.set()

    # -- the shared reader ---------------------------------------------------------------------
    async def _fetch_forever(self) -> None:
        """Read every poked execution, batched: one query per caller identity per wave."""
        while not self.closing:
            await self._work.wait()
            self._work.clear()
            wave, self._dirty = self._dirty, set()
            groups: dict[str, tuple[Claims, list[Tail]]] = {}
            for execution_id in wave:
                tail = self.tails.get(execution_id)
                if tail is None or tail.done:
                    continue
                # Once the execution is finished only the identities still behind need a read.
                for claims in tail.lagging() if tail.final is not None else tail.identities():
                    groups.setdefault(claims.json, (claims, []))[1].append(tail)
            jobs = []
            for claims, tails in groups.values():
                for i in range(0, len(tails), 200):
                    jobs.append(self._read(claims, tails[i : i + 200]))
            if jobs:
                for outcome in await asyncio.gather(*jobs, return_exceptions=True):
                    if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                        log.error("shared read failed", exc_info=outcome)

    async def _read(self, claims: Claims, tails: list[Tail]) -> None:
        try:
            async with self.db.as_caller(claims) as conn:
                pages = await data.log_events_batch(
                    conn, {t.execution_id: t.cursor for t in tails}, self.settings.stream_batch
                )
                # Hand the logs to the streams before the read-only transaction's COMMIT round trip.
                self._deliver(claims, tails, pages)
        except asyncpg.PostgresError as exc:
            log.warning("shared read of %d executions failed: %s", len(tails), exc)
            self._retry_later(tails)
        except Exception as exc:  # connection lost, pool state errors...: never let the reader die
            log.warning("shared read cannot reach the database: %r", exc)
            self._retry_later(tails)

    def _deliver(self, claims: Claims, tails: list[Tail], pages: list[dict[str, Any]]) -> None:
        by_id = {p["execution_id"]: p for p in pages}
        for tail in tails:
            page = by_id.get(tail.execution_id)
            if page is None:
                tail.revoke(claims)  # RLS no longer shows it to this caller
            elif tail.apply(page, claims) or (tail.final is not None and tail.lagging()):
                self.poke(tail)  # more right away, or another identity still has to read to the end

    def _retry_later(self, tails: list[Tail]) -> None:
        async def later() -> None:
            await asyncio.sleep(self.settings.poll_min_seconds * 4)
            for tail in tails:
                if self.tails.get(tail.execution_id) is tail:
                    self.poke(tail)

        self._spawn(later(), "retry-read")

    async def _tick_forever(self) -> None:
        """Wake every stream now and then so each sees its own deadline (streams hold no timers)."""
        interval = max(0.5, min(5.0, self.settings.stream_max_seconds / 4))
        while not self.closing:
            await asyncio.sleep(interval)
            for tail in list(self.tails.values()):
                tail.publish()

    async def _poll_forever(self) -> None:
        """The safety net: without a healthy listener, poll with backoff (250 ms doubling to 16 s while
        nothing arrives); with one, re-read every 16 s anyway (a notification is only a hint)."""
        interval = self.settings.poll_min_seconds
        while not self.closing:
            await asyncio.sleep(self.settings.poll_max_seconds if self.listener_healthy else interval)
            before = sum(t.cursor for t in self.tails.values())
            for tail in list(self.tails.values()):
                self.poke(tail)
            await asyncio.sleep(0)
            if self.listener_healthy:
                interval = self.settings.poll_min_seconds
                continue
            # Give the wave a moment, then back off if it brought nothing.
            await asyncio.sleep(min(0.05, interval))
            after = sum(t.cursor for t in self.tails.values())
            interval = self.settings.poll_min_seconds if after != before else min(interval * 2, self.settings.poll_max_seconds)
