"""Real resources for the test suite: a Postgres server, a migrated scratch database, roles as PostgREST uses them.

Where Postgres comes from: TEST_DATABASE_URL when set, else the server on 127.0.0.1:5432 when one answers,
else an embedded Postgres started for the run (data under .dev/test-pg-py, deleted at exit).

Fixtures (all reusable by any test module):

* `admin_url` (session): superuser URL of the server (its maintenance database).
* `database_url` (session): a scratch database, migrated with the Supabase shim, dropped at the end.
* `admin_pool` (session): asyncpg pool on `database_url` as the superuser (json/jsonb decoded to Python).
* `admin_conn`: one connection from `admin_pool`.
* `as_user(uid)`, `as_service()`, `as_anon()`: async context managers yielding a connection inside a
  transaction that looks like a PostgREST request (`set local role ...` + `request.jwt.claims`). The
  transaction commits when the block exits normally and rolls back on an exception.
* `new_database()`: an async context manager making a further scratch database (migrated unless
  `migrated=False`), for the tests that need a fresh one (migrate tests, TRUNCATE, planner statistics).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from factories import as_role, claims_for, init_connection
from workflow_logs._migrate import migrate
from workflow_logs._server import resolve_admin_url, scratch_database

REPO = Path(__file__).resolve().parents[1]
EMBEDDED_DIR = REPO / ".dev" / "test-pg-py"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def admin_url() -> str:
    url, _where = await resolve_admin_url(os.environ.get("TEST_DATABASE_URL"), EMBEDDED_DIR)
    return url


@pytest.fixture(scope="session")
def new_database(admin_url: str) -> Callable[..., contextlib.AbstractAsyncContextManager[str]]:
    """`async with new_database(migrated=True) as url:` a scratch database dropped afterwards."""

    @contextlib.asynccontextmanager
    async def make(*, migrated: bool = True, prefix: str = "wl_test") -> AsyncIterator[str]:
        async with scratch_database(admin_url, prefix=prefix) as url:
            if migrated:
                await migrate(url, supabase_shim=True)
            yield url

    return make


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_url(new_database) -> AsyncIterator[str]:
    async with new_database() as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def admin_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10, init=init_connection)
    try:
        yield pool
    finally:
        await pool.close()


@pytest_asyncio.fixture(loop_scope="session")
async def admin_conn(admin_pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with admin_pool.acquire() as conn:
        yield conn


@pytest.fixture
def as_user(admin_pool: asyncpg.Pool):
    """`async with as_user(uid) as conn:` a request by the signed-in user `uid`."""

    def enter(uid, pool: asyncpg.Pool | asyncpg.Connection | None = None):
        return as_role(pool or admin_pool, "authenticated", claims_for("authenticated", uid))

    return enter


@pytest.fixture
def as_service(admin_pool: asyncpg.Pool):
    """`async with as_service() as conn:` a request with the service_role key."""

    def enter(pool: asyncpg.Pool | asyncpg.Connection | None = None):
        return as_role(pool or admin_pool, "service_role", claims_for("service_role"))

    return enter


@pytest.fixture
def as_anon(admin_pool: asyncpg.Pool):
    """`async with as_anon() as conn:` a request with the anon key and no user."""

    def enter(pool: asyncpg.Pool | asyncpg.Connection | None = None):
        return as_role(pool or admin_pool, "anon", claims_for("anon"))

    return enter
