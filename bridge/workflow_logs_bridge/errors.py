"""Errors of the bridge and the one table that turns database errors into HTTP answers.

Never an empty 200 for a failure: a database error is a 4xx naming what was wrong, or a 5xx/503 with the
request id; the reference design's "return empty logs on database errors" hid outages.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from fastapi import Request
from fastapi.responses import JSONResponse

log = logging.getLogger("workflow_logs_bridge.errors")


class BridgeError(Exception):
    status_code = 500

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class AuthError(BridgeError):
    status_code = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class ForbiddenError(BridgeError):
    status_code = 403


class NotFoundError(BridgeError):
    status_code = 404


class InvalidRequest(BridgeError):
    status_code = 422


class PayloadTooLarge(BridgeError):
    status_code = 413


class TooManyStreams(BridgeError):
    status_code = 429


class Unavailable(BridgeError):
    status_code = 503


# SQLSTATE (exact, then class) -> HTTP status. Everything else is a 500 with the request id.
_SQLSTATE_STATUS: dict[str, int] = {
    "P0002": 404,  # execution / workflow not found or not visible to the caller
    "23503": 404,  # appending to an execution that does not exist
    "22001": 422,  # entry over the 10 KB limit
    "42501": 403,  # insufficient privilege (anon, or a reader calling the service-only API)
    "57014": 503,  # statement timeout / query canceled
    "57P01": 503,  # admin shutdown
    "57P02": 503,
    "57P03": 503,  # cannot connect now
    "53300": 503,  # too many connections
}
_SQLSTATE_CLASS_STATUS: dict[str, int] = {"22": 422, "23": 422, "08": 503, "53": 503}

_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def status_for_sqlstate(sqlstate: str | None) -> int:
    if not sqlstate:
        return 500
    return _SQLSTATE_STATUS.get(sqlstate) or _SQLSTATE_CLASS_STATUS.get(sqlstate[:2], 500)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _body(request: Request, detail: str, code: str | None = None) -> dict:
    body: dict = {"detail": detail, "request_id": _request_id(request)}
    if code:
        body["code"] = code
    return body


async def bridge_error_handler(request: Request, exc: BridgeError) -> JSONResponse:
    return JSONResponse(_body(request, exc.detail), status_code=exc.status_code, headers=exc.headers)


async def postgres_error_handler(request: Request, exc: asyncpg.PostgresError) -> JSONResponse:
    sqlstate = getattr(exc, "sqlstate", None)
    status = status_for_sqlstate(sqlstate)
    headers = {}
    if status >= 500:
        log.error("database error %s: %s", sqlstate, exc, extra={"request_id": _request_id(request)})
        detail = "database unavailable, retry later" if status == 503 else "internal error"
        if status == 503:
            headers["Retry-After"] = str(request.app.state.settings.retry_after_seconds)
    else:
        detail = exc.args[0] if exc.args else str(exc)
    return JSONResponse(_body(request, detail, sqlstate), status_code=status, headers=headers)


async def unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unreachable: %r", exc, extra={"request_id": _request_id(request)})
    return JSONResponse(
        _body(request, "database unavailable, retry later"),
        status_code=503,
        headers={"Retry-After": str(request.app.state.settings.retry_after_seconds)},
    )


def install(app) -> None:
    app.add_exception_handler(BridgeError, bridge_error_handler)
    app.add_exception_handler(asyncpg.PostgresError, postgres_error_handler)
    for exc_type in _UNAVAILABLE:
        app.add_exception_handler(exc_type, unavailable_handler)
