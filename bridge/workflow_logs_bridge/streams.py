"""One SSE stream of an execution's logs: backfill as the caller, then live from the shared tail.

`release` frees the caller's stream slot; it is idempotent and also runs as the response's background
task, so a stream that never started still gives its slot back."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg


from . import db as data
from . import events
from .auth import Claims
from .errors import TooManyStreams
from .hub import Hub
from .metrics import ACTIVE_STREAMS

log = logging.getLogger("workflow_logs_bridge.streams")


class StreamLimiter:
    """At most N concurrent streams per user (429 past it)."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: dict[str, int] = {}

    def acquire(self, identity: str) -> None:
        if self._open.get(identity, 0) >= self.per_user:
            raise TooManyStreams(f"too many concurrent streams for this user (limit {self.per_user})")
        self._open[identity] = self._open.get(identity, 0) + 1
        ACTIVE_STREAMS.inc()

    def release(self, identity: str) -> None:
        left = self._open.get(identity, 0) - 1
        if left > 0:
            self._open[identity] = left
        else:
            self._open.pop(identity, None)
        ACTIVE_STREAMS.dec()


def _render_page(execution_id: str, page: dict[str, Any], cursor: int, *, realtime: bool) -> tuple[bytes, int]:
    """The page's logs after `cursor` as one chunk of SSE events, and the new cursor."""
    parts = []
    for entry in page["logs"]:
        if entry["seq"] > cursor:
            parts.append(events.log_event(execution_id, entry, realtime=realtime))
            cursor = entry["seq"]
    return b"".join(parts), cursor


async def first_page(hub: Hub, claims: Claims, execution_id: str, cursor: int) -> dict[str, Any]:
    """Read before the response starts, so a missing execution is a 404, not a stream."""
    async with hub.db.as_caller(claims) as conn:
        return await data.log_events(conn, execution_id, cursor, hub.settings.stream_batch)


async def log_stream(
    hub: Hub,
    release: Callable[[], None],
    claims: Claims,
    execution_id: str,
    cursor: int,
    follow: bool,
    page: dict[str, Any],
) -> AsyncIterator[bytes]:
    settings = hub.settings
    deadline = time.monotonic() + settings.stream_max_seconds
    # A resume point past the execution's last log (a bogus or stale Last-Event-ID) means "after the
    # last log", never a cursor that nothing can reach.
    cursor = min(cursor, page.get("last_seq") or 0)
    try:
        yield events.retry_field(settings.stream_retry_ms)
        # Backfill, as the caller.
        while True:
            chunk, cursor = _render_page(execution_id, page, cursor, realtime=False)
            if chunk:
                yield chunk
            if not page["has_more"]:
                break
            async with hub.db.as_caller(claims) as conn:
                page = await data.log_events(conn, execution_id, cursor, settings.stream_batch)
        if page["finished"] or not follow:
            yield events.complete_event(execution_id, page["status"], page["total_count"], "Historical logs retrieved")
            return

        # Live: the execution's shared tail pushes; we send what is after our cursor.
        tail, token = hub.subscribe(execution_id, claims, cursor)
        try:
            while True:
                wake = tail.wake
                if tail.covered_from > cursor:
                    # Fell behind the shared buffer: catch up from the database ourselves.
                    async with hub.db.as_caller(claims) as conn:
                        page = await data.log_events(conn, execution_id, cursor, settings.stream_batch)
                    chunk, after = _render_page(execution_id, page, cursor, realtime=True)
                    if chunk:
                        yield chunk
                    if after > cursor or page["has_more"]:
                        cursor = after
                        continue
                    # Nothing left for us below the buffer (deleted logs): resume from the buffer.
                    cursor = max(cursor, min(tail.covered_from, page.get("last_seq") or 0))
                pending = tail.events_after(cursor, claims)
                if pending:
                    # Everything new in one write: one send per stream per wave, not one per log.
                    cursor = pending[-1][0]
                    yield b"".join(chunk for _, chunk in pending)
                    tail.observe_send()
                    continue
                if tail.final is not None and tail.caught_up(cursor, claims):
                    final = tail.final
                    yield events.complete_event(execution_id, final["status"], final["total_count"], "Execution completed")
                    return
                if tail.revoked_for(claims):
                    yield events.error_event(execution_id, "execution is no longer visible to this user", "access_revoked")
                    return
                if hub.closing:
                    return  # shutting down: the client reconnects with Last-Event-ID
                if time.monotonic() >= deadline:
                    return  # streams end after stream_max_seconds; the client resumes without a gap
                # No timer per stream: the hub wakes every tail on new logs, at shutdown, and on a
                # periodic tick that lets streams see their deadline.
                await wake.wait()
        finally:
            hub.unsubscribe(tail, token)
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
        # The stream has started: an HTTP error is no longer possible, so say it as the design's ERROR.
        log.warning("stream of %s failed: %r", execution_id, exc)
        yield events.error_event(execution_id, "the log database is unavailable; reconnect to resume", "database_unavailable")
    finally:
        release()
