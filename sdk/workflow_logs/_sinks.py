"""Where a WorkflowLogger sends its batches: straight into Postgres, or over HTTP to the ingestion
endpoint (the bridge, or the ingest-logs edge function; `SupabaseSink` in `_supabase_sink.py` reaches
the function through supabase-py).

A sink is anything with `open()`, `send(entries) -> SendResult` and `aclose()` (all async). `send`
raises `TransientSinkError` when the same batch may succeed later (connection lost, 5xx, timeouts)
and `PermanentSinkError` when it never will (an invalid entry, an unknown execution, no permission);
the writer retries the first and reports the second. Entries carry client ids, so resending a
batch that was in fact committed inserts nothing twice.
"""

from __future__ import annotations

import asyncio

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import asyncpg
import httpx

from ._errors import WorkflowLogsError

__all__ = [
    "EndpointSink",
    "HttpSink",
    "PermanentSinkError",
    "PostgresSink",
    "SendResult",
    "Sink",
    "SinkError",
    "TransientSinkError",
]

MAX_ENTRIES = 5000  # append_execution_logs and the bridge accept at most this many per call
MAX_BODY_BYTES = 8 * 1024 * 1024 - 64 * 1024  # the bridge's 8 MiB, with room for framing


@dataclass(frozen=True)
class SendResult:
    inserted: int
    duplicates: int


class SinkError(WorkflowLogsError):
    """A batch could not be written."""

    def __init__(self, message: str, *, index: int | None = None, execution_id: str | None = None) -> None:
        super().__init__(message)
        self.index = index  # the entry of the batch that was refused, when known
        self.execution_id = execution_id  # the execution that was refused, when known


class TransientSinkError(SinkError):
    """Worth retrying with the same batch."""


class PermanentSinkError(SinkError):
    """Retrying the same batch would fail the same way."""


class Sink(Protocol):
    async def open(self) -> None: ...

    async def send(self, entries: Sequence[dict[str, Any]]) -> SendResult: ...

    async def aclose(self) -> None: ...


_INDEX = re.compile(r"logs\[(\d+)\]")
_MISSING_EXECUTION = re.compile(r"execution (\S+) does not exist")


def _located(cls: type[SinkError], message: str, offset: int = 0) -> SinkError:
    m = _INDEX.search(message)
    x = _MISSING_EXECUTION.search(message)
    return cls(
        message,
        index=int(m.group(1)) + offset if m else None,
        execution_id=x.group(1).rstrip(";,") if x else None,
    )


# =============================================================================================
# Postgres
# =============================================================================================
# SQLSTATE classes that a retry can cure: connection exceptions, resources, operator intervention
# (admin shutdown, statement cancel), transaction rollbacks (serialization, deadlock), lock waits.
_TRANSIENT_CLASSES = ("08", "53", "57", "58", "40", "55")
# Classes that never cure themselves: data exceptions, integrity, privileges/syntax, PL/pgSQL raise.
_PERMANENT_CLASSES = ("22", "23", "42", "P0", "28", "0L", "0P", "2F", "39")

_APPEND_SQL = "select public.append_execution_logs($1::text::jsonb)::text"


class PostgresSink:
    """Calls `public.append_execution_logs` over asyncpg.

    Give a DSN (the sink opens and closes a small pool) or your own pool. A connection that may become
    service_role (a superuser or the database owner) calls the function as PostgREST would: in a
    transaction with `set local role service_role` and service_role claims; a connection that already
    is the service user calls it plainly.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: asyncpg.Pool | None = None,
        command_timeout: float = 30.0,
    ) -> None:
        if (dsn is None) == (pool is None):
            raise ValueError("give exactly one of dsn or pool")
        self._dsn = dsn
        self._pool = pool
        self._own_pool = pool is None
        self._timeout = command_timeout
        self._switch_role: bool | None = None

    @property
    def pool(self) -> asyncpg.Pool | None:
        return self._pool

    async def open(self) -> None:
        """Open the pool (when the sink owns it) and check that its role may write logs.

        Raises PermanentSinkError at once when the role can neither become service_role nor is it:
        better a clear error when the worker starts than every batch refused later."""
        if self._pool is None:
            try:
                self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2)
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                raise TransientSinkError(f"cannot connect to the database: {exc}") from exc
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                await self._check_role(conn)
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresError):
            pass  # the database is away for now: the first send decides, and retries meanwhile
        except PermanentSinkError:
            await self.aclose()
            raise

    async def _check_role(self, conn: asyncpg.Connection) -> None:
        if self._switch_role is not None:
            return
        user, is_service, may_become = await conn.fetchrow(
            "select current_user::text, current_user = 'service_role',"
            " pg_has_role(current_user, 'service_role', 'member')"
        )
        if not is_service and not may_become:
            raise PermanentSinkError(
                f"database role {user!r} may not write logs: connect as a member of service_role"
                " (or with the session role service_role)"
            )
        self._switch_role = not is_service

    async def aclose(self) -> None:
        if self._own_pool and self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def send(self, entries: Sequence[dict[str, Any]]) -> SendResult:
        if not entries:
            return SendResult(0, 0)
        result = {"inserted": 0, "duplicates": 0}
        for start in range(0, len(entries), MAX_ENTRIES):
            chunk = entries[start : start + MAX_ENTRIES]
            try:
                got = await self._append(json.dumps(list(chunk), separators=(",", ":")))
            except SinkError as exc:
                if exc.index is not None:
                    exc.index += start
                raise
            result["inserted"] += got.get("inserted", 0)
            result["duplicates"] += got.get("duplicates", 0)
        return SendResult(result["inserted"], result["duplicates"])

    async def _append(self, payload: str) -> dict[str, Any]:
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                await self._check_role(conn)
                if not self._switch_role:
                    return json.loads(await conn.fetchval(_APPEND_SQL, payload, timeout=self._timeout))
                async with conn.transaction():
                    await conn.execute(
                        "set local role service_role;"
                        " select set_config('request.jwt.claims', '{\"role\":\"service_role\"}', true)"
                    )
                    return json.loads(await conn.fetchval(_APPEND_SQL, payload, timeout=self._timeout))
        except asyncpg.PostgresError as exc:
            state = exc.sqlstate or ""
            message = f"{state}: {exc}"
            if state.startswith(_PERMANENT_CLASSES):
                raise _located(PermanentSinkError, message) from exc
            raise TransientSinkError(message) from exc
        except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
            # ConnectionResetError, a terminated backend, a closed pool connection, a timeout
            raise TransientSinkError(f"database connection failed: {exc!r}") from exc


# =============================================================================================
# The ingestion endpoint (the bridge, or the ingest-logs edge function)
# =============================================================================================
class EndpointSink:
    """Base of the sinks that POST to the per-execution ingestion endpoint,
    `/v2/executions/{execution_id}/logs`: one request per execution and per chunk of at most
    `max_entries` entries and ~`max_bytes`, up to `concurrency` at a time. Subclasses implement
    `_post(execution_id, body) -> (status, answer)`, raising `TransientSinkError` when no answer came."""

    def __init__(
        self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BODY_BYTES, concurrency: int = 8
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._concurrency = concurrency

    async def open(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def aclose(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def _post(self, execution_id: str, body: bytes) -> tuple[int, Any]:  # pragma: no cover
        """POST one chunk; the status and the decoded JSON answer (or its text when it is not JSON)."""
        raise NotImplementedError

    def _where(self, execution_id: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _chunks(self, entries: Sequence[dict[str, Any]]):
        """(execution_id, [batch indexes], body) per request, in batch order within an execution."""
        groups: dict[str, list[int]] = {}
        for i, entry in enumerate(entries):
            groups.setdefault(entry["execution_id"], []).append(i)
        for execution_id, indexes in groups.items():
            part: list[int] = []
            encoded: list[bytes] = []
            size = 2
            for i in indexes:
                body = json.dumps(entries[i], separators=(",", ":")).encode()
                if part and (len(part) >= self._max_entries or size + len(body) + 1 > self._max_bytes):
                    yield execution_id, part, b"[" + b",".join(encoded) + b"]"
                    part, encoded, size = [], [], 2
                part.append(i)
                encoded.append(body)
                size += len(body) + 1
            if part:
                yield execution_id, part, b"[" + b",".join(encoded) + b"]"

    async def send(self, entries: Sequence[dict[str, Any]]) -> SendResult:
        """One request per execution (the endpoint is per execution), up to `concurrency` at a time.
        A transient failure of any request fails the batch: retrying it is safe (ids are idempotent)."""
        await self.open()
        gate = asyncio.Semaphore(self._concurrency)

        async def one(execution_id: str, indexes: list[int], body: bytes) -> tuple[int, int]:
            async with gate:
                status, answer = await self._post(execution_id, body)
                return self._result(execution_id, indexes, status, answer)

        results = await asyncio.gather(
            *(one(*chunk) for chunk in self._chunks(entries)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            for kind in (lambda e: not isinstance(e, SinkError), lambda e: isinstance(e, TransientSinkError)):
                first = next((e for e in failures if kind(e)), None)
                if first is not None:
                    raise first
            raise failures[0]
        return SendResult(sum(r[0] for r in results), sum(r[1] for r in results))

    def _result(self, execution_id: str, indexes: list[int], status: int, answer: Any) -> tuple[int, int]:
        """(inserted, duplicates) of a 2xx answer; the sink error of any other (the bridge's statuses)."""
        if status < 300 and isinstance(answer, dict):
            return answer.get("inserted", 0), answer.get("duplicates", 0)
        detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
        message = f"HTTP {status} from {self._where(execution_id)}: {detail}"
        if status < 300 or status in (408, 425, 429) or status >= 500:
            raise TransientSinkError(message)  # (a 2xx that is not the endpoint's answer: a proxy's)
        if status == 404:
            raise PermanentSinkError(message, execution_id=execution_id)
        m = _INDEX.search(str(detail))
        index = indexes[int(m.group(1))] if m and int(m.group(1)) < len(indexes) else None
        x = _MISSING_EXECUTION.search(str(detail))
        raise PermanentSinkError(message, index=index, execution_id=execution_id if x else None)


def _decoded(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


# =============================================================================================
# HTTP (the bridge, or the edge function at its URL)
# =============================================================================================
class HttpSink(EndpointSink):
    """POSTs batches to `{base_url}/v2/executions/{execution_id}/logs` with the service-role key as
    bearer token: the bridge (`http://bridge:8000`) or the ingest-logs edge function
    (`https://<ref>.supabase.co/functions/v1/ingest-logs`).

    Pass your own `httpx.AsyncClient` (its base_url is then ignored unless the client has none);
    otherwise the sink opens one with HTTP/2 enabled and closes it.
    """

    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BODY_BYTES,
        concurrency: int = 8,
    ) -> None:
        super().__init__(max_entries=max_entries, max_bytes=max_bytes, concurrency=concurrency)
        self._base_url = base_url.rstrip("/")
        self._key = service_key
        self._client = client
        self._own_client = client is None
        self._timeout = timeout

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(http2=True, timeout=self._timeout)

    async def aclose(self) -> None:
        if self._own_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _where(self, execution_id: str) -> str:
        return f"{self._base_url}/v2/executions/{quote(execution_id, safe='')}/logs"

    async def _post(self, execution_id: str, body: bytes) -> tuple[int, Any]:
        assert self._client is not None
        url = self._where(execution_id)
        try:
            response = await self._client.post(
                url,
                content=body,
                headers={"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"},
            )
        except httpx.TransportError as exc:  # connect/read/write errors and timeouts
            raise TransientSinkError(f"POST {url} failed: {exc!r}") from exc
        return response.status_code, _decoded(response)
