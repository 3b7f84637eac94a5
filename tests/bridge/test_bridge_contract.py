"""The REST contract of the bridge on both path families: shapes, filters, cursor, errors, ingestion,
health, metrics and OpenAPI."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

LOG_PATHS = ["/api/v1/app/executions/{id}/logs", "/v2/workflows/executions/{id}/logs"]
SUMMARY_PATHS = ["/v2/executions/{id}/logs/summary", "/api/v1/app/executions/{id}/logs/summary"]
LOG_ENTRY_KEYS = {"id", "seq", "timestamp", "event_type", "message", "level", "data", "log_category",
                  "display_priority", "is_milestone"}


async def db_logs(admin_pool, execution_id: str, where: str = "true") -> list:
    return await admin_pool.fetch(
        f"select seq, level::text as level from public.workflow_execution_logs"
        f" where execution_id = $1 and {where} order by seq",
        execution_id,
    )


# =============================================================================================
# GET logs
# =============================================================================================
@pytest.mark.parametrize("path", LOG_PATHS)
async def test_logs_page_has_the_logs_response_shape(client, world, path):
    r = await client.get(path.format(id=world.finished), params={"limit": 10}, headers=world.auth())
    assert r.status_code == 200, r.text[:400]
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"execution_id", "logs", "total_count", "pagination"}
    assert body["execution_id"] == world.finished
    assert body["total_count"] == 250
    assert set(body["pagination"]) == {"limit", "offset", "has_more", "next_cursor"}
    assert body["pagination"]["limit"] == 10 and body["pagination"]["offset"] == 0
    assert body["pagination"]["has_more"] is True
    assert len(body["logs"]) == 10
    for entry in body["logs"]:
        assert LOG_ENTRY_KEYS <= set(entry), entry
        assert entry["level"] in {"debug", "info", "warning", "error", "critical"}
        assert entry["log_category"] in {"business", "technical"}
    assert [e["seq"] for e in body["logs"]] == world.finished_seqs[:10]
    assert body["pagination"]["next_cursor"] == world.finished_seqs[9]


@pytest.mark.parametrize("path", LOG_PATHS)
async def test_walking_pages_by_next_cursor_returns_every_log_once_in_order(client, world, path):
    seen: list[int] = []
    params: dict = {"limit": 37}
    for _ in range(20):
        r = await client.get(path.format(id=world.finished), params=params, headers=world.auth())
        assert r.status_code == 200, r.text[:400]
        page = r.json()
        seen += [e["seq"] for e in page["logs"]]
        if not page["pagination"]["has_more"]:
            break
        params = {"limit": 37, "after": page["pagination"]["next_cursor"]}
    assert seen == world.finished_seqs


@pytest.mark.parametrize("path", LOG_PATHS)
async def test_level_filter_returns_only_that_level(client, world, admin_pool, path):
    expected = [r["seq"] for r in await db_logs(admin_pool, world.finished, "level = 'ERROR'")]
    assert expected, "the fixture has errors"
    r = await client.get(path.format(id=world.finished), params={"level": "error", "limit": 1000}, headers=world.auth())
    assert r.status_code == 200, r.text[:400]
    body = r.json()
    assert [e["seq"] for e in body["logs"]] == expected
    assert {e["level"] for e in body["logs"]} == {"error"}
    assert body["total_count"] == len(expected)


async def test_category_milestone_and_node_filters(client, world, admin_pool):
    path = f"/v2/workflows/executions/{world.finished}/logs"
    business = await db_logs(admin_pool, world.finished, "log_category = 'business'")
    r = await client.get(path, params={"category": "business", "limit": 1000}, headers=world.auth())
    assert [e["seq"] for e in r.json()["logs"]] == [x["seq"] for x in business]
    r = await client.get(path, params={"milestones_only": "true", "limit": 1000}, headers=world.auth())
    assert r.json()["total_count"] == 10
    assert all(e["is_milestone"] for e in r.json()["logs"])
    r = await client.get(path, params={"node_id": "node-1", "limit": 1000}, headers=world.auth())
    assert r.json()["total_count"] == 50
    assert {e["node_id"] for e in r.json()["logs"]} == {"node-1"}


@pytest.mark.parametrize("path", LOG_PATHS)
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"after": -1}, "after"),
        ({"after": 2**63}, "after"),
        ({"level": "LOUD"}, "level"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"end_time": "soon"}, "end_time"),
        ({"category": "gossip"}, "category"),
        ({"event_type": "party"}, "event_type"),
        ({"min_priority": 11}, "min_priority"),
        ({"start_time": "2025-01-02T00:00:00Z", "end_time": "2025-01-01T00:00:00Z"}, "start_time"),
    ],
)
async def test_bad_parameter_is_422_naming_it(client, world, path, params, named):
    r = await client.get(path.format(id=world.finished), params=params, headers=world.auth())
    assert r.status_code == 422, r.text[:400]
    detail = r.json()["detail"]
    assert named in json.dumps(detail), detail


@pytest.mark.parametrize("path", LOG_PATHS + SUMMARY_PATHS)
async def test_unknown_execution_is_404(client, world, path):
    r = await client.get(path.format(id="no-such-execution"), headers=world.auth())
    assert r.status_code == 404, r.text[:400]
    assert "no-such-execution" in r.json()["detail"]
    assert r.json()["request_id"] == r.headers["x-request-id"]


# =============================================================================================
# Summary and recent logs
# =============================================================================================
@pytest.mark.parametrize("path", SUMMARY_PATHS)
async def test_summary_has_counts_milestones_nodes_and_timeline(client, world, admin_pool, path):
    r = await client.get(path.format(id=world.finished), headers=world.auth())
    assert r.status_code == 200, r.text[:400]
    body = r.json()
    assert set(body) >= {"execution_id", "status", "total_logs", "log_levels", "event_types", "log_categories",
                         "milestones", "nodes", "timeline"}
    assert body["execution_id"] == world.finished
    assert body["status"] == "SUCCESS"
    assert body["total_logs"] == 250
    errors = len(await db_logs(admin_pool, world.finished, "level = 'ERROR'"))
    assert {k.upper(): v for k, v in body["log_levels"].items()}.get("ERROR") == errors
    assert sum(body["log_categories"].values()) == 250
    assert len(body["milestones"]) == 10
    assert len(body["nodes"]) == 5
    assert set(body["timeline"]) >= {"first_log", "last_log"}


async def test_recent_logs_returns_the_latest_execution_with_its_logs(client, world):
    r = await client.get(
        "/api/v1/app/executions/recent_logs", params={"workflow_id": world.workflow_id, "limit": 5},
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text[:400]
    body = r.json()
    assert set(body) >= {"workflow_id", "latest_execution", "logs", "summary"}
    assert body["workflow_id"] == world.workflow_id
    assert body["latest_execution"]["execution_id"] == world.running  # started after the finished one
    assert len(body["logs"]) == 5
    assert body["summary"]["total_logs"] == 40

    r = await client.get(
        "/api/v1/app/executions/recent_logs",
        params={"workflow_id": world.workflow_id, "include_all_executions": "true"},
        headers=world.auth(),
    )
    body = r.json()
    assert body["total_executions"] == 2
    assert [e["execution_id"] for e in body["other_executions"]] == [world.finished]
    assert body["other_executions"][0]["total_logs"] == 250


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [({}, 422, "workflow_id"), ({"workflow_id": "nope"}, 422, "workflow_id"),
     ({"workflow_id": str(uuid.uuid4())}, 404, "workflow"), ({"workflow_id": "x", "limit": 0}, 422, "limit")],
)
async def test_recent_logs_bad_or_unknown_workflow(client, world, params, status, named):
    r = await client.get("/api/v1/app/executions/recent_logs", params=params, headers=world.auth())
    assert r.status_code == status, r.text[:400]
    assert named in json.dumps(r.json()["detail"])


# =============================================================================================
# POST logs (ingestion)
# =============================================================================================
def entries(execution_id: str | None, n: int, **fields) -> list[dict]:
    out = []
    for i in range(n):
        e = {"id": str(uuid.uuid4()), "event_type": "step_output", "message": f"ingested {i}", **fields}
        if execution_id is not None:
            e["execution_id"] = execution_id
        out.append(e)
    return out


async def test_post_logs_inserts_and_a_retried_batch_only_counts_duplicates(client, world, scratch):
    execution_id = await scratch.execution()
    batch = entries(None, 3)  # execution_id taken from the path
    r = await client.post(f"/v2/executions/{execution_id}/logs", json=batch, headers=world.auth("service"))
    assert r.status_code == 200, r.text[:400]
    first = r.json()
    assert set(first) == {"inserted", "duplicates", "last_seq"}
    assert first["inserted"] == 3 and first["duplicates"] == 0
    assert first["last_seq"] == (await scratch.seqs(execution_id))[-1]

    r = await client.post(f"/v2/executions/{execution_id}/logs", json=batch, headers=world.auth("service"))
    assert r.status_code == 200, r.text[:400]
    assert r.json() == {"inserted": 0, "duplicates": 3, "last_seq": first["last_seq"]}
    assert len(await scratch.seqs(execution_id)) == 3


async def test_post_logs_accepts_the_logs_object_form(client, world, scratch):
    execution_id = await scratch.execution()
    r = await client.post(
        f"/v2/executions/{execution_id}/logs", json={"logs": entries(execution_id, 2, level="warning")},
        headers=world.auth("service"),
    )
    assert r.status_code == 200, r.text[:400]
    assert r.json()["inserted"] == 2
    r = await client.get(f"/v2/workflows/executions/{execution_id}/logs", headers=world.auth())
    assert [e["level"] for e in r.json()["logs"]] == ["warning", "warning"]


async def test_post_logs_entry_of_another_execution_is_422(client, world, scratch):
    execution_id = await scratch.execution()
    batch = entries(execution_id, 2)
    batch[1]["execution_id"] = world.running
    r = await client.post(f"/v2/executions/{execution_id}/logs", json=batch, headers=world.auth("service"))
    assert r.status_code == 422, r.text[:400]
    assert "logs[1]" in r.json()["detail"]
    assert await scratch.seqs(execution_id) == []
    assert len(await scratch.seqs(world.running)) == 40


@pytest.mark.parametrize(
    ("bad", "status"),
    [({"level": "LOUD"}, 422), ({"event_type": "party"}, 422), ({"display_priority": 99}, 422),
     ({"surprise": 1}, 422), ({"message": 5}, 422), ({"data": [1, 2]}, 422),
     ({"message": "x" * 11000}, 422)],
)
async def test_post_logs_invalid_entry_is_422_naming_it(client, world, scratch, bad, status):
    execution_id = await scratch.execution()
    batch = entries(execution_id, 3)
    batch[2].update(bad)
    r = await client.post(f"/v2/executions/{execution_id}/logs", json=batch, headers=world.auth("service"))
    assert r.status_code == status, r.text[:400]
    assert "logs[2]" in r.json()["detail"], r.json()
    assert await scratch.seqs(execution_id) == []  # all or nothing


@pytest.mark.parametrize("body", [b"{not json", b'"a string"', b'{"entries": []}', b"42"])
async def test_post_logs_body_that_is_not_a_batch_is_422(client, world, scratch, body):
    execution_id = await scratch.execution()
    r = await client.post(
        f"/v2/executions/{execution_id}/logs", content=body,
        headers={**world.auth("service"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text[:400]


async def test_post_logs_to_unknown_execution_is_404(client, world):
    r = await client.post("/v2/executions/no-such-execution/logs", json=entries(None, 1), headers=world.auth("service"))
    assert r.status_code == 404, r.text[:400]
    assert "no-such-execution" in r.json()["detail"]


async def test_post_logs_over_the_byte_limit_is_413(bounded_bridge, world, scratch):
    execution_id = await scratch.execution()
    big = entries(execution_id, 3, data={"blob": "y" * 2000})
    async with httpx.AsyncClient(base_url=bounded_bridge.url, timeout=10) as c:
        r = await c.post(f"/v2/executions/{execution_id}/logs", json=big, headers=world.auth("service"))
        assert r.status_code == 413, r.text[:400]
        assert "4096" in r.json()["detail"]

        async def chunked():  # no Content-Length: the limit is counted while reading
            payload = json.dumps(big).encode()
            for i in range(0, len(payload), 1000):
                yield payload[i : i + 1000]

        r = await c.post(
            f"/v2/executions/{execution_id}/logs", content=chunked(),
            headers={**world.auth("service"), "Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text[:400]
        # A batch under the limit on the same server is fine.
        r = await c.post(f"/v2/executions/{execution_id}/logs", json=entries(execution_id, 2), headers=world.auth("service"))
        assert r.status_code == 200, r.text[:400]
    assert len(await scratch.seqs(execution_id)) == 2


async def test_post_logs_over_the_entry_limit_is_413(bounded_bridge, world, scratch):
    execution_id = await scratch.execution()
    async with httpx.AsyncClient(base_url=bounded_bridge.url, timeout=10) as c:
        r = await c.post(
            f"/v2/executions/{execution_id}/logs", json={"logs": [{"event_type": "separator", "message": ""}] * 11},
            headers=world.auth("service"),
        )
    assert r.status_code == 413, r.text[:400]
    assert "10" in r.json()["detail"]
    assert await scratch.seqs(execution_id) == []


# =============================================================================================
# Health, metrics, OpenAPI
# =============================================================================================
@pytest.mark.parametrize("path", ["/health", "/api/v1/public/health"])
async def test_health_reports_database_and_listener(client, path):
    r = await client.get(path)
    assert r.status_code == 200, r.text[:400]
    assert r.json() == {"status": "ok", "database": "ok", "listener": "ok"}
    assert r.headers["cache-control"] == "no-store"


async def test_metrics_expose_latency_streams_notify_and_pool(client, world):
    await client.get(f"/v2/workflows/executions/{world.finished}/logs", headers=world.auth())
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    for name in ("workflow_logs_request_seconds", "workflow_logs_active_streams",
                 "workflow_logs_notify_to_send_seconds", "workflow_logs_db_pool_connections"):
        assert f"# TYPE {name}" in r.text, name
    assert 'route="/v2/workflows/executions/{execution_id}/logs"' in r.text


async def test_openapi_documents_every_path_with_response_schemas(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = spec["paths"]
    expected = {
        "/api/v1/app/executions/{execution_id}/logs": ("get", "LogsResponse"),
        "/v2/workflows/executions/{execution_id}/logs": ("get", "LogsResponse"),
        "/v2/executions/{execution_id}/logs/summary": ("get", "LogsSummaryResponse"),
        "/api/v1/app/executions/{execution_id}/logs/summary": ("get", "LogsSummaryResponse"),
        "/api/v1/app/executions/recent_logs": ("get", "RecentLogsResponse"),
        "/v2/executions/{execution_id}/logs": ("post", "AppendResponse"),
        "/health": ("get", "HealthResponse"),
        "/api/v1/public/health": ("get", "HealthResponse"),
    }
    for path, (method, model) in expected.items():
        assert path in paths, path
        ok = paths[path][method]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"] == f"#/components/schemas/{model}", path
    for path in ("/api/v1/app/executions/{execution_id}/logs/stream", "/v2/executions/{execution_id}/logs/stream"):
        responses = paths[path]["get"]["responses"]
        assert "text/event-stream" in responses["200"]["content"], path
        assert "429" in responses and "401" in responses
    assert "/metrics" in paths
    schemas = spec["components"]["schemas"]
    for model in ("LogsResponse", "LogEntry", "PaginationInfo", "LogsSummaryResponse", "RecentLogsResponse",
                  "AppendResponse", "HealthResponse", "ErrorResponse"):
        assert model in schemas, model
    assert set(schemas["LogsResponse"]["properties"]) == {"execution_id", "logs", "total_count", "pagination"}
    logs_get = paths["/v2/workflows/executions/{execution_id}/logs"]["get"]
    for status in ("401", "404", "422", "503"):
        assert logs_get["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")
    assert {"limit", "after", "level", "start_time"} <= {p["name"] for p in logs_get["parameters"]}
