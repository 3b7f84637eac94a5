"""The live execution page: `GET /executions/{execution_id}` returns a static shell, and plain ES modules
under `/static/` do the rest through the public REST and SSE contract (no build step, no CDN).

The shell holds no data and does not read the token: the page's script reads `?access_token=` itself and
calls the API, so an invalid token or an execution the caller cannot see is shown from the API's 401/404.
Headers: a strict Content-Security-Policy (scripts, styles and connections from this origin only; no inline
script or style), `Cache-Control: no-store`, no referrer (the URL may carry the token).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from .errors import NotFoundError

STATIC_DIR = Path(__file__).parent / "static"
SHELL = Path(__file__).parent / "execution.html"
MAX_EXECUTION_ID = 255  # workflow_executions.execution_id is varchar(255)

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
STATIC_HEADERS = {
    "Cache-Control": "no-cache",  # revalidated by ETag: a new bridge version is picked up at once
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter()


@lru_cache(maxsize=1)
def _shell() -> str:
    return SHELL.read_text(encoding="utf-8")


@router.get(
    "/executions/{execution_id}",
    response_class=HTMLResponse,
    tags=["page"],
    summary="Live execution page (HTML; open with ?access_token=)",
    responses={404: {"description": "Not an execution id"}},
)
async def execution_page(execution_id: str) -> HTMLResponse:
    if not execution_id or len(execution_id) > MAX_EXECUTION_ID:
        raise NotFoundError("no such execution")
    return HTMLResponse(_shell(), headers=PAGE_HEADERS)


class StaticAssets(StaticFiles):
    """The page's scripts and styles with the page's security headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [
                    (k.lower().encode(), v.encode()) for k, v in STATIC_HEADERS.items()
                ]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def static_assets() -> StaticAssets:
    return StaticAssets(directory=STATIC_DIR)
