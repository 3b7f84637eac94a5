"""workflow-logs: execution logs for AI workflow engines on Postgres and Supabase.

Writers (workflow workers): `WorkflowLogger` / `SyncWorkflowLogger` with a `PostgresSink`, an `HttpSink`
(the bridge, or the ingest-logs edge function) or a `SupabaseSink` (the edge function via supabase-py),
and `WorkflowLogHandler` for ordinary `logging` calls. Readers: `LogsClient` / `SyncLogsClient` over the
bridge. Errors derive from `WorkflowLogsError`.
"""

from ._errors import (
    AuthError,
    InvalidRequest,
    NotFoundError,
    RateLimited,
    StreamInterrupted,
    TransportError,
    WorkflowLogsError,
)
from ._handler import WorkflowLogHandler
from ._migrate import migrate
from ._models import (
    CompleteData,
    CompleteEvent,
    ErrorData,
    ErrorEvent,
    ExecutionInfo,
    ExecutionSummary,
    LogEntry,
    LogEvent,
    LogsResponse,
    LogsSummary,
    Milestone,
    NodeSummary,
    Pagination,
    RecentLogs,
    RecentSummary,
    StreamEvent,
    Timeline,
    parse_stream_event,
)
from ._reader import LogsClient, SyncLogsClient
from ._redact import REDACTED, Redactor
from ._sinks import (
    EndpointSink,
    HttpSink,
    PermanentSinkError,
    PostgresSink,
    SendResult,
    Sink,
    SinkError,
    TransientSinkError,
)
from ._supabase_sink import SupabaseSink
from ._writer import (
    BufferFullError,
    ExecutionLog,
    Step,
    SyncWorkflowLogger,
    WorkflowLogger,
    WriterStats,
    current_log,
    uuid7,
)

__all__ = [
    "AuthError",
    "BufferFullError",
    "CompleteData",
    "CompleteEvent",
    "EndpointSink",
    "ErrorData",
    "ErrorEvent",
    "ExecutionInfo",
    "ExecutionLog",
    "ExecutionSummary",
    "HttpSink",
    "InvalidRequest",
    "LogEntry",
    "LogEvent",
    "LogsClient",
    "LogsResponse",
    "LogsSummary",
    "Milestone",
    "NodeSummary",
    "NotFoundError",
    "Pagination",
    "PermanentSinkError",
    "PostgresSink",
    "REDACTED",
    "RateLimited",
    "RecentLogs",
    "RecentSummary",
    "Redactor",
    "SendResult",
    "Sink",
    "SinkError",
    "Step",
    "StreamEvent",
    "StreamInterrupted",
    "SupabaseSink",
    "SyncLogsClient",
    "SyncWorkflowLogger",
    "Timeline",
    "TransientSinkError",
    "TransportError",
    "WorkflowLogHandler",
    "WorkflowLogger",
    "WorkflowLogsError",
    "WriterStats",
    "__version__",
    "current_log",
    "migrate",
    "parse_stream_event",
    "uuid7",
]
__version__ = "0.1.0"
