"""`logging` integration: records emitted inside an execution or step context become technical logs.

    logging.getLogger().addHandler(WorkflowLogHandler())
    async with log.step("Fetch emails", node_id="fetch"):
        logging.getLogger("imap").info("connected")   # -> a technical log on node "fetch"

The current execution/step lives in a contextvar (`current_log()`), so concurrent asyncio tasks and
threads each log to their own step. Records outside any context are ignored, or go to `default`.
"""

from __future__ import annotations

import logging
from typing import Any

from ._writer import ExecutionLog, current_log

__all__ = ["WorkflowLogHandler"]

# LogRecord attributes that are not `extra=` fields.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}


def _level_name(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "CRITICAL"
    if levelno >= logging.ERROR:
        return "ERROR"
    if levelno >= logging.WARNING:
        return "WARNING"
    if levelno >= logging.INFO:
        return "INFO"
    return "DEBUG"


class WorkflowLogHandler(logging.Handler):
    """Turns log records into technical log entries of the current execution (and step)."""

    def __init__(self, level: int = logging.NOTSET, *, default: ExecutionLog | None = None) -> None:
        super().__init__(level)
        self.default = default

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("workflow_logs"):
            return  # the writer's own warnings must not feed back into the buffer
        target = current_log() or self.default
        if target is None:
            return
        try:
            details: dict[str, Any] = {
                "logger": record.name,
                "module": record.module,
                "function": record.funcName,
                "line": record.lineno,
                "thread": record.threadName,
            }
            extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
            if extra:
                details["extra"] = extra
            stack = None
            if record.exc_info and record.exc_info[0] is not None:
                stack = (self.formatter or logging.Formatter()).formatException(record.exc_info)
            elif record.stack_info:
                stack = record.stack_info
            target.technical(
                _level_name(record.levelno),
                record.getMessage(),
                technical_details=details,
                stack_trace=stack,
            )
        except Exception:  # noqa: BLE001 -- a handler reports its own failures through handleError
            self.handleError(record)
