"""The FastAPI application: resources live in the lifespan, nothing connects at import time."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

import asyncpg
from fastapi import FastAPI

from . import errors
from .auth import TokenVerifier
from .db import Database
from .hub import Hub
from .observability import RequestContextMiddleware, configure_logging
from .page import router as page_router
from .page import static_assets
from .routes import router
from .settings import Settings, get_settings
from .sse import on_server_exit
from .streams import StreamLimiter

log = logging.getLogger("workflow_logs_bridge")


def create_app(settings: Settings | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = settings or get_settings()
        app.state.settings = cfg
        app.state.verifier = TokenVerifier(cfg)
        db = Database(cfg)
        try:
            await db.open()
        except (OSError, asyncpg.PostgresError) as exc:
            # Start anyway: requests answer 503 with Retry-After until the database is back.
            log.error("database unreachable at start-up: %r", exc)
            cfg_lazy = cfg.model_copy(update={"pool_min_size": 0})
            db = Database(cfg_lazy)
            await db.open()
        app.state.db = db
        hub = Hub(cfg, db)
        await hub.start()
        app.state.hub = hub
        app.state.limiter = StreamLimiter(cfg.max_streams_per_user)
        # SIGTERM: end the streams first, so uvicorn's graceful shutdown is not held by them.
        unregister = on_server_exit(hub.begin_shutdown)
        # Start-up objects never die; keep full collections from walking them (stalls under many streams).
        gc.collect()
        gc.freeze()
        log.info("bridge ready (listen=%s)", cfg.listen)
        try:
            yield
        finally:
            unregister()
            await hub.close()
            await db.close()

    app = FastAPI(
        title="workflow-logs bridge",
        version="0.1.0",
        description="The REST and SSE contract of the workflow execution log API, on top of the SQL API. "
        "Every request runs in a transaction as the caller (role + JWT claims, as PostgREST does); RLS decides.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(router)
    app.include_router(page_router)
    app.mount("/static", static_assets(), name="static")
    app.add_middleware(RequestContextMiddleware)
    return app


def app_factory() -> FastAPI:
    """For `uvicorn --factory workflow_logs_bridge.app:app_factory --no-access-log` (JSON logs; run
    uvicorn without its access log, which would print ?access_token= query strings)."""
    configure_logging()
    return create_app()
