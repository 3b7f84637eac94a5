"""The SDK's one small exception hierarchy (httpx `_exceptions.py` style).

    WorkflowLogsError
    ├── AuthError          401 / 403: missing, expired or wrongly signed token, or a role that may not do this
    ├── NotFoundError      404: no such execution, or not visible to the caller
    ├── InvalidRequest     413 / 422: a parameter or body the bridge refused; the detail names the parameter
    ├── RateLimited        429: too many concurrent streams for this user
    ├── TransportError     connect / read failures, timeouts, 5xx and 503 (the bridge or its database is down)
    └── StreamInterrupted  a live stream that stayed broken after the bounded reconnection attempts

Foreign errors (httpx) are converted in one place: `error_from_response` and `transport_error`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = [
    "WorkflowLogsError",
    "AuthError",
    "NotFoundError",
    "InvalidRequest",
    "RateLimited",
    "TransportError",
    "StreamInterrupted",
]


class WorkflowLogsError(Exception):
    """Base of every error the SDK raises.

    `status_code`, `detail`, `request_id` and `code` (the SQLSTATE when the database refused the request)
    are set when the bridge answered with an error body.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: Any = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id
        self.code = code


class AuthError(WorkflowLogsError):
    """401 or 403."""


class NotFoundError(WorkflowLogsError):
    """404: the execution does not exist or the caller may not see it (RLS makes these the same)."""


class InvalidRequest(WorkflowLogsError):
    """413 or 422: `detail` names the parameter that was refused."""


class RateLimited(WorkflowLogsError):
    """429: `retry_after` is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransportError(WorkflowLogsError):
    """The bridge could not be reached or read, or answered 5xx (503: its database is unavailable)."""


class StreamInterrupted(WorkflowLogsError):
    """A stream broke and did not come back within the reconnection attempts.

    `last_event_id` is the seq of the last log delivered: pass it to `stream(..., last_event_id=)` to resume.
    """

    def __init__(self, message: str, *, last_event_id: int | None = None) -> None:
        super().__init__(message)
        self.last_event_id = last_event_id


def _detail_text(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):  # FastAPI validation errors: [{loc: [...], msg: ...}, ...]
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "path", "body", "header"))
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return json.dumps(detail) if detail is not None else ""


def error_from_response(response: httpx.Response) -> WorkflowLogsError:
    """The SDK error for an error response (its body must already be read)."""
    status = response.status_code
    detail: Any = None
    request_id = response.headers.get("x-request-id")
    code = None
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        detail = body.get("detail")
        request_id = body.get("request_id") or request_id
        code = body.get("code")
    text = _detail_text(detail) or (response.text[:200] if body is None else "") or response.reason_phrase
    message = f"{status} {text}"
    if request_id:
        message += f" (request {request_id})"
    kwargs: dict[str, Any] = {"status_code": status, "detail": detail, "request_id": request_id, "code": code}
    if status in (401, 403):
        return AuthError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status in (400, 413, 422):
        return InvalidRequest(message, **kwargs)
    if status == 429:
        retry_after = response.headers.get("retry-after")
        try:
            seconds = float(retry_after) if retry_after else None
        except ValueError:
            seconds = None
        return RateLimited(message, retry_after=seconds, **kwargs)
    if status >= 500:
        return TransportError(message, **kwargs)
    return WorkflowLogsError(message, **kwargs)


def transport_error(exc: httpx.HTTPError, url: str) -> TransportError:
    """A TransportError for an httpx failure to connect, send or read."""
    reason = str(exc) or type(exc).__name__
    return TransportError(f"cannot reach {url}: {reason}")
