"""Every index serves a query the SQL API makes, read from EXPLAIN on a realistic volume.

Data (a database of this module's own, then ANALYZE): 3,000 other users' workflows and 6,000 executions,
300 of them with a few dozen logs; the owner's workflow with 20 executions, one of them 50,000 logs: mostly
INFO, 1% ERROR, half business / half technical, a milestone every 5,000 rows, 8 nodes, 10 ms apart.

Two ways of reading the plans:

* EXPLAIN (format json) of the exact statements the SQL API runs, with literal arguments, inside a
  PostgREST-style request (`set local role authenticated`, jwt claims, plan_cache_mode = force_custom_plan).
  The log readers (workflow_logs_private.execution_logs_page / _summary / execution_recent_logs) are
  security definer, so their statements run as the functions' owner: the test switches to that role for
  them exactly as SECURITY DEFINER does. get_recent_logs' execution lookup and the workflows read run as
  the caller, under RLS.
* auto_explain, with nested statements, while the owner calls public.get_execution_logs(...): the plans the
  API really executed (skipped when the server cannot load auto_explain).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

import factories
from factories import EVENT_TYPES, as_role, claims_for, init_connection, plan_nodes

BIG = "own-0"
BIG_ROWS = 50_000
STEP = timedelta(milliseconds=10)

LOGS = "workflow_execution_logs"
SEQ_IDX = "workflow_execution_logs_execution_id_seq_idx"
LEVEL_IDX = "workflow_execution_logs_execution_id_level_seq_idx"
CATEGORY_IDX = "workflow_execution_logs_execution_id_log_category_seq_idx"
MILESTONES_IDX = "workflow_execution_logs_milestones_idx"
CREATED_AT_IDX = "workflow_execution_logs_execution_id_created_at_idx"
EXECUTIONS_IDX = "workflow_executions_workflow_id_start_time_idx"
WORKFLOWS_USER_IDX = "workflows_user_id_idx"
COUNTS_PKEY = "workflow_execution_log_counts_pkey"


class Volume:
    def __init__(self, pool: asyncpg.Pool, owner: str, workflow_id: str, t0, definer: str) -> None:
        self.pool = pool
        self.owner = owner
        self.workflow_id = workflow_id
        self.t0 = t0
        self.definer = definer


_BACKGROUND = [
    "insert into auth.users (id) select gen_random_uuid() from generate_series(1, 500)",
    """insert into public.workflows (user_id, name)
       select u.id, 'workflow ' || g from auth.users u cross join generate_series(1, 6) g
       where u.id <> $1::uuid""",
    """insert into public.workflow_executions (execution_id, workflow_id, status, start_time)
       select 'bg-' || w.id || '-' || g, w.id, 'SUCCESS', now() - g * interval '1 hour'
       from public.workflows w cross join generate_series(1, 2) g
       where w.user_id <> $1::uuid""",
]

# One INSERT per execution, as engines write: a multi-execution statement would be priced by the
# broadcast trigger's per-execution scan of the whole transition table.
_BACKGROUND_LOGS = """
do $$
declare
  e text;
begin
  perform setseed(0.25);
  for e in select execution_id from public.workflow_executions where execution_id like 'bg-%'
           order by execution_id limit 300 loop
    insert into public.workflow_execution_logs
      (execution_id, log_category, event_type, level, message, node_id, is_milestone, created_at)
    select e,
           case when random() < 0.5 then 'business' else 'technical' end,
           (enum_range(null::public.log_event_type_enum))[1 + (random() * 8)::int],
           case when random() < 0.01 then 'ERROR' when random() < 0.05 then 'WARNING'
                when random() < 0.1 then 'DEBUG' else 'INFO' end::public.log_level_enum,
           'background ' || i,
           'node-' || (i % 3),
           random() < 0.01,
           now() - interval '1 day' + i * interval '1 second'
    from generate_series(1, 40) i;
  end loop;
end
$$;
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def volume(new_database):
    async with new_database(prefix="wl_explain") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=3, init=init_connection)
        try:
            async with pool.acquire() as conn:
                owner = await factories.make_user(conn)
                workflow_id = await factories.make_workflow(conn, owner)
                await conn.execute(_BACKGROUND[0])
                for statement in _BACKGROUND[1:]:
                    await conn.execute(statement, owner)
                for i in range(20):
                    await factories.make_execution(conn, workflow_id, execution_id=f"own-{i}")
                t0 = await conn.fetchval("select date_trunc('second', now()) - interval '2 hours'")
                await factories.insert_logs_bulk(
                    conn,
                    BIG,
                    BIG_ROWS,
                    business_every=2,
                    error_every=100,
                    warning_every=37,
                    debug_every=11,
                    milestone_every=5000,
                    nodes=8,
                    event_types=EVENT_TYPES,
                    start=t0,
                    step=STEP,
                )
                await factories.insert_logs_bulk(
                    conn,
                    [f"own-{i}" for i in range(1, 20)],
                    200,
                    business_every=2,
                    error_every=100,
                    warning_every=37,
                    milestone_every=50,
                    nodes=3,
                    event_types=EVENT_TYPES,
                    start=t0,
                )
                await conn.execute(_BACKGROUND_LOGS)
                await conn.execute("analyze")
                PARENT_OF.update({r["child"]: r["parent"] for r in await conn.fetch(
                    "select c.relname::text as child, p.relname::text as parent from pg_inherits i"
                    " join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent")})
                EMPTY_PARTITIONS.update(r["relname"] for r in await conn.fetch(
                    "select c.relname::text from pg_inherits i join pg_class c on c.oid = i.inhrelid"
                    " where c.relkind = 'r' and c.reltuples <= 0"))
                definer = await conn.fetchval(
                    "select pg_get_userbyid(proowner) from pg_proc"
                    " where oid = 'workflow_logs_private.execution_logs_page'::regproc"
                )
            yield Volume(pool, owner, workflow_id, t0, definer)
        finally:
            await pool.close()


# =============================================================================================
# Reading plans
# =============================================================================================
# The logs table is partitioned (20251125000700): a plan names each partition and each partition's index.
# Both are reported under the parent's name, so "uses workflow_execution_logs_execution_id_seq_idx" and
# "no Seq Scan on workflow_execution_logs" hold for every partition a plan visits.
PARENT_OF: dict[str, str] = {}


def _parent(name: str) -> str:
    # (a converted table's partition keeps its index names, equal to the parent's in another schema)
    return PARENT_OF.get(name, name)


def index_names(nodes: list[dict[str, Any]]) -> set[str]:
    return {_parent(n["Index Name"]) for n in nodes if "Index Name" in n}


EMPTY_PARTITIONS: set[str] = set()  # a seq scan of an empty partition (days ahead) reads nothing


def seq_scans(nodes: list[dict[str, Any]]) -> set[str]:
    return {
        _parent(n.get("Relation Name", ""))
        for n in nodes
        if n["Node Type"] == "Seq Scan" and n.get("Relation Name") not in EMPTY_PARTITIONS
    }


async def explain(volume: Volume, sql: str, *, definer: bool) -> list[dict[str, Any]]:
    """EXPLAIN (format json) in a PostgREST request by the owner; as the readers' owner when `definer`."""
    claims = claims_for("authenticated", volume.owner)
    async with as_role(volume.pool, "authenticated", claims) as conn:
        await conn.execute("set local plan_cache_mode = force_custom_plan")
        if definer:
            # What SECURITY DEFINER does on entering the reader: run as the function's owner.
            await conn.execute(f'set local role "{volume.definer}"')
        result = await conn.fetchval("explain (format json) " + sql)
    plan = result if isinstance(result, list) else json.loads(result)
    return plan_nodes(plan[0]["Plan"])


def page_query(
    *,
    after: int | None = None,
    level: str | None = None,
    category: str | None = None,
    milestones_only: bool = False,
    start_time: str | None = None,
    end_time: str | None = None,
) -> str:
    """The page statement of execution_logs_page, arguments as the custom plan sees them (literals)."""

    def lit(value: Any, cast: str) -> str:
        if value is None:
            return f"null::{cast}"
        return "'" + str(value).replace("'", "''") + f"'::{cast}"

    arguments = ", ".join(
        [
            lit(BIG, "text"),
            lit(after, "bigint"),
            lit(level, "public.log_level_enum"),
            lit(category, "text"),
            lit(None, "public.log_event_type_enum"),
            lit(None, "text"),
            "true" if milestones_only else "false",
            lit(None, "integer"),
            lit(start_time, "timestamptz"),
            lit(end_time, "timestamptz"),
        ]
    )
    return (
        f"select l from workflow_logs_private.filtered_logs({arguments}) l"  # literals built above
        " order by l.seq limit 101"
    )


def assert_uses(nodes: list[dict[str, Any]], index: str) -> None:
    assert index in index_names(nodes), f"expected {index}, plan used {index_names(nodes)}"
    assert LOGS not in seq_scans(nodes), "Seq Scan on workflow_execution_logs"


# =============================================================================================
# The log pages (execution_logs_page, security definer)
# =============================================================================================
async def test_explain_when_unfiltered_cursor_page_then_execution_id_seq_idx(volume):
    nodes = await explain(volume, page_query(after=BIG_ROWS // 2), definer=True)

    assert_uses(nodes, SEQ_IDX)
    scan = next(n for n in nodes if _parent(n.get("Index Name", "")) == SEQ_IDX)
    assert "seq >" in scan["Index Cond"], "the cursor must be an index range, not a filter"


async def test_explain_when_level_is_error_then_execution_id_level_seq_idx(volume):
    nodes = await explain(volume, page_query(level="ERROR"), definer=True)

    assert_uses(nodes, LEVEL_IDX)


async def test_explain_when_level_is_error_after_a_cursor_then_level_index_range(volume):
    nodes = await explain(volume, page_query(level="ERROR", after=BIG_ROWS // 2), definer=True)

    assert_uses(nodes, LEVEL_IDX)
    scan = next(n for n in nodes if _parent(n.get("Index Name", "")) == LEVEL_IDX)
    assert "level =" in scan["Index Cond"] and "seq >" in scan["Index Cond"]


async def test_explain_when_category_is_business_then_execution_id_log_category_seq_idx(volume):
    # Half the rows are business: the (execution_id, log_category, seq) index reads exactly the 101 rows
    # of the page, (execution_id, seq) about twice as many; the planner prices that difference.
    nodes = await explain(volume, page_query(category="business"), definer=True)

    assert_uses(nodes, CATEGORY_IDX)


async def test_explain_when_milestones_only_then_partial_milestones_idx(volume):
    nodes = await explain(volume, page_query(milestones_only=True), definer=True)

    assert_uses(nodes, MILESTONES_IDX)


async def test_explain_when_narrow_time_window_then_execution_id_created_at_idx(volume):
    start = volume.t0 + timedelta(seconds=200)
    end = start + timedelta(seconds=1)  # ~100 of the 50,000 rows

    nodes = await explain(
        volume, page_query(start_time=start.isoformat(), end_time=end.isoformat()), definer=True
    )

    assert_uses(nodes, CREATED_AT_IDX)


async def test_explain_when_counting_an_execution_then_counts_primary_key(volume):
    nodes = await explain(
        volume,
        f"select sum(log_count) from public.workflow_execution_log_counts where execution_id = '{BIG}'",
        definer=True,
    )

    assert COUNTS_PKEY in index_names(nodes)
    assert not seq_scans(nodes)


async def test_explain_when_counting_as_the_owner_under_rls_then_counts_primary_key(volume):
    nodes = await explain(
        volume,
        f"select sum(log_count) from public.workflow_execution_log_counts where execution_id = '{BIG}'",
        definer=False,
    )

    assert COUNTS_PKEY in index_names(nodes)
    assert not seq_scans(nodes)


# =============================================================================================
# Caller-side statements (security invoker, under RLS)
# =============================================================================================
async def test_explain_when_finding_the_latest_execution_then_workflow_id_start_time_idx(volume):
    nodes = await explain(
        volume,
        "select * from public.workflow_executions"
        f" where workflow_id = '{volume.workflow_id}'"
        " order by start_time desc, execution_id desc limit 1",
        definer=False,
    )

    assert EXECUTIONS_IDX in index_names(nodes)
    assert not seq_scans(nodes)


async def test_explain_when_owner_lists_workflows_then_rls_reads_workflows_user_id_idx(volume):
    nodes = await explain(volume, "select * from public.workflows", definer=False)

    assert WORKFLOWS_USER_IDX in index_names(nodes)
    assert not seq_scans(nodes)


async def test_explain_when_owner_reads_logs_directly_then_policy_subplan_uses_workflows_user_id_idx(volume):
    nodes = await explain(volume, page_query(), definer=False)

    assert WORKFLOWS_USER_IDX in index_names(nodes)
    assert LOGS not in seq_scans(nodes)


# =============================================================================================
# The plans the API really runs (auto_explain, nested statements)
# =============================================================================================
async def api_plans(volume: Volume, call: str, *arguments: Any) -> list[dict[str, Any]]:
    """Call the SQL API as the owner and collect the plan nodes of every statement it ran."""
    async with volume.pool.acquire() as conn:
        async with factories.auto_explain(conn) as plans:
            async with as_role(conn, "authenticated", claims_for("authenticated", volume.owner)):
                await conn.fetchval(call, *arguments)
    nodes = [node for plan in plans for node in plan_nodes(plan["Plan"])]
    assert nodes, "auto_explain reported no plans"
    return nodes


@pytest.mark.parametrize(
    ("arguments", "index"),
    [
        ("", SEQ_IDX),
        (", after => 25000", SEQ_IDX),
        (", level => 'error'", LEVEL_IDX),
        (", category => 'business'", CATEGORY_IDX),
        (", milestones_only => true", MILESTONES_IDX),
    ],
    ids=["first-page", "cursor", "errors", "business", "milestones"],
)
async def test_api_when_owner_calls_get_execution_logs_then_its_page_uses_the_index(volume, arguments, index):
    nodes = await api_plans(volume, f"select public.get_execution_logs('{BIG}'{arguments})")

    assert_uses(nodes, index)
    assert COUNTS_PKEY in index_names(nodes)  # total_count from the counts table


async def test_api_when_owner_calls_get_execution_logs_for_a_time_window_then_created_at_idx(volume):
    start = volume.t0 + timedelta(seconds=200)
    end = start + timedelta(seconds=1)

    nodes = await api_plans(
        volume,
        "select public.get_execution_logs($1, start_time => $2, end_time => $3)",
        BIG,
        start.isoformat(),
        end.isoformat(),
    )

    assert_uses(nodes, CREATED_AT_IDX)


async def test_api_when_owner_calls_get_recent_logs_then_latest_execution_by_index(volume):
    nodes = await api_plans(volume, "select public.get_recent_logs($1, 100, true)", volume.workflow_id)

    assert {EXECUTIONS_IDX, SEQ_IDX, COUNTS_PKEY} <= index_names(nodes)
    assert LOGS not in seq_scans(nodes)


async def test_api_when_owner_calls_get_execution_logs_summary_then_no_scan_of_the_logs(volume):
    nodes = await api_plans(volume, "select public.get_execution_logs_summary($1)", BIG)

    assert {MILESTONES_IDX, COUNTS_PKEY} <= index_names(nodes)
    assert LOGS not in seq_scans(nodes)


# =============================================================================================
# Search and logs across executions (20251125000800_create_search_and_workflow_api.sql)
# =============================================================================================
SEARCH_IDX = "workflow_execution_logs_workflow_execution_search_idx"  # GIN (workflow_id, execution_id, search_vector)
WORKFLOW_SEQ_IDX = "workflow_execution_logs_workflow_id_seq_idx"
WORKFLOW_MILESTONES_IDX = "workflow_execution_logs_workflow_id_milestones_idx"
RARE = "24680"  # 'log 24680': one row of the big execution, in no other
COMMON = "log"  # every row of the volume


async def test_api_when_owner_searches_an_execution_for_a_rare_word_then_gin_index_not_a_walk(volume):
    nodes = await api_plans(volume, "select public.get_execution_logs($1, q => $2)", BIG, RARE)

    assert SEARCH_IDX in index_names(nodes)
    assert LOGS not in seq_scans(nodes)


async def test_api_when_owner_searches_an_execution_for_a_common_word_then_no_scan_of_the_word_everywhere(volume):
    # 'log' is in every row of the table: the execution bounds the search (its (execution_id, seq) range,
    # or the GIN index's execution_id entry intersected with the word's), never the word's whole posting list.
    nodes = await api_plans(volume, "select public.get_execution_logs($1, q => $2, after => 25000)", "own-3", COMMON)

    assert index_names(nodes) & {SEQ_IDX, SEARCH_IDX}
    assert LOGS not in seq_scans(nodes)
    for node in nodes:
        if node.get("Index Name") == SEARCH_IDX:
            assert "execution_id" in node["Index Cond"], "the GIN scan must be bounded by the execution"


async def test_api_when_owner_ranks_a_search_then_gin_index(volume):
    nodes = await api_plans(
        volume, "select public.get_execution_logs($1, q => $2, \"order\" => 'rank')", BIG, f"{RARE} or 13579"
    )

    assert SEARCH_IDX in index_names(nodes)
    assert LOGS not in seq_scans(nodes)


async def test_api_when_owner_searches_a_whole_workflow_then_gin_index_by_workflow(volume):
    nodes = await api_plans(volume, "select public.get_workflow_logs($1, q => $2)", volume.workflow_id, RARE)

    assert SEARCH_IDX in index_names(nodes)
    assert LOGS not in seq_scans(nodes)
    scans = [n for n in nodes if _parent(n.get("Index Name", "")) == SEARCH_IDX]
    assert scans
    assert all("workflow_id" in n["Index Cond"] for n in scans), "the GIN scan must be bounded by the workflow"


@pytest.mark.parametrize("after", [None, BIG_ROWS // 2], ids=["first-page", "cursor"])
async def test_api_when_owner_reads_a_workflow_page_then_one_workflow_id_seq_range(volume, after):
    nodes = await api_plans(volume, "select public.get_workflow_logs($1, after => $2)", volume.workflow_id, after)

    # One range of (workflow_id, seq) (per partition, merged by seq), not one probe per execution.
    assert WORKFLOW_SEQ_IDX in index_names(nodes)
    assert SEQ_IDX not in index_names(nodes)
    assert LOGS not in seq_scans(nodes)
    scans = [n for n in nodes if _parent(n.get("Index Name", "")) == WORKFLOW_SEQ_IDX]
    assert scans
    if after is not None:
        assert all("seq >" in n["Index Cond"] for n in scans), "the cursor must be an index range, not a filter"
    else:
        # total_count of the first page from the maintained counts, one primary key probe per execution
        assert {EXECUTIONS_IDX, COUNTS_PKEY} <= index_names(nodes)
        assert "workflow_executions" not in seq_scans(nodes)


async def test_api_when_owner_reads_a_workflow_page_with_errors_only_then_workflow_id_seq_range(volume):
    nodes = await api_plans(volume, "select public.get_workflow_logs($1, level => 'error')", volume.workflow_id)

    assert WORKFLOW_SEQ_IDX in index_names(nodes)
    assert LOGS not in seq_scans(nodes)


async def test_api_when_owner_reads_workflow_milestones_then_partial_workflow_milestones_idx(volume):
    nodes = await api_plans(
        volume, "select public.get_workflow_logs($1, milestones_only => true, after => 1)", volume.workflow_id
    )

    assert WORKFLOW_MILESTONES_IDX in index_names(nodes)
    assert LOGS not in seq_scans(nodes)


async def test_api_when_owner_reads_workflow_stats_then_no_scan_of_the_logs(volume):
    nodes = await api_plans(volume, "select public.get_workflow_stats($1)", volume.workflow_id)

    assert {EXECUTIONS_IDX, LEVEL_IDX} <= index_names(nodes)
    assert LOGS not in seq_scans(nodes)
