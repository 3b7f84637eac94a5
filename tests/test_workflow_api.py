"""get_workflow_stats and get_workflow_logs against brute force in Python, over random data.

One seeded random world per module: a few workflows (one of another user), executions with random statuses,
start and end times, and logs written in random turns across executions (so seq ranges interleave), with
random levels, categories, nodes, durations and messages drawn from a small vocabulary (so searches hit).
Every expectation is computed in Python from the rows as written.
"""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio

import factories

SEED = 20251125
WORDS = ["timeout", "database", "retry", "quota", "exceeded", "upstream", "parse", "failed", "ok", "cache"]
STATUSES = ["NEW", "RUNNING", "SUCCESS", "SUCCESS", "SUCCESS", "ERROR", "CANCELED", "TIMEOUT"]
FINISHED = {"SUCCESS", "ERROR", "CANCELED", "TIMEOUT"}
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


@dataclass
class Execution:
    execution_id: str
    workflow_id: str
    status: str
    start_time: datetime
    end_time: datetime | None


@dataclass
class World:
    owner: str
    other: str
    workflows: list[str]
    foreign_workflow: str
    executions: list[Execution]
    logs: list[dict] = field(default_factory=list)  # as stored, with seq

    def runs_of(self, workflow_id: str, since=None, until=None) -> list[Execution]:
        return [
            e for e in self.executions
            if e.workflow_id == workflow_id
            and (since is None or e.start_time >= since)
            and (until is None or e.start_time < until)
        ]


def message(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(admin_pool) -> World:
    rng = random.Random(SEED)
    async with admin_pool.acquire() as conn:
        owner = await factories.make_user(conn)
        other = await factories.make_user(conn)
        workflows = [await factories.make_workflow(conn, owner, name=f"random {i}") for i in range(3)]
        foreign = await factories.make_workflow(conn, other, name="someone else's")
        executions = []
        for workflow_id in workflows + [foreign]:
            for _ in range(rng.randint(6, 12)):
                status = rng.choice(STATUSES)
                start = T0 + timedelta(hours=rng.randint(0, 240), seconds=rng.randint(0, 3599))
                end = start + timedelta(seconds=rng.randint(1, 5000)) if status in FINISHED else None
                execution_id = await factories.make_execution(conn, workflow_id, status=status, start_time=start)
                await conn.execute(
                    "update public.workflow_executions set end_time = $2 where execution_id = $1", execution_id, end
                )
                executions.append(Execution(execution_id, workflow_id, status, start, end))
        w = World(owner, other, workflows, foreign, executions)
        # Logs in turns: each turn, a random subset of executions appends a small batch.
        for _ in range(25):
            for e in rng.sample(executions, k=max(1, len(executions) // 3)):
                batch = []
                for _ in range(rng.randint(1, 6)):
                    level = rng.choices(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], [2, 10, 3, 3, 1])[0]
                    node = rng.choice([None, "fetch", "parse", "write"])
                    friendly = message(rng) if rng.random() < 0.3 else None
                    batch.append({
                        "execution_id": e.execution_id,
                        "event_type": rng.choice(["step_started", "step_output", "step_completed", "step_error"]),
                        "level": level,
                        "log_category": rng.choice(["business", "technical"]),
                        "message": message(rng),
                        "user_friendly_message": friendly,
                        "node_id": node,
                        "duration_seconds": rng.randint(0, 120) if node and rng.random() < 0.7 else None,
                        "created_at": (e.start_time + timedelta(seconds=rng.randint(0, 4000))).isoformat(),
                    })
                await factories.append_logs(conn, batch)
        rows = await conn.fetch(
            "select l.*, we.workflow_id::text as workflow_id from public.workflow_execution_logs l"
            " join public.workflow_executions we using (execution_id)"
            " where we.workflow_id = any($1::uuid[]) order by l.seq",
            workflows + [foreign],
        )
        w.logs = [dict(r) for r in rows]
    return w


def stats_call(conn, workflow_id, since=None, until=None, top=10):
    return conn.fetchval(
        "select public.get_workflow_stats($1, $2, $3, $4)",
        workflow_id, since and since.isoformat(), until and until.isoformat(), top,
    )


def node_duration(node_row) -> float:
    if node_row["duration_seconds"] is not None:
        return float(node_row["duration_seconds"])
    return (node_row["last_log_at"] - node_row["first_log_at"]).total_seconds()


# =============================================================================================
# Statistics
# =============================================================================================
@pytest.mark.parametrize("window", [(None, None), (T0 + timedelta(hours=50), T0 + timedelta(hours=170)), (T0 + timedelta(hours=100), None)])
async def test_workflow_stats_when_compared_with_a_brute_force_count_then_equal(world, as_user, admin_pool, window):
    since, until = window
    for workflow_id in world.workflows:
        runs = world.runs_of(workflow_id, since, until)
        ids = {e.execution_id for e in runs}
        logs = [l for l in world.logs if l["execution_id"] in ids]
        async with as_user(world.owner) as conn:
            stats = await stats_call(conn, workflow_id, since, until, top=5)

        by_status = Counter(e.status for e in runs)
        finished = sum(n for s, n in by_status.items() if s in FINISHED)
        failed = by_status["ERROR"] + by_status["TIMEOUT"]
        assert stats["runs"] == {"total": len(runs), "by_status": dict(by_status), "finished": finished, "failed": failed}
        assert stats["error_rate"] == (round(failed / finished, 4) if finished else None)

        durations = [(e.end_time - e.start_time).total_seconds() for e in runs if e.status in FINISHED]
        if durations:
            assert stats["duration_seconds"]["avg"] == pytest.approx(statistics.fmean(durations), abs=1e-3)
            assert stats["duration_seconds"]["max"] == pytest.approx(max(durations), abs=1e-3)
            assert stats["duration_seconds"]["p50"] == pytest.approx(statistics.median(durations), abs=1e-3)
        else:
            assert stats["duration_seconds"]["avg"] is None

        assert stats["logs"]["total"] == len(logs)
        assert stats["logs"]["by_level"] == dict(Counter(l["level"].lower() for l in logs))

        errors = [l for l in logs if l["level"] in ("ERROR", "CRITICAL")]
        counts = Counter(l["message"] for l in errors)
        expected_top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        assert [(t["message"], t["count"]) for t in stats["top_errors"]] == expected_top
        for t in stats["top_errors"]:
            assert t["executions"] == len({l["execution_id"] for l in errors if l["message"] == t["message"]})

        # Nodes: per node, over the runs in the window (the node table holds the per-run status and duration).
        node_rows = await admin_pool.fetch(
            "select * from public.workflow_execution_nodes where execution_id = any($1::text[])", list(ids)
        )
        per_node = defaultdict(list)
        for n in node_rows:
            per_node[n["node_id"]].append(n)
        expected_nodes = sorted(
            (
                (node_id, len(rows), sum(r["status"] == "failed" for r in rows),
                 round(statistics.fmean(node_duration(r) for r in rows), 3))
                for node_id, rows in per_node.items()
            ),
            key=lambda t: (-t[3], t[0]),
        )[:5]
        assert [
            (n["node_id"], n["executions"], n["failures"], n["avg_duration_seconds"]) for n in stats["slowest_nodes"]
        ] == [(a, b, c, pytest.approx(d, abs=1e-3)) for a, b, c, d in expected_nodes]


async def test_workflow_stats_node_status_matches_the_last_step_event_written(world, admin_pool):
    """The brute force above trusts the node table; check that table against the logs themselves."""
    last_step = {}
    for l in world.logs:
        if l["node_id"] and l["event_type"] in ("step_started", "step_completed", "step_error"):
            last_step[(l["execution_id"], l["node_id"])] = l["event_type"]
    rows = await admin_pool.fetch(
        "select execution_id, node_id, status from public.workflow_execution_nodes where execution_id = any($1::text[])",
        list({l["execution_id"] for l in world.logs}),
    )
    status_of = {"step_started": "running", "step_completed": "completed", "step_error": "failed"}
    for r in rows:
        assert r["status"] == status_of.get(last_step.get((r["execution_id"], r["node_id"])), "running")


async def test_workflow_stats_of_another_users_workflow_is_not_found(world, as_user):
    import asyncpg

    async with as_user(world.other) as conn:
        own = await stats_call(conn, world.foreign_workflow)
        assert own["runs"]["total"] == len(world.runs_of(world.foreign_workflow))
    with pytest.raises(asyncpg.exceptions.NoDataFoundError):
        async with as_user(world.other) as conn:
            await stats_call(conn, world.workflows[0])


# =============================================================================================
# Logs across executions
# =============================================================================================
def expected_seqs(world: World, workflow_id: str, *, level=None, category=None, node_id=None, words=None,
                  start=None, end=None) -> list[int]:
    out = []
    for l in world.logs:
        if l["workflow_id"] != workflow_id:
            continue
        if level and l["level"] != level.upper():
            continue
        if category and l["log_category"] != category:
            continue
        if node_id and l["node_id"] != node_id:
            continue
        if start and l["created_at"] < start:
            continue
        if end and l["created_at"] > end:
            continue
        if words:
            text = set((l["message"] + " " + (l["user_friendly_message"] or "")).split())
            if not all(w in text for w in words):
                continue
        out.append(l["seq"])
    return out


async def walk(conn, workflow_id: str, page: int, **filters) -> tuple[list[int], list[dict]]:
    seqs: list[int] = []
    pages: list[dict] = []
    after = None
    for _ in range(10_000):
        body = await conn.fetchval(
            "select public.get_workflow_logs($1, $2, after => $3, level => $4, category => $5, node_id => $6,"
            " q => $7, start_time => $8, end_time => $9)",
            workflow_id, page, after, filters.get("level"), filters.get("category"), filters.get("node_id"),
            filters.get("q"), filters.get("start"), filters.get("end"),
        )
        pages.append(body)
        seqs += [e["seq"] for e in body["logs"]]
        assert len(body["logs"]) <= page
        if not body["pagination"]["has_more"]:
            return seqs, pages
        assert body["logs"], "has_more with an empty page"
        after = body["pagination"]["next_cursor"]
    raise AssertionError("the walk did not end")


async def test_workflow_logs_when_walked_with_random_page_sizes_and_filters_then_no_log_skipped_or_repeated(
    world, as_user
):
    rng = random.Random(SEED + 1)
    cases = [{}, {"level": "error"}, {"category": "business"}, {"node_id": "parse"}, {"q": "timeout"},
             {"q": "quota exceeded", "category": "technical"}]
    for case in cases:
        for workflow_id in world.workflows:
            page = rng.choice([1, 2, 3, 7, 50, 1000])
            async with as_user(world.owner) as conn:
                seqs, pages = await walk(conn, workflow_id, page, **case)
            words = case["q"].split() if "q" in case else None
            expected = expected_seqs(world, workflow_id, level=case.get("level"), category=case.get("category"),
                                     node_id=case.get("node_id"), words=words)
            assert seqs == expected, (case, page)
            assert pages[0]["total_count"] == len(expected)


async def test_workflow_logs_time_window_walk_matches_brute_force(world, as_user):
    start, end = T0 + timedelta(hours=60), T0 + timedelta(hours=150)
    for workflow_id in world.workflows:
        async with as_user(world.owner) as conn:
            seqs, pages = await walk(conn, workflow_id, 9, start=start.isoformat(), end=end.isoformat())
        assert seqs == expected_seqs(world, workflow_id, start=start, end=end)
        assert pages[0]["total_count"] == len(seqs)


async def test_workflow_logs_entries_name_their_execution_and_search_entries_are_highlighted(world, as_user):
    workflow_id = world.workflows[0]
    by_seq = {l["seq"]: l for l in world.logs}
    async with as_user(world.owner) as conn:
        body = await conn.fetchval("select public.get_workflow_logs($1, 1000, q => 'retry')", workflow_id)
    assert body["logs"]
    for e in body["logs"]:
        row = by_seq[e["seq"]]
        assert e["execution_id"] == row["execution_id"]
        shown = row["user_friendly_message"] or row["message"]
        assert e["highlight"]["message"].replace("<mark>", "").replace("</mark>", "") == shown
        marked = e["highlight"]["message"] + (e["highlight"]["technical_message"] or "")
        assert "<mark>retry</mark>" in marked


async def test_workflow_logs_of_another_users_workflow_is_not_found_and_never_mixes_users(world, as_user):
    import asyncpg

    with pytest.raises(asyncpg.exceptions.NoDataFoundError):
        async with as_user(world.other) as conn:
            await conn.fetchval("select public.get_workflow_logs($1)", world.workflows[0])
    async with as_user(world.other) as conn:
        seqs, _ = await walk(conn, world.foreign_workflow, 1000)
    assert seqs == expected_seqs(world, world.foreign_workflow)


async def test_workflow_logs_offset_pages_equal_slices_of_the_full_list(world, as_user):
    workflow_id = world.workflows[1]
    expected = expected_seqs(world, workflow_id)
    async with as_user(world.owner) as conn:
        for offset, limit in [(0, 5), (3, 10), (len(expected) - 2, 10), (len(expected) + 5, 10)]:
            body = await conn.fetchval("select public.get_workflow_logs($1, $2, $3)", workflow_id, limit, offset)
            assert [e["seq"] for e in body["logs"]] == expected[offset:offset + limit]
            assert body["pagination"]["has_more"] == (offset + limit < len(expected))


async def test_search_of_one_execution_when_ranked_then_best_matches_first(world, as_user):
    # The execution with most 'database' logs; a log that says 'database' twice outranks one that says it once.
    counts = Counter(
        l["execution_id"] for l in world.logs
        if l["workflow_id"] in world.workflows and "database" in l["message"].split()
    )
    execution_id = counts.most_common(1)[0][0]
    async with as_user(world.owner) as conn:
        body = await conn.fetchval(
            "select public.get_execution_logs($1, 1000, q => 'database', \"order\" => 'rank')", execution_id
        )
    occurrences = [
        (l["message"] + " " + (l["user_friendly_message"] or "")).split().count("database")
        for l in (next(x for x in world.logs if x["seq"] == e["seq"]) for e in body["logs"])
    ]
    assert occurrences and occurrences[0] == max(occurrences)
    assert body["total_count"] == len(body["logs"])
    assert json.dumps(body["pagination"]) == json.dumps({"limit": 1000, "offset": 0, "has_more": False, "next_cursor": None})
