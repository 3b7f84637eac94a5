"""Search, workflow logs and workflow statistics through the bridge: content, both path families, errors.

(Who may call them is in test_bridge_auth.py's matrix.)
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio

import factories

FAMILIES = ["/api/v1/app/workflows/{id}", "/v2/workflows/{id}"]


class Interleaved:
    """The owner's workflow with three executions whose logs were written in turns (seq ranges interleave)."""

    def __init__(self, workflow_id: str, executions: list[str], seqs: list[int]) -> None:
        self.workflow_id = workflow_id
        self.executions = executions
        self.seqs = seqs


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def interleaved(admin_pool, world) -> Interleaved:
    start = datetime.now(timezone.utc) - timedelta(hours=3)
    async with admin_pool.acquire() as conn:
        workflow_id = await factories.make_workflow(conn, world.owner, name="interleaved workflow")
        executions = [
            await factories.make_execution(conn, workflow_id, status=status, start_time=start + timedelta(minutes=i))
            for i, status in enumerate(["SUCCESS", "ERROR", "RUNNING"])
        ]
        await conn.execute(
            "update public.workflow_executions set end_time = start_time + interval '90 seconds'"
            " where execution_id = any($1::text[]) and status <> 'RUNNING'",
            executions,
        )
        for turn in range(6):
            for i, execution_id in enumerate(executions):
                await factories.insert_logs_bulk(
                    conn, execution_id, 5 + i, first=turn * 100 + 1, error_every=4, nodes=2,
                    start=start + timedelta(minutes=turn),
                )
        seqs = [
            r["seq"]
            for r in await conn.fetch(
                "select l.seq from public.workflow_execution_logs l join public.workflow_executions we"
                " using (execution_id) where we.workflow_id = $1 order by l.seq",
                workflow_id,
            )
        ]
    return Interleaved(workflow_id, executions, seqs)


# =============================================================================================
# Workflow logs
# =============================================================================================
@pytest.mark.parametrize("family", FAMILIES)
async def test_workflow_logs_when_walked_by_cursor_then_every_log_of_every_execution_once_in_seq_order(
    client, world, interleaved, family
):
    path = family.format(id=interleaved.workflow_id) + "/logs"
    seen: list[int] = []
    executions: set[str] = set()
    after = None
    for _ in range(100):
        r = await client.get(path, params={"limit": 7, **({"after": after} if after else {})}, headers=world.auth())
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        seen += [e["seq"] for e in body["logs"]]
        executions |= {e["execution_id"] for e in body["logs"]}
        if after is None:
            assert body["total_count"] == len(interleaved.seqs)
        else:
            assert body["total_count"] is None
        if not body["pagination"]["has_more"]:
            break
        after = body["pagination"]["next_cursor"]
    assert seen == interleaved.seqs
    assert executions == set(interleaved.executions)
    assert r.headers["cache-control"] == "no-store"


async def test_workflow_logs_filters_by_level_and_searches_with_highlight(client, world, interleaved):
    path = f"/v2/workflows/{interleaved.workflow_id}/logs"
    r = await client.get(path, params={"level": "error", "limit": 1000}, headers=world.auth())
    assert r.status_code == 200
    errors = r.json()["logs"]
    assert errors and all(e["level"] == "error" for e in errors)
    assert all("highlight" not in e for e in errors)

    # bulk messages are 'log <i>' with i = turn * 100 + 1...: the word '4' is only in turn 0's 'log 4', once per run
    r = await client.get(path, params={"q": "4", "limit": 1000}, headers=world.auth())
    assert r.status_code == 200, r.text[:300]
    found = r.json()["logs"]
    assert {e["execution_id"] for e in found} == set(interleaved.executions)
    assert [e["message"] for e in found] == ["log 4"] * 3
    assert all(e["highlight"]["message"] == "log <mark>4</mark>" for e in found)


async def test_workflow_logs_rank_order_pages_by_offset(client, world, interleaved):
    path = f"/api/v1/app/workflows/{interleaved.workflow_id}/logs"
    everything = (await client.get(path, params={"q": "log", "order": "rank", "limit": 1000}, headers=world.auth())).json()
    assert everything["pagination"]["next_cursor"] is None
    assert len(everything["logs"]) == len(interleaved.seqs)
    second = (await client.get(path, params={"q": "log", "order": "rank", "limit": 10, "offset": 10}, headers=world.auth())).json()
    assert [e["seq"] for e in second["logs"]] == [e["seq"] for e in everything["logs"]][10:20]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"q": "!!! ---"}, "q has no words"),
        ({"order": "rank"}, "order rank needs q"),
        ({"q": "x", "order": "rank", "after": 5}, "after cannot be combined"),
        ({"level": "LOUD"}, "level must be one of"),
        ({"start_time": "yesterday"}, "start_time must be an ISO 8601"),
    ],
)
async def test_workflow_logs_bad_parameters_are_422_naming_the_parameter(client, world, interleaved, params, needle):
    r = await client.get(f"/v2/workflows/{interleaved.workflow_id}/logs", params=params, headers=world.auth())
    assert r.status_code == 422, r.text[:300]
    assert needle in r.json()["detail"]


async def test_workflow_logs_order_outside_seq_and_rank_is_422(client, world, interleaved):
    r = await client.get(f"/v2/workflows/{interleaved.workflow_id}/logs", params={"order": "newest"}, headers=world.auth())
    assert r.status_code == 422


async def test_workflow_endpoints_404_for_an_unknown_workflow_and_422_for_a_bad_id(client, world):
    for suffix in ("logs", "stats"):
        r = await client.get(f"/v2/workflows/00000000-0000-4000-8000-000000000000/{suffix}", headers=world.auth())
        assert r.status_code == 404, r.text[:300]
        assert r.json()["code"] == "P0002"
        r = await client.get(f"/v2/workflows/not-a-uuid/{suffix}", headers=world.auth())
        assert r.status_code == 422
        assert "workflow_id must be a UUID" in r.json()["detail"]


# =============================================================================================
# Search on one execution
# =============================================================================================
async def test_execution_search_when_message_has_markup_then_highlight_is_escaped_html(client, world, scratch):
    execution_id = await scratch.execution(logs=5)
    await scratch.append(execution_id, 1, prefix='quota <b>exceeded</b> for "tenant" & co')
    r = await client.get(
        f"/api/v1/app/executions/{execution_id}/logs", params={"q": "exceeded"}, headers=world.auth()
    )
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["total_count"] == 1
    [entry] = body["logs"]
    assert entry["message"] == 'quota <b>exceeded</b> for "tenant" & co 0'
    assert entry["highlight"] == {
        "message": "quota &lt;b&gt;<mark>exceeded</mark>&lt;/b&gt; for &quot;tenant&quot; &amp; co 0",
        "technical_message": None,
    }
    plain = (await client.get(f"/v2/workflows/executions/{execution_id}/logs", headers=world.auth())).json()
    assert all("highlight" not in e for e in plain["logs"])


# =============================================================================================
# Statistics
# =============================================================================================
@pytest.mark.parametrize("family", FAMILIES)
async def test_workflow_stats_counts_runs_errors_and_nodes(client, world, interleaved, admin_pool, family):
    r = await client.get(family.format(id=interleaved.workflow_id) + "/stats", params={"top": 3}, headers=world.auth())
    assert r.status_code == 200, r.text[:300]
    stats = r.json()
    assert stats["runs"] == {"total": 3, "by_status": {"SUCCESS": 1, "ERROR": 1, "RUNNING": 1}, "finished": 2, "failed": 1}
    assert stats["error_rate"] == 0.5
    assert stats["duration_seconds"]["max"] == 90
    rows = await admin_pool.fetch(
        "select message from public.workflow_execution_logs where execution_id = any($1::text[]) and level = 'ERROR'",
        interleaved.executions,
    )
    expected = sorted(Counter(r["message"] for r in rows).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [(e["message"], e["count"]) for e in stats["top_errors"]] == expected
    assert {n["node_id"] for n in stats["slowest_nodes"]} == {"node-0", "node-1"}
    assert all(n["executions"] == 3 for n in stats["slowest_nodes"])


async def test_workflow_stats_window_keeps_runs_that_started_in_it(client, world, interleaved, admin_pool):
    second_start = await admin_pool.fetchval(
        "select start_time from public.workflow_executions where execution_id = $1", interleaved.executions[1]
    )
    r = await client.get(
        f"/v2/workflows/{interleaved.workflow_id}/stats",
        params={"since": second_start.isoformat(), "until": (second_start + timedelta(seconds=30)).isoformat()},
        headers=world.auth(),
    )
    assert r.status_code == 200, r.text[:300]
    assert r.json()["runs"]["by_status"] == {"ERROR": 1}
    r = await client.get(
        f"/v2/workflows/{interleaved.workflow_id}/stats", params={"since": "2025-02-01", "until": "2025-01-01"},
        headers=world.auth(),
    )
    assert r.status_code == 422
    assert "since" in r.json()["detail"]
