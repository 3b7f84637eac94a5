"""Read logs from the bridge: pages, cursor iteration, summaries and the live SSE stream.

`LogsClient` is the async core (an async context manager with an explicit state, like httpx's client);
`SyncLogsClient` is a facade that runs that same core on a background event-loop thread.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from ._errors import (
    InvalidRequest,
    StreamInterrupted,
    TransportError,
    WorkflowLogsError,
    error_from_response,
    transport_error,
)
from ._models import (
    CompleteEvent,
    ErrorEvent,
    LogEntry,
    LogEvent,
    LogsResponse,
    LogsSummary,
    RecentLogs,
    WorkflowLogEntry,
    WorkflowLogsResponse,
    WorkflowStats,
    parse_stream_event,
)

__all__ = ["LogsClient", "SyncLogsClient", "DEFAULT_URL", "DEFAULT_TIMEOUT"]

T = TypeVar("T")
Event = LogEvent | CompleteEvent | ErrorEvent

DEFAULT_URL = "http://127.0.0.1:8000"
# The bridge pings idle streams every 15 s by default, so a read timeout above that only fires on a dead peer.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, read=60.0)
MAX_PAGE = 1000


class ClientState(enum.Enum):
    UNOPENED = 1  # not entered yet (usable without a `with` block too)
    OPENED = 2  # inside `async with`
    CLOSED = 3  # closed: refuses every further call


def _filters(
    limit, offset, level, start_time, end_time, after, category, node_id, event_type, milestones_only, min_priority,
    q, order,
) -> dict[str, Any]:
    return {
        "limit": limit,
        "offset": offset,
        "level": level,
        "start_time": start_time,
        "end_time": end_time,
        "after": after,
        "category": category,
        "node_id": node_id,
        "event_type": event_type,
        "milestones_only": milestones_only,
        "min_priority": min_priority,
        "q": q,
        "order": order,
    }


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def _cursor_pages(
    fetch: Callable[..., Awaitable[Any]], name: str, page_size: int, filters: dict[str, Any]
) -> AsyncIterator[Any]:
    """The pages `fetch(limit=, after=, **filters)` returns, following `next_cursor` until the last.

    Only cursor paging in seq order can follow a cursor: limit/offset and order="rank" (offset-paged,
    no cursor) are refused rather than quietly yielding one page."""
    if "offset" in filters or "limit" in filters or filters.get("order") == "rank":
        raise InvalidRequest(f"{name} pages by cursor in seq order; pass page_size= and after=, not limit=, "
                             "offset= or order='rank'")
    after = filters.pop("after", None)
    while True:
        page = await fetch(limit=page_size, after=after, **filters)
        yield page
        cursor = page.pagination.next_cursor
        if not page.pagination.has_more or cursor is None or not page.logs:
            return
        after = cursor


class LogsClient:
    """Async reader of one bridge.

        async with LogsClient("http://127.0.0.1:8000", token) as logs:
            page = await logs.get_logs(execution_id, limit=50, level="error")
            async for entry in logs.iter_logs(execution_id):
                ...
            async for event in logs.stream(execution_id):
                ...

    Pass `client=` to use your own `httpx.AsyncClient` (it is not closed by this client), or `transport=`
    to give the client this one builds a custom transport (tests, proxies). `base_url` may be None when
    `client` has a base URL of its own.
    """

    def __init__(
        self,
        base_url: str | None = DEFAULT_URL,
        token: str | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        max_reconnects: int = 5,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
    ) -> None:
        if client is not None and transport is not None:
            raise ValueError("pass either client= or transport=, not both")
        self._base = (base_url or "").rstrip("/")
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(transport=transport, timeout=timeout)
        self._timeout = timeout
        self._state = ClientState.UNOPENED
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.max_backoff = max_backoff

    # -- lifecycle --------------------------------------------------------------------------------
    async def __aenter__(self) -> "LogsClient":
        if self._state is not ClientState.UNOPENED:
            raise RuntimeError(
                "a LogsClient can be entered only once" if self._state is ClientState.OPENED
                else "cannot reopen a LogsClient after it was closed; make a new one"
            )
        self._state = ClientState.OPENED
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._state is ClientState.CLOSED:
            return
        self._state = ClientState.CLOSED
        if self._owns_client:
            await self._client.aclose()

    @property
    def is_closed(self) -> bool:
        return self._state is ClientState.CLOSED

    def _check_open(self) -> None:
        if self._state is ClientState.CLOSED:
            raise RuntimeError("this LogsClient is closed; make a new one")

    def _url(self, path: str) -> str:
        return f"{self._base}{path}"

    # -- REST -------------------------------------------------------------------------------------
    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        self._check_open()
        url = self._url(path)
        query = {k: _param(v) for k, v in params.items() if v is not None}
        try:
            response = await self._client.get(url, params=query, headers=self._headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc, url) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        try:
            return response.json()
        except ValueError as exc:
            raise TransportError(f"{url} answered {response.status_code} with a body that is not JSON") from exc

    @staticmethod
    def _validate(model: type[T], body: Any) -> T:
        try:
            return model.model_validate(body)  # type: ignore[attr-defined]
        except ValidationError as exc:
            raise WorkflowLogsError(f"unexpected response shape for {model.__name__}: {exc}") from exc

    async def get_logs(
        self,
        execution_id: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        level: str | None = None,
        start_time: str | datetime | None = None,
        end_time: str | datetime | None = None,
        after: int | None = None,
        category: str | None = None,
        node_id: str | None = None,
        event_type: str | None = None,
        milestones_only: bool | None = None,
        min_priority: int | None = None,
        q: str | None = None,
        order: str | None = None,
    ) -> LogsResponse:
        """One page of an execution's logs (`pagination.next_cursor` is the `after` of the next page).

        `q` searches message and user_friendly_message (websearch syntax) and fills each entry's
        `highlight`; `order="rank"` returns the best matches first (page those with `offset`)."""
        params = _filters(limit, offset, level, start_time, end_time, after, category, node_id, event_type,
                          milestones_only, min_priority, q, order)
        body = await self._get(f"/api/v1/app/executions/{execution_id}/logs", params)
        return self._validate(LogsResponse, body)

    async def iter_pages(
        self, execution_id: str, *, page_size: int = MAX_PAGE, **filters: Any
    ) -> AsyncIterator[LogsResponse]:
        """Every page of the logs matching `filters`, following `next_cursor` (one page in memory)."""
        async for page in _cursor_pages(partial(self.get_logs, execution_id), "iter_logs", page_size, filters):
            yield page

    async def iter_logs(self, execution_id: str, *, page_size: int = MAX_PAGE, **filters: Any) -> AsyncIterator[LogEntry]:
        """Every log matching `filters` in seq order, page by page (constant memory)."""
        async for page in self.iter_pages(execution_id, page_size=page_size, **filters):
            for entry in page.logs:
                yield entry

    async def get_workflow_logs(
        self,
        workflow_id: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        level: str | None = None,
        start_time: str | datetime | None = None,
        end_time: str | datetime | None = None,
        after: int | None = None,
        category: str | None = None,
        node_id: str | None = None,
        event_type: str | None = None,
        milestones_only: bool | None = None,
        min_priority: int | None = None,
        q: str | None = None,
        order: str | None = None,
    ) -> WorkflowLogsResponse:
        """One page of the logs of every execution of a workflow, in seq order; each entry names its
        `execution_id`. `total_count` is set on the first page only (no `after`)."""
        params = _filters(limit, offset, level, start_time, end_time, after, category, node_id, event_type,
                          milestones_only, min_priority, q, order)
        body = await self._get(f"/api/v1/app/workflows/{workflow_id}/logs", params)
        return self._validate(WorkflowLogsResponse, body)

    async def iter_workflow_pages(
        self, workflow_id: str, *, page_size: int = MAX_PAGE, **filters: Any
    ) -> AsyncIterator[WorkflowLogsResponse]:
        """Every page of a workflow's logs matching `filters`, following `next_cursor` (one page in memory)."""
        fetch = partial(self.get_workflow_logs, workflow_id)
        async for page in _cursor_pages(fetch, "iter_workflow_logs", page_size, filters):
            yield page

    async def iter_workflow_logs(
        self, workflow_id: str, *, page_size: int = MAX_PAGE, **filters: Any
    ) -> AsyncIterator[WorkflowLogEntry]:
        """Every log of every execution of a workflow matching `filters`, in seq order (constant memory)."""
        async for page in self.iter_workflow_pages(workflow_id, page_size=page_size, **filters):
            for entry in page.logs:
                yield entry

    async def workflow_stats(
        self,
        workflow_id: str,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        top: int | None = None,
    ) -> WorkflowStats:
        """Runs by status, error rate, durations, top error messages and slowest nodes of the executions
        that started in [since, until)."""
        body = await self._get(
            f"/api/v1/app/workflows/{workflow_id}/stats", {"since": since, "until": until, "top": top}
        )
        return self._validate(WorkflowStats, body)

    async def summary(self, execution_id: str) -> LogsSummary:
        body = await self._get(f"/v2/executions/{execution_id}/logs/summary", {})
        return self._validate(LogsSummary, body)

    async def recent_logs(
        self, workflow_id: str, limit: int | None = None, include_all_executions: bool = False
    ) -> RecentLogs:
        body = await self._get(
            "/api/v1/app/executions/recent_logs",
            {"workflow_id": workflow_id, "limit": limit, "include_all_executions": include_all_executions or None},
        )
        return self._validate(RecentLogs, body)

    # -- SSE --------------------------------------------------------------------------------------
    async def stream(
        self,
        execution_id: str,
        *,
        last_event_id: int | None = None,
        follow: bool = True,
    ) -> AsyncIterator[Event]:
        """Live events of an execution: LOG events, then one COMPLETE or ERROR event that ends the iterator.

        A dropped connection (or a bridge that restarts) is resumed with `Last-Event-ID` after a backoff;
        logs are never yielded twice nor skipped (the last seq is tracked). After `max_reconnects`
        consecutive failed attempts the iterator raises `StreamInterrupted`. HTTP errors other than 5xx
        (401, 404, 429, ...) are raised at once.
        """
        self._check_open()
        url = self._url(f"/api/v1/app/executions/{execution_id}/logs/stream")
        last = last_event_id
        failures = 0
        while True:
            headers = {**self._headers, "Accept": "text/event-stream", "Cache-Control": "no-store"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            problem: BaseException | None = None
            try:
                async with self._client.stream(
                    "GET", url, params={"follow": _param(follow)}, headers=headers
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        error = error_from_response(response)
                        if not isinstance(error, TransportError):
                            raise error
                        problem = error
                    else:
                        async for payload, event_id in _sse_messages(response):
                            try:
                                event = parse_stream_event(payload)
                            except ValidationError as exc:
                                raise WorkflowLogsError(f"unexpected stream event: {payload[:200]!r}") from exc
                            failures = 0  # the connection works: the next drop starts a fresh backoff
                            if isinstance(event, LogEvent):
                                if last is not None and event.seq <= last:
                                    continue  # already delivered before a reconnect
                                last = event.seq
                                yield event
                            else:
                                yield event
                                return
                        problem = TransportError("the server closed the stream before it completed")
            except httpx.HTTPError as exc:
                problem = transport_error(exc, url)
                problem.__cause__ = exc
            failures += 1
            if failures > self.max_reconnects:
                raise StreamInterrupted(
                    f"stream of {execution_id} broke and did not resume after {self.max_reconnects} attempts: "
                    f"{problem}",
                    last_event_id=last,
                ) from problem
            await asyncio.sleep(min(self.backoff * 2 ** (failures - 1), self.max_backoff))


async def _sse_messages(response: httpx.Response) -> AsyncIterator[tuple[str, str | None]]:
    """(data, id) of each SSE message with data (comments, pings and `retry:` are skipped)."""
    data: list[str] = []
    event_id: str | None = None
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield "\n".join(data), event_id
            data, event_id = [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "id":
            event_id = value
    # a message without its terminating blank line is incomplete: it is dropped (and re-sent on resume)


# ================================================================================================
# Sync facade
# ================================================================================================
class SyncLogsClient:
    """The same reader for synchronous code: the async core runs on a private event-loop thread.

        with SyncLogsClient(url, token) as logs:
            for entry in logs.iter_logs(execution_id):
                ...
    """

    def __init__(self, base_url: str | None = DEFAULT_URL, token: str | None = None, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="workflow-logs-reader", daemon=True)
        self._thread.start()
        self._closed = False

        async def make() -> LogsClient:
            return LogsClient(base_url, token, **kwargs)

        try:
            self._async = self._call(make())
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        if self._closed:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise RuntimeError("this SyncLogsClient is closed; make a new one")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    item = self._call(agen.__anext__())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            if not self._closed:
                self._call(agen.aclose())  # type: ignore[attr-defined]

    def __enter__(self) -> "SyncLogsClient":
        if self._closed:
            raise RuntimeError("cannot reopen a SyncLogsClient after it was closed; make a new one")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._call(self._async.aclose())
        finally:
            self._closed = True
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    @property
    def is_closed(self) -> bool:
        return self._closed

    def get_logs(self, execution_id: str, **filters: Any) -> LogsResponse:
        return self._call(self._async.get_logs(execution_id, **filters))

    def iter_pages(self, execution_id: str, **filters: Any) -> Iterator[LogsResponse]:
        return self._iterate(self._async.iter_pages(execution_id, **filters))

    def iter_logs(self, execution_id: str, **filters: Any) -> Iterator[LogEntry]:
        return self._iterate(self._async.iter_logs(execution_id, **filters))

    def get_workflow_logs(self, workflow_id: str, **filters: Any) -> WorkflowLogsResponse:
        return self._call(self._async.get_workflow_logs(workflow_id, **filters))

    def iter_workflow_pages(self, workflow_id: str, **filters: Any) -> Iterator[WorkflowLogsResponse]:
        return self._iterate(self._async.iter_workflow_pages(workflow_id, **filters))

    def iter_workflow_logs(self, workflow_id: str, **filters: Any) -> Iterator[WorkflowLogEntry]:
        return self._iterate(self._async.iter_workflow_logs(workflow_id, **filters))

    def workflow_stats(
        self,
        workflow_id: str,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        top: int | None = None,
    ) -> WorkflowStats:
        return self._call(self._async.workflow_stats(workflow_id, since=since, until=until, top=top))

    def summary(self, execution_id: str) -> LogsSummary:
        return self._call(self._async.summary(execution_id))

    def recent_logs(
        self, workflow_id: str, limit: int | None = None, include_all_executions: bool = False
    ) -> RecentLogs:
        return self._call(self._async.recent_logs(workflow_id, limit, include_all_executions))

    def stream(self, execution_id: str, *, last_event_id: int | None = None, follow: bool = True) -> Iterator[Event]:
        return self._iterate(self._async.stream(execution_id, last_event_id=last_event_id, follow=follow))
