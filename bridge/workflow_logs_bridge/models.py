"""Response models of the contract (seed-design 4.1-4.3), for OpenAPI.

Routes pass the database's JSON through untouched (no re-parsing); these models document it, so clients
and fuzzers can use the schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from workflow_logs import _models as _contract


# The contract's models are defined once, in the SDK that parses them; the bridge documents the same
# classes (under the design's names where the OpenAPI schema should carry them).
LogEntry = _contract.LogEntry
PaginationInfo = _contract.PaginationInfo
LogsResponse = _contract.LogsResponse
Milestone = _contract.Milestone
NodeSummary = _contract.NodeSummary
Timeline = _contract.Timeline
ExecutionInfo = _contract.ExecutionInfo
ExecutionSummary = _contract.ExecutionSummary
RecentSummary = _contract.RecentSummary
Highlight = _contract.Highlight
WorkflowLogEntry = _contract.WorkflowLogEntry
WorkflowLogsResponse = _contract.WorkflowLogsResponse
WorkflowStatsResponse = _contract.WorkflowStats


class LogsSummaryResponse(_contract.LogsSummary):
    """The design's LogsSummaryResponse."""


class RecentLogsResponse(_contract.RecentLogs):
    """The design's RecentLogsResponse."""


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
