"""Who may read and write through the SQL API, as PostgREST requests (also exercises the conftest helpers)."""

from __future__ import annotations

import asyncpg
import pytest

import factories


@pytest.fixture
async def run_with_logs(admin_conn):
    run = await factories.make_run(admin_conn)
    await factories.append_logs(admin_conn, [factories.log_entry(run.execution_id, f"m{i}") for i in range(3)])
    return run


async def test_get_execution_logs_when_owner_asks_then_reads_the_logs(as_user, run_with_logs):
    async with as_user(run_with_logs.user_id) as conn:
        page = await conn.fetchval("select public.get_execution_logs($1)", run_with_logs.execution_id)

    assert [e["message"] for e in page["logs"]] == ["m0", "m1", "m2"]


async def test_get_execution_logs_when_another_user_asks_then_not_found(as_user, admin_conn, run_with_logs):
    stranger = await factories.make_user(admin_conn)

    with pytest.raises(asyncpg.PostgresError) as caught:
        async with as_user(stranger) as conn:
            await conn.fetchval("select public.get_execution_logs($1)", run_with_logs.execution_id)

    assert caught.value.sqlstate == "P0002"


async def test_private_reader_when_another_user_calls_it_directly_then_not_found(
    as_user, admin_conn, run_with_logs
):
    stranger = await factories.make_user(admin_conn)

    with pytest.raises(asyncpg.PostgresError) as caught:
        async with as_user(stranger) as conn:
            await conn.fetchval(
                "select workflow_logs_private.execution_logs_summary($1, 'RUNNING')", run_with_logs.execution_id
            )

    assert caught.value.sqlstate in ("P0002", "42501")


async def test_get_execution_logs_when_anon_asks_then_permission_denied(as_anon, run_with_logs):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_anon() as conn:
            await conn.fetchval("select public.get_execution_logs($1)", run_with_logs.execution_id)


async def test_append_when_owner_calls_it_then_permission_denied(as_user, run_with_logs):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_user(run_with_logs.user_id) as conn:
            await factories.append_logs(conn, [factories.log_entry(run_with_logs.execution_id)])


async def test_append_when_service_role_calls_it_then_inserts(as_service, run_with_logs):
    async with as_service() as conn:
        result = await factories.append_logs(conn, [factories.log_entry(run_with_logs.execution_id, "more")])

    assert result["inserted"] == 1 and result["duplicates"] == 0


async def test_logs_table_when_owner_selects_directly_then_rls_shows_only_their_rows(
    as_user, admin_conn, run_with_logs
):
    other = await factories.make_run(admin_conn)
    await factories.append_logs(admin_conn, [factories.log_entry(other.execution_id, "not yours")])

    async with as_user(run_with_logs.user_id) as conn:
        visible = await conn.fetch(
            "select distinct execution_id from public.workflow_execution_logs where execution_id = any($1::text[])",
            [run_with_logs.execution_id, other.execution_id],
        )

    assert [r["execution_id"] for r in visible] == [run_with_logs.execution_id]
