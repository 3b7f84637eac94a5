"""Response models of the contract (seed-design 4.1-4.3), for OpenAPI.

Routes pass the database's JSON through untouched (no re-parsing); these models document it, so clients
and fuzzers can use the schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class LogEntry(BaseModel):
    id: str
    seq: int = Field(description="Position in the log; the cursor (after=) and the SSE event id")
    timestamp: str = Field(description="ISO 8601")
    event_type: str
    message: str = Field(description="user_friendly_message when set, else the technical message")
    level: Literal["debug", "info", "warning", "error", "critical"]
    data: dict[str, Any]
    log_category: Literal["business", "technical"]
    display_priority: int
    is_milestone: bool
    node_id: str | None = None
    node_name: str | None = None
    node_type: str | None = None
    step_number: int | None = None
    total_steps: int | None = None
    progress_percentage: float | None = None
    duration_seconds: int | None = None
    technical_message: str | None = None
    stack_trace: str | None = None
    technical_details: dict[str, Any] | None = None
    performance_metrics: dict[str, Any] | None = None


class PaginationInfo(BaseModel):
    limit: int
    offset: int
    has_more: bool
    next_cursor: int | None = Field(description="Pass back as `after` for the next page")


class LogsResponse(BaseModel):
    execution_id: str
    logs: list[LogEntry]
    total_count: int
    pagination: PaginationInfo


class Milestone(BaseModel):
    timestamp: str
    message: str
    event_type: str
    seq: int


class NodeSummary(BaseModel):
    node_name: str
    logs_count: int
    step_number: int | None = None
    status: Literal["running", "completed", "failed"]
    node_type: str | None = None
    duration_seconds: int | None = None
    first_log: str | None = None
    last_log: str | None = None


class Timeline(BaseModel):
    first_log: str | None
    last_log: str | None
    duration_estimate: float | None = None


class LogsSummaryResponse(BaseModel):
    execution_id: str
    status: str
    total_logs: int
    log_levels: dict[str, int]
    event_types: dict[str, int]
    log_categories: dict[str, int]
    milestones: list[Milestone]
    nodes: dict[str, NodeSummary]
    timeline: Timeline


class ExecutionInfo(BaseModel):
    execution_id: str
    status: str
    start_time: str
    end_time: str | None = None
    duration: str | None = Field(default=None, description="ISO 8601 duration, e.g. PT5M0S")
    error_message: str | None = None


class ExecutionSummary(ExecutionInfo):
    total_logs: int
    error_count: int


class RecentSummary(BaseModel):
    total_logs: int
    error_count: int
    warning_count: int
    milestone_count: int


class RecentLogsResponse(BaseModel):
    workflow_id: str
    latest_execution: ExecutionInfo | None
    logs: list[LogEntry]
    summary: RecentSummary
    other_executions: list[ExecutionSummary] | None = None
    total_executions: int | None = None


class AppendResponse(BaseModel):
    inserted: int = Field(description="Entries that were new")
    duplicates: int = Field(description="Entries whose id was already stored (a retried batch)")
    last_seq: int | None


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    database: Literal["ok", "unavailable"]
    listener: Literal["ok", "down", "disabled"]


class ErrorResponse(BaseModel):
    detail: str | list[Any]
    request_id: str | None = None
    code: str | None = Field(default=None, description="SQLSTATE when the database refused the request")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing, malformed, expired or wrongly signed token"},
    403: {"model": ErrorResponse, "description": "The token's role may not do this"},
    404: {"model": ErrorResponse, "description": "Not found, or not visible to the caller"},
    422: {"model": ErrorResponse, "description": "A parameter is invalid (the message names it)"},
    503: {"model": ErrorResponse, "description": "Database unavailable; see Retry-After"},
}
