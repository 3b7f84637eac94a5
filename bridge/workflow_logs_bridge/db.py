"""The data layer: a pool, transactions run as the caller, and one function per SQL API call.

Every query runs in a transaction as the caller, exactly as PostgREST does: `set_config('role', ...)` and
`set_config('request.jwt.claims', ...)` local to the transaction, then the SQL API function. RLS decides;
nothing here filters rows. The functions return the database's JSON text untouched (no re-parsing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from .auth import Claims
from .settings import Settings


def _literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is forced on for our connections)."""
    if "\x00" in value:
        raise ValueError("NUL in a SQL literal")
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class LogsQuery:
    limit: int = 100
    offset: int = 0
    level: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    after: int | None = None
    category: str | None = None
    node_id: str | None = None
    event_type: str | None = None
    milestones_only: bool = False
    min_priority: int | None = None
    q: str | None = None
    order: str = "seq"


async def _end_transaction(conn: asyncpg.Connection) -> None:
    """Pool reset: every request's settings are transaction-local (set_config(..., true)), so ending a
    transaction left open is all a returned connection needs; asyncpg's default RESET ALL / UNLISTEN /
    advisory-unlock round trip would cost every request a second round trip for nothing."""
    if conn.is_in_transaction():
        await conn.execute("rollback")


class Database:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self._settings.database_url,
            min_size=self._settings.pool_min_size,
            max_size=self._settings.pool_max_size,
            server_settings={
                "application_name": "workflow-logs-bridge",
                "standard_conforming_strings": "on",
                "jit": "off",
            },
            reset=_end_transaction,
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    @contextlib.asynccontextmanager
    async def as_caller(self, claims: Claims) -> AsyncIterator[asyncpg.Connection]:
        assert self.pool is not None, "database not opened"
        async with self.pool.acquire(timeout=10) as conn:
            # One round trip for BEGIN and both settings, as PostgREST sends them.
            await conn.execute(
                "begin; select set_config('role', "
                + _literal(claims.role)
                + ", true), set_config('request.jwt.claims', "
                + _literal(claims.json)
                + ", true)"
            )
            try:
                yield conn
            except BaseException:
                # The pool resets a released connection anyway; this only ends the transaction early.
                if not conn.is_closed() and conn.is_in_transaction():
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await conn.execute("rollback")
                raise
            else:
                await conn.execute("commit")

    async def ping(self) -> bool:
        assert self.pool is not None
        async with self.pool.acquire(timeout=5) as conn:
            return await conn.fetchval("select 1", timeout=5) == 1

    def pool_stats(self) -> dict[str, int]:
        if self.pool is None:
            return {"size": 0, "idle": 0, "max": 0}
        return {"size": self.pool.get_size(), "idle": self.pool.get_idle_size(), "max": self.pool.get_max_size()}


# ------------------------------------------------------------------------------------------------
# SQL API calls (one function per call; routes never hold SQL)
# ------------------------------------------------------------------------------------------------
async def execution_logs(conn: asyncpg.Connection, execution_id: str, q: LogsQuery) -> tuple[str | None, bool, str]:
    """(the execution's status, whether it is finished, LogsResponse JSON) read in one statement, so the
    ETag and the page agree."""
    row = await conn.fetchrow(
        """
        select we.status, coalesce(workflow_logs_private.is_finished(we.status), false) as finished,
               public.get_execution_logs(
                 execution_id => $1, "limit" => $2, "offset" => $3, level => $4,
                 start_time => $5, end_time => $6, after => $7, category => $8,
                 node_id => $9, event_type => $10, milestones_only => $11, min_priority => $12,
                 q => $13, "order" => $14
               )::text as page
        from (select 1) one
        left join public.workflow_executions we on we.execution_id = $1
        """,
        execution_id, q.limit, q.offset, q.level, q.start_time, q.end_time, q.after,
        q.category, q.node_id, q.event_type, q.milestones_only, q.min_priority, q.q, q.order,
    )
    return row["status"], row["finished"], row["page"]


async def workflow_logs(conn: asyncpg.Connection, workflow_id: str, q: LogsQuery) -> str:
    """WorkflowLogsResponse JSON: the logs of every execution of a workflow."""
    return await conn.fetchval(
        """
        select public.get_workflow_logs(
                 workflow_id => $1, "limit" => $2, "offset" => $3, level => $4,
                 start_time => $5, end_time => $6, after => $7, category => $8,
                 node_id => $9, event_type => $10, milestones_only => $11, min_priority => $12,
                 q => $13, "order" => $14
               )::text
        """,
        workflow_id, q.limit, q.offset, q.level, q.start_time, q.end_time, q.after,
        q.category, q.node_id, q.event_type, q.milestones_only, q.min_priority, q.q, q.order,
    )


async def workflow_stats(conn: asyncpg.Connection, workflow_id: str, since: str | None, until: str | None, top: int) -> str:
    return await conn.fetchval(
        "select public.get_workflow_stats(workflow_id => $1, since => $2, until => $3, top => $4)::text",
        workflow_id, since, until, top,
    )


async def execution_summary(conn: asyncpg.Connection, execution_id: str) -> str:
    return await conn.fetchval("select public.get_execution_logs_summary($1)::text", execution_id)


async def recent_logs(conn: asyncpg.Connection, workflow_id: str, limit: int, include_all: bool) -> str:
    return await conn.fetchval(
        'select public.get_recent_logs(workflow_id => $1, "limit" => $2, include_all_executions => $3)::text',
        workflow_id, limit, include_all,
    )


async def log_events(conn: asyncpg.Connection, execution_id: str, after: int, limit: int) -> dict[str, Any]:
    text = await conn.fetchval(
        'select public.get_execution_log_events(execution_id => $1, after => $2, "limit" => $3)::text',
        execution_id, after, limit,
    )
    return json.loads(text)


async def log_events_batch(conn: asyncpg.Connection, cursors: dict[str, int], limit: int) -> list[dict[str, Any]]:
    text = await conn.fetchval(
        'select public.get_execution_log_events_batch($1::jsonb, "limit" => $2)::text',
        json.dumps(cursors), limit,
    )
    return json.loads(text)


async def append_logs(conn: asyncpg.Connection, entries_json: str) -> str:
    return await conn.fetchval("select public.append_execution_logs($1::jsonb)::text", entries_json)
