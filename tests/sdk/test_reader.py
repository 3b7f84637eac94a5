"""The SDK's reader against a real bridge: typed models, cursor paging, error mapping, live streams, resume."""

from __future__ import annotations

import contextlib
import anyio
import httpx
import pytest

from workflow_logs._errors import (
    AuthError,
    InvalidRequest,
    NotFoundError,
    StreamInterrupted,
    TransportError,
)
from workflow_logs._models import CompleteEvent, LogEntry, LogEvent, LogsResponse, LogsSummary, RecentLogs
from workflow_logs._reader import LogsClient, SyncLogsClient

pytest_plugins = ["reader_fixtures"]


# ------------------------------------------------------------------------------------------------
# Typed models of each endpoint
# ------------------------------------------------------------------------------------------------
async def test_get_logs_returns_a_typed_page_with_a_cursor(reader_bridge, reader_world):
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        page = await logs.get_logs(reader_world.finished, limit=100)
    assert isinstance(page, LogsResponse)
    assert page.execution_id == reader_world.finished
    assert page.total_count == 250
    assert len(page.logs) == 100 and all(isinstance(e, LogEntry) for e in page.logs)
    assert page.pagination.has_more is True
    assert page.pagination.next_cursor == page.logs[-1].seq


async def test_get_logs_filters_reach_the_bridge(reader_bridge, reader_world):
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        errors = await logs.get_logs(reader_world.finished, level="error", limit=1000)
        business = await logs.get_logs(reader_world.finished, category="business", limit=1000)
        milestones = await logs.get_logs(reader_world.finished, milestones_only=True, limit=1000)
    assert errors.logs and {e.level for e in errors.logs} == {"error"}
    assert business.logs and {e.log_category for e in business.logs} == {"business"}
    assert milestones.logs and all(e.is_milestone for e in milestones.logs)
    assert len(milestones.logs) == 250 // 25


async def test_summary_and_recent_logs_are_typed(reader_bridge, reader_world):
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        summary = await logs.summary(reader_world.finished)
        recent = await logs.recent_logs(reader_world.workflow_id, limit=10, include_all_executions=True)
    assert isinstance(summary, LogsSummary)
    assert summary.status == "SUCCESS" and summary.total_logs == 250
    assert sum(summary.log_levels.values()) == 250
    assert isinstance(recent, RecentLogs)
    assert recent.workflow_id == reader_world.workflow_id
    assert recent.latest_execution is not None
    assert len(recent.logs) <= 10
    assert recent.other_executions is not None


# ------------------------------------------------------------------------------------------------
# Cursor iteration
# ------------------------------------------------------------------------------------------------
async def test_iter_logs_follows_the_cursor_across_25_pages_every_log_once_in_order(reader_bridge, reader_world):
    execution_id = await reader_world.make_execution(status="SUCCESS", logs=2500)
    expected = await reader_world.seqs(execution_id)
    pages = 0
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        async for page in logs.iter_pages(execution_id, page_size=100):
            pages += 1
            assert len(page.logs) <= 100
        seqs = [e.seq async for e in logs.iter_logs(execution_id, page_size=100)]
    assert pages == 25
    assert seqs == expected and len(seqs) == 2500


async def test_iter_logs_with_a_filter_and_a_start_cursor(reader_bridge, reader_world):
    all_seqs = await reader_world.seqs(reader_world.finished)
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        tail = [e.seq async for e in logs.iter_logs(reader_world.finished, page_size=7, after=all_seqs[199])]
        errs = [e async for e in logs.iter_logs(reader_world.finished, page_size=5, level="error")]
    assert tail == all_seqs[200:]
    assert errs and all(e.level == "error" for e in errs)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------
async def test_a_bad_token_is_an_auth_error(reader_bridge, reader_world):
    async with LogsClient(reader_bridge.url, "not-a-jwt") as logs:
        with pytest.raises(AuthError) as info:
            await logs.get_logs(reader_world.finished)
    assert info.value.status_code == 401


async def test_another_users_execution_is_not_found(reader_bridge, reader_world):
    async with LogsClient(reader_bridge.url, reader_world.token("other")) as logs:
        with pytest.raises(NotFoundError):
            await logs.get_logs(reader_world.finished)
        with pytest.raises(NotFoundError):
            async for _ in logs.stream(reader_world.finished):
                pass


async def test_limit_zero_is_an_invalid_request_naming_limit(reader_bridge, reader_world):
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        with pytest.raises(InvalidRequest) as info:
            await logs.get_logs(reader_world.finished, limit=0)
    assert info.value.status_code == 422
    assert "limit" in str(info.value)


async def test_a_dead_server_is_a_transport_error():
    async with LogsClient("http://127.0.0.1:9", "t", timeout=2) as logs:
        with pytest.raises(TransportError):
            await logs.get_logs("exec-x")


async def test_a_closed_client_refuses_reuse(reader_bridge, reader_world):
    logs = LogsClient(reader_bridge.url, reader_world.token())
    async with logs:
        await logs.summary(reader_world.finished)
    with pytest.raises(RuntimeError):
        await logs.summary(reader_world.finished)
    with pytest.raises(RuntimeError):
        async with logs:
            pass


async def test_a_callers_own_client_is_used_and_left_open(reader_bridge, reader_world):
    async with httpx.AsyncClient(base_url=reader_bridge.url) as own:
        async with LogsClient(None, reader_world.token(), client=own) as logs:
            page = await logs.get_logs(reader_world.finished, limit=1)
        assert len(page.logs) == 1
        assert not own.is_closed


# ------------------------------------------------------------------------------------------------
# Streams
# ------------------------------------------------------------------------------------------------
async def test_stream_of_a_finished_execution_yields_every_log_then_complete(reader_bridge, reader_world):
    expected = await reader_world.seqs(reader_world.finished)
    events = []
    with anyio.fail_after(20):
        async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
            events = [e async for e in logs.stream(reader_world.finished)]
    assert [e.seq for e in events if isinstance(e, LogEvent)] == expected
    assert isinstance(events[-1], CompleteEvent) and events[-1].data.status == "SUCCESS"


async def test_stream_when_logs_are_appended_live_they_arrive_and_complete_ends_it(reader_bridge, reader_world):
    execution_id = await reader_world.make_execution(logs=5)
    received: list[LogEvent] = []
    final = None
    with anyio.fail_after(20):
        async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
            async for event in logs.stream(execution_id):
                if isinstance(event, LogEvent):
                    received.append(event)
                    if len(received) == 5:
                        await reader_world.append(execution_id, [{"message": f"live {i}"} for i in range(3)])
                    if len(received) == 8:
                        await reader_world.finish(execution_id, "SUCCESS")
                else:
                    final = event
    assert [e.seq for e in received] == await reader_world.seqs(execution_id)
    assert [e.data.message for e in received[5:]] == ["live 0", "live 1", "live 2"]
    assert isinstance(final, CompleteEvent) and final.data.status == "SUCCESS"


class DroppingTransport(httpx.AsyncBaseTransport):
    """Breaks the first `drops` stream responses after `after_bytes` bytes (a connection that dies)."""

    def __init__(self, after_bytes: int, drops: int = 1) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.after_bytes = after_bytes
        self.drops = drops
        self.resume_headers: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not request.url.path.endswith("/stream"):
            return response
        self.resume_headers.append(request.headers.get("last-event-id"))
        if self.drops <= 0:
            return response
        self.drops -= 1
        limit = self.after_bytes
        original = response.stream

        class Breaking(httpx.AsyncByteStream):
            async def __aiter__(self):
                sent = 0
                async for chunk in original:
                    if sent + len(chunk) >= limit:
                        yield chunk[: limit - sent]  # cut in the middle of an event
                        raise httpx.ReadError("connection dropped by the test")
                    sent += len(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await original.aclose()

        return httpx.Response(response.status_code, headers=response.headers, stream=Breaking(), request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_stream_when_the_connection_drops_it_resumes_without_duplicate_or_gap(reader_bridge, reader_world):
    expected = await reader_world.seqs(reader_world.finished)
    transport = DroppingTransport(after_bytes=20_000, drops=2)
    with anyio.fail_after(20):
        async with LogsClient(reader_bridge.url, reader_world.token(), transport=transport, backoff=0.01) as logs:
            events = [e async for e in logs.stream(reader_world.finished)]
    assert len(transport.resume_headers) == 3
    assert transport.resume_headers[0] is None and transport.resume_headers[1] is not None
    assert [e.seq for e in events if isinstance(e, LogEvent)] == expected
    assert isinstance(events[-1], CompleteEvent)


async def test_stream_when_the_bridge_restarts_it_resumes_with_last_event_id(reader_bridge_factory, reader_world):
    execution_id = await reader_world.make_execution(logs=10)
    received: list[int] = []
    final = None
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(reader_bridge_factory())
        async with LogsClient(first.url, reader_world.token(), backoff=0.2, max_reconnects=20) as logs:
            with anyio.fail_after(40):
                async for event in logs.stream(execution_id):
                    if not isinstance(event, LogEvent):
                        final = event
                        break
                    received.append(event.seq)
                    if len(received) == 10:
                        await first.stop()  # SIGTERM ends streams; logs are written while it is down
                        await reader_world.append(execution_id, [{"message": f"while down {i}"} for i in range(4)])
                        await stack.enter_async_context(reader_bridge_factory(port=first.port))
                    if len(received) == 14:
                        await reader_world.finish(execution_id)
    assert received == await reader_world.seqs(execution_id)
    assert isinstance(final, CompleteEvent)


class RefusingAfterDrop(DroppingTransport):
    """Drops the first stream mid-way, then refuses every further connection (a bridge that stays down)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/stream") and self.drops <= 0:
            self.resume_headers.append(request.headers.get("last-event-id"))
            raise httpx.ConnectError("connection refused by the test")
        return await super().handle_async_request(request)


async def test_stream_that_never_comes_back_raises_stream_interrupted_with_the_resume_point(
    reader_bridge, reader_world
):
    transport = RefusingAfterDrop(after_bytes=5000, drops=1)
    seqs: list[int] = []
    with anyio.fail_after(20):
        async with LogsClient(
            reader_bridge.url, reader_world.token(), transport=transport, backoff=0.01, max_reconnects=3
        ) as logs:
            with pytest.raises(StreamInterrupted) as info:
                async for event in logs.stream(reader_world.finished):
                    seqs.append(event.seq)
    assert seqs and seqs == sorted(set(seqs))
    assert info.value.last_event_id == seqs[-1]
    assert transport.resume_headers == [None] + [str(seqs[-1])] * 3  # first try, then 3 bounded attempts


# ------------------------------------------------------------------------------------------------
# Sync facade
# ------------------------------------------------------------------------------------------------
def test_sync_facade_reads_pages_iterates_and_streams(reader_bridge, reader_world):
    with SyncLogsClient(reader_bridge.url, reader_world.token()) as logs:
        page = logs.get_logs(reader_world.finished, limit=10)
        seqs = [e.seq for e in logs.iter_logs(reader_world.finished, page_size=60)]
        events = list(logs.stream(reader_world.finished))
        summary = logs.summary(reader_world.finished)
        first_three = []
        for entry in logs.iter_logs(reader_world.finished, page_size=2):
            first_three.append(entry.seq)
            if len(first_three) == 3:
                break
    assert len(page.logs) == 10 and summary.total_logs == 250
    assert len(seqs) == 250 and seqs == sorted(seqs)
    assert [e.seq for e in events if isinstance(e, LogEvent)] == seqs
    assert isinstance(events[-1], CompleteEvent)
    assert first_three == seqs[:3]
    assert logs.is_closed
    with pytest.raises(RuntimeError):
        logs.summary(reader_world.finished)


# ------------------------------------------------------------------------------------------------
# Search, workflow logs and workflow statistics
# ------------------------------------------------------------------------------------------------
async def test_search_fills_highlight_and_rank_orders_best_first(reader_bridge, reader_world):
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        page = await logs.get_logs(reader_world.finished, q="17", limit=10)
        plain = await logs.get_logs(reader_world.finished, limit=10)
        ranked = await logs.get_logs(reader_world.finished, q="log or 17", order="rank", limit=1)
    assert [e.message for e in page.logs] == ["log 17"]
    assert page.logs[0].highlight is not None and page.logs[0].highlight.message == "log <mark>17</mark>"
    assert all(e.highlight is None for e in plain.logs)
    assert ranked.logs[0].message == "log 17" and ranked.pagination.next_cursor is None


async def test_iter_workflow_logs_reads_every_execution_in_seq_order(reader_bridge, reader_world, admin_pool):
    rows = await admin_pool.fetch(
        "select l.seq, l.execution_id from public.workflow_execution_logs l join public.workflow_executions we"
        " using (execution_id) where we.workflow_id = $1 order by l.seq",
        reader_world.workflow_id,
    )
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        got = [(e.seq, e.execution_id) async for e in logs.iter_workflow_logs(reader_world.workflow_id, page_size=33)]
        first = await logs.get_workflow_logs(reader_world.workflow_id, limit=5)
        with pytest.raises(InvalidRequest):
            async for _ in logs.iter_workflow_logs(reader_world.workflow_id, order="rank", q="log"):
                pass
    assert got == [(r["seq"], r["execution_id"]) for r in rows]
    assert first.total_count == len(rows) and first.pagination.has_more


def test_sync_client_workflow_logs_and_stats(reader_bridge, reader_world):
    with SyncLogsClient(reader_bridge.url, reader_world.token()) as logs:
        stats = logs.workflow_stats(reader_world.workflow_id, since="2000-01-01T00:00:00Z", top=3)
        entries = list(logs.iter_workflow_logs(reader_world.workflow_id, level="error"))
        with pytest.raises(NotFoundError):
            logs.workflow_stats("00000000-0000-4000-8000-000000000000")
    assert stats.runs.total >= 2 and stats.runs.by_status.get("SUCCESS", 0) >= 1
    assert stats.logs.by_level.get("error", 0) == len(entries)
    assert len(stats.top_errors) <= 3 and all(t.count >= 1 for t in stats.top_errors)
    assert all(e.level == "error" for e in entries)


async def test_iterating_refuses_paging_it_cannot_follow_instead_of_yielding_one_page(reader_bridge, reader_world):
    # order="rank" pages by offset and has no cursor: iterating would have stopped after the first page.
    async with LogsClient(reader_bridge.url, reader_world.token()) as logs:
        for bad in ({"order": "rank", "q": "log"}, {"limit": 5}, {"offset": 10}):
            with pytest.raises(InvalidRequest, match="pages by cursor in seq order"):
                async for _ in logs.iter_logs(reader_world.finished, **bad):
                    pass
            with pytest.raises(InvalidRequest, match="pages by cursor in seq order"):
                async for _ in logs.iter_workflow_logs(reader_world.workflow_id, **bad):
                    pass
