"""Structured JSON logs, request ids, trace propagation, access log and request metrics.

Tokens never reach a log line: the access log records the route and path without the query string
(EventSource sends the token as ?access_token=), and no header is logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import REQUEST_LATENCY

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_TOKENISH = re.compile(r"(access_token=|Bearer\s+)[^&\s\"']+", re.I)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _TOKENISH.sub(r"\1[redacted]", record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            entry["request_id"] = rid
        tid = trace_id_var.get()
        if tid:
            entry["trace_id"] = tid
        for key in ("method", "route", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = _TOKENISH.sub(r"\1[redacted]", self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints the query string (and with it ?access_token=); ours does not.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _trace_id(headers: dict[bytes, bytes]) -> str | None:
    traceparent = headers.get(b"traceparent", b"").decode("latin-1")
    parts = traceparent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    tid = headers.get(b"x-trace-id", b"").decode("latin-1")
    return tid if _SAFE_ID.match(tid) else None


class RequestContextMiddleware:
    """X-Request-ID (accepted or generated, echoed), traceparent / X-Trace-ID propagated, access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("workflow_logs_bridge.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        trace_id = _trace_id(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        rid_token = request_id_var.set(request_id)
        tid_token = trace_id_var.set(trace_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", request_id.encode())]
                if trace_id:
                    extra.append((b"x-trace-id", trace_id.encode()))
                    if b"traceparent" in headers:
                        extra.append((b"traceparent", headers[b"traceparent"]))
                message["headers"] = list(message.get("headers", [])) + extra
                route = _route_of(scope)
                REQUEST_LATENCY.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": _route_of(scope),
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "request_id": request_id,
                },
            )
            request_id_var.reset(rid_token)
            trace_id_var.reset(tid_token)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
