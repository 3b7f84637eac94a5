"""SSE events of the contract (seed-design 4.2), rendered once to bytes.

`data` is `{event_type: LOG|COMPLETE|ERROR, session_id, is_final, data, timestamp}`; LOG events carry
`id: <seq>` so the browser's Last-Event-ID resumes exactly after them. No `event:` field: the spec's client
listens to "message" events.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _render(payload: dict[str, Any], event_id: int | None = None) -> bytes:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {data}\n\n".encode()


def log_event(execution_id: str, entry: dict[str, Any], *, realtime: bool) -> bytes:
    body = dict(entry)
    body["is_realtime"] = realtime
    return _render(
        {"event_type": "LOG", "session_id": execution_id, "is_final": False, "data": body, "timestamp": _now()},
        entry["seq"],
    )


def complete_event(execution_id: str, status: str, total_logs: int, message: str) -> bytes:
    return _render(
        {
            "event_type": "COMPLETE",
            "session_id": execution_id,
            "is_final": True,
            "data": {"execution_id": execution_id, "status": status, "message": message, "total_logs": total_logs},
            "timestamp": _now(),
        }
    )


def error_event(execution_id: str, error: str, error_type: str) -> bytes:
    return _render(
        {
            "event_type": "ERROR",
            "session_id": execution_id,
            "is_final": True,
            "data": {"execution_id": execution_id, "error": error, "error_type": error_type},
            "timestamp": _now(),
        }
    )


def retry_field(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()
