"""Typed responses of the bridge's REST and SSE contract.

The models accept fields they do not know (`extra="allow"`), so a newer bridge does not break an older
SDK; every documented field is typed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "Highlight",
    "LogEntry",
    "WorkflowLogEntry",
    "WorkflowLogsResponse",
    "RunStats",
    "DurationStats",
    "LogCounts",
    "ErrorMessageCount",
    "NodeStats",
    "WorkflowStats",
    "Pagination",
    "PaginationInfo",
    "LogsResponse",
    "Milestone",
    "NodeSummary",
    "Timeline",
    "LogsSummary",
    "ExecutionInfo",
    "ExecutionSummary",
    "RecentSummary",
    "RecentLogs",
    "CompleteData",
    "ErrorData",
    "LogEvent",
    "CompleteEvent",
    "ErrorEvent",
    "StreamEvent",
    "parse_stream_event",
]

Level = Literal["debug", "info", "warning", "error", "critical"]
Category = Literal["business", "technical"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Highlight(_Model):
    """The matches of a search (`q`) in an entry: HTML-escaped text with the words in `<mark>...</mark>`
    (an excerpt of about 35 words for long texts). `technical_message` is set when the entry has one."""

    message: str | None = None
    technical_message: str | None = None


class LogEntry(_Model):
    """One log as the API returns it; `seq` is the cursor and the SSE event id."""

    id: str
    seq: int
    timestamp: str
    event_type: str
    message: str
    level: Level
    data: dict[str, Any] = Field(default_factory=dict)
    log_category: Category
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
    is_realtime: bool | None = None  # set on logs that arrive over SSE
    highlight: Highlight | None = None  # set on the results of a search (q) only


class PaginationInfo(_Model):
    """The design's PaginationInfo, plus next_cursor (pass it back as `after`)."""

    limit: int
    offset: int
    has_more: bool
    next_cursor: int | None = None


Pagination = PaginationInfo


class LogsResponse(_Model):
    execution_id: str
    logs: list[LogEntry]
    total_count: int
    pagination: PaginationInfo


class WorkflowLogEntry(LogEntry):
    """A log of a workflow-wide listing: a LogEntry that names its execution."""

    execution_id: str


class WorkflowLogsResponse(_Model):
    """The logs of every execution of a workflow in seq order. `total_count` is given on the first page
    of a walk (no `after`) and is None on cursor pages."""

    workflow_id: str
    logs: list[WorkflowLogEntry]
    total_count: int | None = None
    pagination: PaginationInfo


class Milestone(_Model):
    timestamp: str
    message: str
    event_type: str
    seq: int


class NodeSummary(_Model):
    node_name: str
    logs_count: int
    step_number: int | None = None
    status: Literal["running", "completed", "failed"]
    node_type: str | None = None
    duration_seconds: int | None = None
    first_log: str | None = None
    last_log: str | None = None


class Timeline(_Model):
    first_log: str | None = None
    last_log: str | None = None
    duration_estimate: float | None = None


class LogsSummary(_Model):
    execution_id: str
    status: str
    total_logs: int
    log_levels: dict[str, int]
    event_types: dict[str, int]
    log_categories: dict[str, int]
    milestones: list[Milestone]
    nodes: dict[str, NodeSummary]
    timeline: Timeline


class ExecutionInfo(_Model):
    execution_id: str
    status: str
    start_time: str
    end_time: str | None = None
    duration: str | None = None
    error_message: str | None = None


class ExecutionSummary(ExecutionInfo):
    total_logs: int
    error_count: int


class RecentSummary(_Model):
    total_logs: int
    error_count: int
    warning_count: int
    milestone_count: int


class RecentLogs(_Model):
    workflow_id: str
    latest_execution: ExecutionInfo | None = None
    logs: list[LogEntry]
    summary: RecentSummary
    other_executions: list[ExecutionSummary] | None = None
    total_executions: int | None = None


# ------------------------------------------------------------------------------------------------
# Workflow statistics
# ------------------------------------------------------------------------------------------------
class RunStats(_Model):
    total: int
    by_status: dict[str, int]
    finished: int
    failed: int = Field(description="Runs that ended in ERROR or TIMEOUT")


class DurationStats(_Model):
    """Seconds from start to end of the finished runs (None without finished runs)."""

    avg: float | None = None
    p50: float | None = None
    p95: float | None = None
    max: float | None = None


class LogCounts(_Model):
    total: int
    by_level: dict[str, int]


class ErrorMessageCount(_Model):
    message: str
    count: int
    executions: int
    last_seen: str


class NodeStats(_Model):
    node_id: str
    node_name: str
    node_type: str | None = None
    executions: int
    failures: int
    avg_duration_seconds: float | None = None
    max_duration_seconds: float | None = None


class WorkflowStats(_Model):
    """Statistics of the executions of a workflow that started in [since, until)."""

    workflow_id: str
    since: str | None = None
    until: str | None = None
    runs: RunStats
    error_rate: float | None = Field(default=None, description="failed / finished runs; None without finished runs")
    duration_seconds: DurationStats
    logs: LogCounts
    top_errors: list[ErrorMessageCount]
    slowest_nodes: list[NodeStats]


# ------------------------------------------------------------------------------------------------
# SSE events
# ------------------------------------------------------------------------------------------------
class CompleteData(_Model):
    execution_id: str
    status: str
    message: str | None = None
    total_logs: int | None = None


class ErrorData(_Model):
    execution_id: str | None = None
    error: str
    error_type: str | None = None


class _Event(_Model):
    session_id: str
    is_final: bool
    timestamp: str


class LogEvent(_Event):
    event_type: Literal["LOG"]
    data: LogEntry

    @property
    def seq(self) -> int:
        return self.data.seq


class CompleteEvent(_Event):
    """The execution finished (or, without follow, the backlog was sent); `data.status` says how."""

    event_type: Literal["COMPLETE"]
    data: CompleteData


class ErrorEvent(_Event):
    """The bridge ended the stream with an error (`data.error`, `data.error_type`)."""

    event_type: Literal["ERROR"]
    data: ErrorData


StreamEvent = Annotated[Union[LogEvent, CompleteEvent, ErrorEvent], Field(discriminator="event_type")]
_stream_event: TypeAdapter[LogEvent | CompleteEvent | ErrorEvent] = TypeAdapter(StreamEvent)


def parse_stream_event(data: str | bytes) -> LogEvent | CompleteEvent | ErrorEvent:
    """One SSE `data` payload as a typed event."""
    return _stream_event.validate_json(data)
