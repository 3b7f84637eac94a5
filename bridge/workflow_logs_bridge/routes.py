"""The documented REST and SSE contract (seed-design section 4). Routes validate input and call one
data-layer function; the database's JSON is passed through untouched."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from . import db as data
from .deps import CallerClaims, Db, HubDep, Limiter, ServiceClaims, SettingsDep
from .errors import InvalidRequest, PayloadTooLarge
from .models import (
    ERRORS,
    AppendResponse,
    HealthResponse,
    LogsResponse,
    LogsSummaryResponse,
    RecentLogsResponse,
    WorkflowLogsResponse,
    WorkflowStatsResponse,
)
from .sse import SSEResponse
from .streams import first_page, log_stream

router = APIRouter()

JSON = "application/json"
MAX_SEQ = 2**63 - 1
SSE_DOC = {
    200: {
        "description": "text/event-stream of `data: {event_type: LOG|COMPLETE|ERROR, session_id, is_final, data, "
        "timestamp}`; LOG events carry `id: <seq>` for Last-Event-ID",
        "content": {"text/event-stream": {}},
    },
    429: {"description": "Too many concurrent streams for this user"},
    **ERRORS,
}


Order = Literal["seq", "rank"]
Q_DOC = (
    "Full-text search of message and user_friendly_message (websearch syntax: words, \"a phrase\", or, -word). "
    "Each returned log then carries `highlight` {message, technical_message}: HTML-escaped, matches in <mark>...</mark>"
)
ORDER_DOC = "seq (log order, cursor paging) or rank (best match first, needs q, offset paging)"


def _json(text: str, headers: dict[str, str] | None = None, status_code: int = 200) -> Response:
    return Response(content=text, media_type=JSON, headers=headers, status_code=status_code)


# ------------------------------------------------------------------------------------------------
# Logs page (both path families)
# ------------------------------------------------------------------------------------------------
@router.get(
    "/api/v1/app/executions/{execution_id}/logs",
    response_model=LogsResponse,
    responses=ERRORS,
    tags=["logs"],
    summary="Logs of an execution (gateway path)",
)
@router.get(
    "/v2/workflows/executions/{execution_id}/logs",
    response_model=LogsResponse,
    responses=ERRORS,
    tags=["logs"],
    summary="Logs of an execution (engine path)",
)
async def get_execution_logs(
    execution_id: str,
    claims: CallerClaims,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size")] = 100,
    offset: Annotated[int, Query(ge=0, description="Rows to skip (prefer `after`)")] = 0,
    level: Annotated[str | None, Query(description="DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)")] = None,
    start_time: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    end_time: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="Cursor: pagination.next_cursor of the previous page")
    ] = None,
    category: Annotated[str | None, Query(description="business or technical")] = None,
    node_id: Annotated[str | None, Query()] = None,
    event_type: Annotated[str | None, Query()] = None,
    milestones_only: Annotated[bool, Query()] = False,
    min_priority: Annotated[int | None, Query(ge=1, le=10)] = None,
    q: Annotated[str | None, Query(max_length=1000, description=Q_DOC)] = None,
    order: Annotated[Order, Query(description=ORDER_DOC)] = "seq",
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    query = data.LogsQuery(
        limit, offset, level, start_time, end_time, after, category, node_id, event_type, milestones_only, min_priority,
        q, order,
    )
    async with db.as_caller(claims) as conn:
        status, finished, page_text = await data.execution_logs(conn, execution_id, query)
    if not finished:
        return _json(page_text, {"Cache-Control": "no-store"})
    # A finished execution's page is stable; late logs change its content (total_count, rows) and a new
    # status changes the key, so the hash of both is an exact validator.
    etag = 'W/"' + hashlib.sha256(f"{status}|".encode() + page_text.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return _json(page_text, headers)


# ------------------------------------------------------------------------------------------------
# SSE stream (both path families)
# ------------------------------------------------------------------------------------------------
def _resume_cursor(last_event_id: str | None, header: str | None) -> int:
    raw = header if header not in (None, "") else last_event_id
    if raw in (None, ""):
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"last_event_id must be a log seq (a non-negative integer), got {raw[:40]!r}") from None
    if not 0 <= value <= MAX_SEQ:
        raise InvalidRequest(f"last_event_id must be a log seq between 0 and {MAX_SEQ}, got {raw[:40]!r}")
    return value


@router.get(
    "/api/v1/app/executions/{execution_id}/logs/stream",
    response_class=SSEResponse,
    responses=SSE_DOC,
    tags=["stream"],
    summary="Live logs of an execution over SSE (gateway path)",
)
@router.get(
    "/v2/executions/{execution_id}/logs/stream",
    response_class=SSEResponse,
    responses=SSE_DOC,
    tags=["stream"],
    summary="Live logs of an execution over SSE (engine path)",
)
async def stream_execution_logs(
    execution_id: str,
    claims: CallerClaims,
    hub: HubDep,
    limiter: Limiter,
    settings: SettingsDep,
    follow: Annotated[bool, Query(description="Keep streaming until the execution finishes")] = True,
    last_event_id: Annotated[str | None, Query(description="Resume after this seq (same as the Last-Event-ID header)")] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", include_in_schema=False)] = None,
) -> SSEResponse:
    cursor = _resume_cursor(last_event_id, last_event_id_header)
    limiter.acquire(claims.identity)
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            limiter.release(claims.identity)

    try:
        page = await first_page(hub, claims, execution_id, cursor)
    except BaseException:
        release()
        raise
    return SSEResponse(
        log_stream(hub, release, claims, execution_id, cursor, follow, page),
        ping_interval=settings.stream_ping_seconds,
        send_timeout=settings.stream_send_timeout,
        background=BackgroundTask(release),
    )


# ------------------------------------------------------------------------------------------------
# Summary and recent logs
# ------------------------------------------------------------------------------------------------
@router.get(
    "/v2/executions/{execution_id}/logs/summary",
    response_model=LogsSummaryResponse,
    responses=ERRORS,
    tags=["logs"],
    summary="Counts, milestones, nodes and timeline of an execution",
)
@router.get(
    "/api/v1/app/executions/{execution_id}/logs/summary",
    response_model=LogsSummaryResponse,
    responses=ERRORS,
    tags=["logs"],
    summary="Counts, milestones, nodes and timeline of an execution (gateway path)",
)
async def get_logs_summary(execution_id: str, claims: CallerClaims, db: Db) -> Response:
    async with db.as_caller(claims) as conn:
        return _json(await data.execution_summary(conn, execution_id), {"Cache-Control": "no-store"})


@router.get(
    "/api/v1/app/executions/recent_logs",
    response_model=RecentLogsResponse,
    responses=ERRORS,
    tags=["logs"],
    summary="The latest execution of a workflow with its newest logs",
)
async def get_recent_logs(
    claims: CallerClaims,
    db: Db,
    workflow_id: Annotated[str, Query(description="Workflow id (UUID)")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_all_executions: Annotated[bool, Query()] = False,
) -> Response:
    async with db.as_caller(claims) as conn:
        return _json(await data.recent_logs(conn, workflow_id, limit, include_all_executions), {"Cache-Control": "no-store"})


# ------------------------------------------------------------------------------------------------
# Workflows: logs across executions, statistics
# ------------------------------------------------------------------------------------------------
@router.get(
    "/api/v1/app/workflows/{workflow_id}/logs",
    response_model=WorkflowLogsResponse,
    responses=ERRORS,
    tags=["workflows"],
    summary="Logs of every execution of a workflow, in seq order (gateway path)",
)
@router.get(
    "/v2/workflows/{workflow_id}/logs",
    response_model=WorkflowLogsResponse,
    responses=ERRORS,
    tags=["workflows"],
    summary="Logs of every execution of a workflow, in seq order (engine path)",
)
async def get_workflow_logs(
    workflow_id: str,
    claims: CallerClaims,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size")] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000, description="Rows to skip (prefer `after`; for order=rank)")] = 0,
    level: Annotated[str | None, Query(description="DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)")] = None,
    start_time: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    end_time: Annotated[str | None, Query(description="ISO 8601, inclusive")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="Cursor: pagination.next_cursor of the previous page")
    ] = None,
    category: Annotated[str | None, Query(description="business or technical")] = None,
    node_id: Annotated[str | None, Query()] = None,
    event_type: Annotated[str | None, Query()] = None,
    milestones_only: Annotated[bool, Query()] = False,
    min_priority: Annotated[int | None, Query(ge=1, le=10)] = None,
    q: Annotated[str | None, Query(max_length=1000, description=Q_DOC)] = None,
    order: Annotated[Order, Query(description=ORDER_DOC)] = "seq",
) -> Response:
    query = data.LogsQuery(
        limit, offset, level, start_time, end_time, after, category, node_id, event_type, milestones_only, min_priority,
        q, order,
    )
    async with db.as_caller(claims) as conn:
        return _json(await data.workflow_logs(conn, workflow_id, query), {"Cache-Control": "no-store"})


@router.get(
    "/api/v1/app/workflows/{workflow_id}/stats",
    response_model=WorkflowStatsResponse,
    responses=ERRORS,
    tags=["workflows"],
    summary="Runs, error rate, top errors and slowest nodes of a workflow over a time window (gateway path)",
)
@router.get(
    "/v2/workflows/{workflow_id}/stats",
    response_model=WorkflowStatsResponse,
    responses=ERRORS,
    tags=["workflows"],
    summary="Runs, error rate, top errors and slowest nodes of a workflow over a time window (engine path)",
)
async def get_workflow_stats(
    workflow_id: str,
    claims: CallerClaims,
    db: Db,
    since: Annotated[str | None, Query(description="ISO 8601; runs that started at or after it")] = None,
    until: Annotated[str | None, Query(description="ISO 8601; runs that started before it")] = None,
    top: Annotated[int, Query(ge=1, le=100, description="Length of top_errors and slowest_nodes")] = 10,
) -> Response:
    async with db.as_caller(claims) as conn:
        return _json(await data.workflow_stats(conn, workflow_id, since, until, top), {"Cache-Control": "no-store"})


# ------------------------------------------------------------------------------------------------
# Ingestion (service role)
# ------------------------------------------------------------------------------------------------
@router.post(
    "/v2/executions/{execution_id}/logs",
    response_model=AppendResponse,
    responses={413: {"description": "Batch over its size limit"}, **ERRORS},
    tags=["ingest"],
    summary="Append a batch of log entries (service role; idempotent on entry ids)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {
                        "oneOf": [
                            {"type": "array", "items": {"type": "object"}},
                            {
                                "type": "object",
                                "required": ["logs"],
                                "properties": {"logs": {"type": "array", "items": {"type": "object"}}},
                            },
                        ]
                    }
                }
            },
        }
    },
)
async def append_logs(execution_id: str, request: Request, claims: ServiceClaims, db: Db, settings: SettingsDep) -> Response:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_ingest_bytes:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {settings.max_ingest_bytes}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_ingest_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {settings.max_ingest_bytes} bytes")
    try:
        payload: Any = json.loads(body)
    except ValueError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    entries = payload.get("logs") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        raise InvalidRequest("body must be a JSON array of log entries or {\"logs\": [...]}")
    if len(entries) > settings.max_ingest_entries:
        raise PayloadTooLarge(f"batch holds {len(entries)} entries; the limit is {settings.max_ingest_entries}")
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            given = entry.setdefault("execution_id", execution_id)
            if given != execution_id:
                raise InvalidRequest(f"logs[{i}].execution_id is {given!r} but the path names {execution_id!r}")
    async with db.as_caller(claims) as conn:
        return _json(await data.append_logs(conn, json.dumps(entries, separators=(",", ":"))))


# ------------------------------------------------------------------------------------------------
# Health and metrics
# ------------------------------------------------------------------------------------------------
@router.get("/health", response_model=HealthResponse, tags=["ops"], summary="Database reachable, listener alive")
@router.get("/api/v1/public/health", response_model=HealthResponse, tags=["ops"], summary="Health (gateway path)")
async def health(db: Db, hub: HubDep, settings: SettingsDep) -> JSONResponse:
    try:
        database_ok = await asyncio.wait_for(db.ping(), 3)
    except Exception:  # any failure to answer is "unavailable", reported, never raised
        database_ok = False
    listener = "disabled" if not settings.listen else ("ok" if hub.listener_healthy else "down")
    if not hub.reader_alive:
        listener = "down"  # the shared reader is what delivers live logs; report it as the live path
    if not database_ok:
        status = "unavailable"
    elif listener == "down":
        status = "degraded"
    else:
        status = "ok"
    headers = {"Cache-Control": "no-store"}
    if not database_ok:
        headers["Retry-After"] = str(settings.retry_after_seconds)
    return JSONResponse(
        {"status": status, "database": "ok" if database_ok else "unavailable", "listener": listener},
        status_code=200 if database_ok else 503,
        headers=headers,
    )


@router.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
async def metrics(db: Db, hub: HubDep) -> Response:
    from .metrics import render

    body, content_type = render(db.pool_stats(), len(hub.tails))
    return Response(body, media_type=content_type)
