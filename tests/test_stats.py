"""The maintained statistics (workflow_execution_log_counts, workflow_execution_nodes) behind total_count and
the summary agree with a brute-force count(*) over workflow_execution_logs, after inserts of every shape,
after UPDATE and DELETE by service_role, and after TRUNCATE.

The module uses a database of its own: TRUNCATE empties the whole table.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest_asyncio

import factories
from factories import CATEGORIES, EVENT_TYPES, LEVELS, as_role, claims_for, init_connection

STEP_STATUS = {"step_started": "running", "step_completed": "completed", "step_error": "failed"}
T0 = datetime(2025, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pool(new_database):
    async with new_database(prefix="wl_stats") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4, init=init_connection)
        try:
            yield pool
        finally:
            await pool.close()


# =============================================================================================
# Data
# =============================================================================================
def random_entries(rng: random.Random, execution_ids: list[str], n: int, t0: datetime) -> list[dict]:
    entries = []
    for i in range(n):
        node = rng.choice([None, "fetch", "think", "write", "review"])
        entry: dict[str, Any] = {
            "execution_id": rng.choice(execution_ids),
            "event_type": rng.choice(EVENT_TYPES),
            "level": rng.choices(LEVELS, weights=[5, 70, 12, 10, 3])[0],
            "log_category": rng.choice(CATEGORIES),
            "message": f"random {i}",
            "is_milestone": rng.random() < 0.05,
            "display_priority": rng.randint(1, 10),
            "created_at": (t0 + timedelta(seconds=rng.uniform(0, 3600))).isoformat(),
        }
        if node:
            entry.update(node_id=node, node_name=rng.choice([None, f"{node.title()} node"]))
            if rng.random() < 0.5:
                entry["step_number"] = rng.randint(0, 9)
            if rng.random() < 0.3:
                entry["duration_seconds"] = rng.randint(0, 120)
        if rng.random() < 0.3:
            entry["user_friendly_message"] = f"friendly {i}"
        entries.append(entry)
    return entries


async def load_random_batches(conn: asyncpg.Connection, run: factories.Run, other: str, seed: int) -> None:
    """Inserts of every shape: append batches over one or two executions, bulk statements, single rows."""
    rng = random.Random(seed)
    both = [run.execution_id, other]
    for b in range(6):
        targets = both if b % 2 else [run.execution_id]
        await factories.append_logs(conn, random_entries(rng, targets, rng.randint(1, 400), T0))
    await factories.insert_logs_bulk(
        conn,
        both,
        1500,
        first=10_000,
        business_every=3,
        error_every=53,
        warning_every=17,
        debug_every=5,
        milestone_every=250,
        nodes=4,
        event_types=EVENT_TYPES,
        start=T0,
        step=timedelta(seconds=1),
    )
    await factories.insert_logs_bulk(
        conn, run.execution_id, 700, first=20_000, business_every=1, error_every=9, nodes=7,
        event_types=("step_started", "step_output", "step_completed", "step_error"), start=T0,
    )
    for i in range(3):
        await factories.append_logs(
            conn,
            [factories.log_entry(run.execution_id, f"single {i}", level="CRITICAL", event_type="separator")],
        )


# =============================================================================================
# Brute force
# =============================================================================================
_BRUTE_COUNT = """
select count(*) from public.workflow_execution_logs
where execution_id = $1
  and ($2::text is null or level::text = upper($2))
  and ($3::text is null or log_category = $3)
  and ($4::text is null or event_type::text = $4)
  and (not $5::boolean or is_milestone)
  and ($6::text is null or node_id = $6)
  and ($7::int is null or display_priority >= $7)
  and ($8::timestamptz is null or created_at >= $8)
  and ($9::timestamptz is null or created_at <= $9)
"""

_BRUTE_PAGE = _BRUTE_COUNT.replace("select count(*)", "select seq") + " order by seq limit 100"

_API_PAGE = """
select public.get_execution_logs(
  $1, "limit" => 100, level => $2::text, category => $3::text, event_type => $4::text,
  milestones_only => $5::boolean, node_id => $6::text, min_priority => $7::int,
  start_time => $8::text, end_time => $9::text)
"""


def filter_cases(nodes: list[str]) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = [{}]
    cases += [{"level": level} for level in LEVELS]
    cases += [{"category": c} for c in CATEGORIES]
    cases += [{"event_type": e} for e in EVENT_TYPES]
    cases += [{"milestones_only": True}]
    cases += [{"level": level, "category": c} for level in LEVELS for c in CATEGORIES]
    cases += [
        {"level": "error", "event_type": "step_error"},
        {"category": "business", "milestones_only": True},
        {"min_priority": 8},
        {"start_time": T0 + timedelta(minutes=10), "end_time": T0 + timedelta(minutes=20)},
        {"level": "INFO", "start_time": T0 + timedelta(minutes=30)},
    ]
    cases += [{"node_id": n} for n in nodes]
    cases += [{"node_id": n, "level": "INFO"} for n in nodes[:2]]
    return cases


def args(execution_id: str, f: dict[str, Any], *, as_text: bool) -> list[Any]:
    def t(key):
        value = f.get(key)
        return value.isoformat() if as_text and value is not None else value

    return [
        execution_id,
        f.get("level"),
        f.get("category"),
        f.get("event_type"),
        f.get("milestones_only", False),
        f.get("node_id"),
        f.get("min_priority"),
        t("start_time"),
        t("end_time"),
    ]


async def assert_counts_agree(pool: asyncpg.Pool, run: factories.Run, execution_id: str) -> int:
    """Every filter's total_count (and first page) equals brute force; returns the execution's total."""
    async with pool.acquire() as admin:
        nodes = [
            r["node_id"]
            for r in await admin.fetch(
                "select distinct node_id from public.workflow_execution_logs"
                " where execution_id = $1 and node_id is not null order by 1",
                execution_id,
            )
        ]
        expected = {}
        for i, f in enumerate(filter_cases(nodes)):
            expected[i] = (
                await admin.fetchval(_BRUTE_COUNT, *args(execution_id, f, as_text=False)),
                [r["seq"] for r in await admin.fetch(_BRUTE_PAGE, *args(execution_id, f, as_text=False))],
            )

    mismatches = []
    async with as_role(pool, "authenticated", claims_for("authenticated", run.user_id)) as conn:
        for i, f in enumerate(filter_cases(nodes)):
            page = await conn.fetchval(_API_PAGE, *args(execution_id, f, as_text=True))
            got = (page["total_count"], [entry["seq"] for entry in page["logs"]])
            if got != expected[i]:
                mismatches.append((f, "api", got[0], "brute force", expected[i][0]))
            assert page["pagination"]["has_more"] == (expected[i][0] > len(expected[i][1]))
    assert mismatches == []
    return expected[0][0]


async def assert_summary_agrees(pool: asyncpg.Pool, run: factories.Run, execution_id: str) -> None:
    async with pool.acquire() as admin:
        rows = await admin.fetch(
            "select seq, level::text, log_category, event_type::text, is_milestone, node_id, node_name,"
            " node_type, step_number, duration_seconds, created_at, message, user_friendly_message"
            " from public.workflow_execution_logs where execution_id = $1 order by seq",
            execution_id,
        )
    async with as_role(pool, "authenticated", claims_for("authenticated", run.user_id)) as conn:
        summary = await conn.fetchval("select public.get_execution_logs_summary($1)", execution_id)

    assert summary["total_logs"] == len(rows)
    assert summary["log_levels"] == dict(Counter(r["level"].lower() for r in rows))
    assert summary["event_types"] == dict(Counter(r["event_type"] for r in rows))
    assert summary["log_categories"] == dict(Counter(r["log_category"] for r in rows))
    assert [m["seq"] for m in summary["milestones"]] == [r["seq"] for r in rows if r["is_milestone"]]
    assert [m["message"] for m in summary["milestones"]] == [
        r["user_friendly_message"] or r["message"] for r in rows if r["is_milestone"]
    ]

    expected_nodes: dict[str, dict[str, Any]] = {}
    for r in rows:  # in seq order: later values win
        if r["node_id"] is None:
            continue
        node = expected_nodes.setdefault(
            r["node_id"], {"logs_count": 0, "status": "running", "first_log": r["created_at"]}
        )
        node["logs_count"] += 1
        node["first_log"] = min(node["first_log"], r["created_at"])
        node["last_log"] = max(node.get("last_log", r["created_at"]), r["created_at"])
        for key in ("node_name", "node_type", "step_number", "duration_seconds"):
            if r[key] is not None:
                node[key] = r[key]
        if r["event_type"] in STEP_STATUS:
            node["status"] = STEP_STATUS[r["event_type"]]
    got_nodes = summary["nodes"]
    assert set(got_nodes) == set(expected_nodes)
    for node_id, want in expected_nodes.items():
        got = got_nodes[node_id]
        assert got["logs_count"] == want["logs_count"], node_id
        assert got["status"] == want["status"], node_id
        assert got["node_name"] == want.get("node_name", node_id), node_id
        assert got.get("step_number") == want.get("step_number"), node_id
        assert got.get("duration_seconds") == want.get("duration_seconds"), node_id
        assert datetime.fromisoformat(got["first_log"]) == want["first_log"], node_id
        assert datetime.fromisoformat(got["last_log"]) == want["last_log"], node_id

    timeline = summary["timeline"]
    if rows:
        assert datetime.fromisoformat(timeline["first_log"]) == min(r["created_at"] for r in rows)
        assert datetime.fromisoformat(timeline["last_log"]) == max(r["created_at"] for r in rows)
    else:
        assert timeline["first_log"] is None and timeline["last_log"] is None


async def assert_all_agree(pool, run, execution_ids) -> list[int]:
    totals = []
    for execution_id in execution_ids:
        totals.append(await assert_counts_agree(pool, run, execution_id))
        await assert_summary_agrees(pool, run, execution_id)
    return totals


_COUNTS_KEY = """
select a.attname
from pg_index i
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
where i.indrelid = 'public.workflow_execution_log_counts'::regclass and i.indisprimary
order by array_position(i.indkey::int2[], a.attnum)
"""


async def stats_tables_equal_recomputed(pool: asyncpg.Pool, execution_ids: list[str]) -> None:
    """The counts table, row for row, equals a group by of the logs over the table's key columns."""
    async with pool.acquire() as admin:
        key = [r["attname"] for r in await admin.fetch(_COUNTS_KEY)]
        assert key[0] == "execution_id" and {"level", "log_category", "event_type", "is_milestone"} <= set(key)
        columns = ", ".join(f'"{k}"::text' for k in key)  # names read from the catalog
        by_key = ", ".join(str(i + 1) for i in range(len(key)))
        kept = await admin.fetch(
            f"select {columns}, log_count, first_log_at, last_log_at, last_seq"
            f" from public.workflow_execution_log_counts where execution_id = any($1::text[]) order by {by_key}",
            execution_ids,
        )
        recomputed = await admin.fetch(
            f"select {columns}, count(*), min(created_at), max(created_at), max(seq)"
            f" from public.workflow_execution_logs where execution_id = any($1::text[])"
            f" group by {by_key} order by {by_key}",
            execution_ids,
        )
    assert len(kept) > 0 or not recomputed
    assert [tuple(r) for r in kept] == [tuple(r) for r in recomputed]


@pytest_asyncio.fixture(loop_scope="session")
async def loaded(pool):
    async with pool.acquire() as conn:
        run = await factories.make_run(conn)
        other = await factories.make_execution(conn, run.workflow_id)
        await load_random_batches(conn, run, other, seed=len(run.execution_id) + 1)
    return run, other


# =============================================================================================
# Tests
# =============================================================================================
async def test_counts_when_batches_of_every_shape_are_inserted_then_every_filter_matches_brute_force(
    pool, loaded
):
    run, other = loaded

    totals = await assert_all_agree(pool, run, [run.execution_id, other])

    assert totals[0] > 2000 and totals[1] > 1000
    await stats_tables_equal_recomputed(pool, [run.execution_id, other])


async def test_total_count_when_paging_by_cursor_then_it_counts_every_match_not_only_after_the_cursor(
    pool, loaded
):
    run, _other = loaded
    async with as_role(pool, "authenticated", claims_for("authenticated", run.user_id)) as conn:
        first = await conn.fetchval(
            "select public.get_execution_logs($1, \"limit\" => 50, level => 'info')", run.execution_id
        )
        second = await conn.fetchval(
            "select public.get_execution_logs($1, \"limit\" => 50, level => 'info', after => $2)",
            run.execution_id,
            first["pagination"]["next_cursor"],
        )
    assert second["total_count"] == first["total_count"]
    assert second["logs"][0]["seq"] > first["logs"][-1]["seq"]
    assert first["pagination"]["has_more"] and second["pagination"]["has_more"]


async def test_counts_when_service_role_updates_rows_then_still_match_brute_force(pool, loaded):
    run, other = loaded
    async with as_role(pool, "service_role", claims_for("service_role")) as conn:
        changed = await conn.execute(
            "update public.workflow_execution_logs set level = 'ERROR' where execution_id = $1 and seq % 7 = 0",
            run.execution_id,
        )
        await conn.execute(
            "update public.workflow_execution_logs"
            " set log_category = case log_category when 'business' then 'technical' else 'business' end,"
            "     is_milestone = not is_milestone"
            " where execution_id = $1 and seq % 11 = 0",
            other,
        )
        # A node's last step event turns into an error: its status must follow.
        await conn.execute(
            "update public.workflow_execution_logs set event_type = 'step_error'"
            " where seq = (select max(seq) from public.workflow_execution_logs"
            "              where execution_id = $1 and node_id = 'node-1')",
            run.execution_id,
        )
        # Rows move from one execution to the other (both must be recounted).
        moved = await conn.execute(
            "update public.workflow_execution_logs set execution_id = $2"
            " where execution_id = $1 and seq % 13 = 0",
            run.execution_id,
            other,
        )
        # Rows leave a node.
        await conn.execute(
            "update public.workflow_execution_logs set node_id = null where execution_id = $1 and node_id = 'node-2'",
            other,
        )
    assert int(changed.split()[-1]) > 0 and int(moved.split()[-1]) > 0

    await assert_all_agree(pool, run, [run.execution_id, other])
    await stats_tables_equal_recomputed(pool, [run.execution_id, other])


async def test_counts_when_service_role_deletes_rows_then_still_match_brute_force(pool, loaded):
    run, other = loaded
    async with as_role(pool, "service_role", claims_for("service_role")) as conn:
        deleted = await conn.execute(
            "delete from public.workflow_execution_logs where execution_id = any($1::text[]) and seq % 5 = 0",
            [run.execution_id, other],
        )
        await conn.execute(
            "delete from public.workflow_execution_logs where execution_id = $1 and node_id = 'node-3'",
            run.execution_id,
        )
        await conn.execute(
            "delete from public.workflow_execution_logs where execution_id = $1 and is_milestone", other
        )
    assert int(deleted.split()[-1]) > 0

    await assert_all_agree(pool, run, [run.execution_id, other])
    await stats_tables_equal_recomputed(pool, [run.execution_id, other])


async def test_counts_when_every_log_of_an_execution_is_deleted_then_zero_and_no_nodes(pool, loaded):
    run, other = loaded
    async with as_role(pool, "service_role", claims_for("service_role")) as conn:
        await conn.execute("delete from public.workflow_execution_logs where execution_id = $1", other)

    assert await assert_all_agree(pool, run, [other]) == [0]
    async with pool.acquire() as admin:
        assert await admin.fetchval(
            "select count(*) from public.workflow_execution_nodes where execution_id = $1", other
        ) == 0


async def test_counts_when_table_is_truncated_then_zero_and_new_logs_count_from_zero(pool, loaded):
    run, other = loaded
    async with pool.acquire() as admin:
        await admin.execute("truncate public.workflow_execution_logs")
        assert await admin.fetchval("select count(*) from public.workflow_execution_log_counts") == 0
        assert await admin.fetchval("select count(*) from public.workflow_execution_nodes") == 0

    assert await assert_all_agree(pool, run, [run.execution_id, other]) == [0, 0]

    async with pool.acquire() as conn:
        await load_random_batches(conn, run, other, seed=99)
    totals = await assert_all_agree(pool, run, [run.execution_id, other])
    assert all(t > 0 for t in totals)
    await stats_tables_equal_recomputed(pool, [run.execution_id, other])
