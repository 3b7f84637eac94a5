"""HTTP caching of log pages (ETag of finished executions) and request/trace ids."""

from __future__ import annotations

import re
import uuid

import pytest


async def test_finished_execution_page_has_an_etag_and_if_none_match_is_304(client, world):
    path = f"/v2/workflows/executions/{world.finished}/logs"
    r = await client.get(path, params={"limit": 50}, headers=world.auth())
    assert r.status_code == 200
    etag = r.headers["etag"]
    assert etag.startswith('W/"')
    again = await client.get(path, params={"limit": 50}, headers={**world.auth(), "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    # A list of tags matches too; another tag does not.
    listed = await client.get(path, params={"limit": 50}, headers={**world.auth(), "If-None-Match": f'W/"x", {etag}'})
    assert listed.status_code == 304
    other = await client.get(path, params={"limit": 50}, headers={**world.auth(), "If-None-Match": 'W/"stale"'})
    assert other.status_code == 200 and other.json()["logs"]


async def test_etag_differs_by_query_and_by_path_family(client, world):
    a = await client.get(f"/v2/workflows/executions/{world.finished}/logs", params={"limit": 50}, headers=world.auth())
    b = await client.get(f"/v2/workflows/executions/{world.finished}/logs", params={"limit": 51}, headers=world.auth())
    c = await client.get(f"/v2/workflows/executions/{world.finished}/logs", params={"limit": 50, "level": "error"},
                         headers=world.auth())
    assert len({a.headers["etag"], b.headers["etag"], c.headers["etag"]}) == 3


async def test_etag_is_not_shared_between_users_who_see_different_data(client, world):
    """The other user gets 404, so a cached 200 of the owner must never be revalidated for them as 304."""
    r = await client.get(f"/v2/workflows/executions/{world.finished}/logs", headers=world.auth())
    other = await client.get(
        f"/v2/workflows/executions/{world.finished}/logs", headers={**world.auth("other"), "If-None-Match": r.headers["etag"]}
    )
    assert other.status_code == 404


async def test_etag_changes_after_a_late_log_is_appended(client, world, scratch):
    execution_id = await scratch.execution(status="SUCCESS", logs=20)
    path = f"/api/v1/app/executions/{execution_id}/logs"
    first = await client.get(path, headers=world.auth())
    etag = first.headers["etag"]
    r = await client.post(
        f"/v2/executions/{execution_id}/logs", json=[{"event_type": "step_output", "message": "late"}],
        headers=world.auth("service"),
    )
    assert r.status_code == 200, r.text
    after = await client.get(path, headers={**world.auth(), "If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert after.json()["total_count"] == 21
    assert after.json()["logs"][-1]["message"] == "late"


async def test_etag_changes_when_the_status_changes(client, world, scratch):
    execution_id = await scratch.execution(status="SUCCESS", logs=5)
    path = f"/api/v1/app/executions/{execution_id}/logs"
    etag = (await client.get(path, headers=world.auth())).headers["etag"]
    await scratch.finish(execution_id, "ERROR")
    after = await client.get(path, headers={**world.auth(), "If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag


@pytest.mark.parametrize("path", ["/api/v1/app/executions/{id}/logs", "/v2/workflows/executions/{id}/logs"])
async def test_running_execution_page_is_no_store_without_etag(client, world, path):
    r = await client.get(path.format(id=world.running), headers=world.auth())
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert "etag" not in r.headers
    # If-None-Match is ignored for a running execution.
    r = await client.get(path.format(id=world.running), headers={**world.auth(), "If-None-Match": "*"})
    assert r.status_code == 200 and len(r.json()["logs"]) == 40


async def test_request_id_is_echoed_when_sent_and_generated_when_absent(client, world):
    sent = f"req-{uuid.uuid4().hex[:8]}"
    r = await client.get(f"/v2/workflows/executions/{world.finished}/logs", headers={**world.auth(), "X-Request-ID": sent})
    assert r.headers["x-request-id"] == sent
    r = await client.get(f"/v2/workflows/executions/{world.finished}/logs", headers=world.auth())
    generated = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    r2 = await client.get(f"/v2/workflows/executions/{world.finished}/logs", headers=world.auth())
    assert r2.headers["x-request-id"] != generated
    # Unsafe ids (header injection, huge values) are replaced, not echoed.
    r = await client.get("/health", headers={"X-Request-ID": "a b\tc" + "x" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


async def test_error_bodies_carry_the_request_id(client, world):
    r = await client.get("/v2/workflows/executions/nope/logs", headers={**world.auth(), "X-Request-ID": "err-check-1"})
    assert r.status_code == 404
    assert r.json()["request_id"] == "err-check-1"
    r = await client.get("/v2/workflows/executions/nope/logs", headers={"X-Request-ID": "err-check-2"})
    assert r.status_code == 401 and r.json()["request_id"] == "err-check-2"


async def test_traceparent_is_propagated_as_x_trace_id(client, world):
    trace = uuid.uuid4().hex
    traceparent = f"00-{trace}-{uuid.uuid4().hex[:16]}-01"
    r = await client.get(f"/v2/workflows/executions/{world.finished}/logs", headers={**world.auth(), "traceparent": traceparent})
    assert r.headers["x-trace-id"] == trace
    assert r.headers["traceparent"] == traceparent
    r = await client.get("/health", headers={"X-Trace-ID": "my-trace-1"})
    assert r.headers["x-trace-id"] == "my-trace-1"
    r = await client.get("/health")
    assert "x-trace-id" not in r.headers


async def test_stream_response_headers(client, world, open_sse):
    async with open_sse(client, f"/v2/executions/{world.running}/logs/stream", token=world.token(),
                        headers={"X-Request-ID": "stream-req-1"}) as reader:
        assert reader.status_code == 200
        assert reader.headers["content-type"].startswith("text/event-stream")
        assert reader.headers["cache-control"] == "no-store"
        assert reader.headers["x-accel-buffering"] == "no"
        assert reader.headers["x-request-id"] == "stream-req-1"
