"""`workflow-logs tail` and `workflow-logs export` end to end: the installed command against a real bridge."""

from __future__ import annotations

import asyncio
import csv
import json
import os
from pathlib import Path

import anyio

import factories

pytest_plugins = ["reader_fixtures"]

CLI = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "workflow-logs")


async def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )
    with anyio.fail_after(timeout):
        out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def env_for(bridge, token: str) -> dict[str, str]:
    return {"WORKFLOW_LOGS_URL": bridge.url, "WORKFLOW_LOGS_TOKEN": token}


async def test_help_works_for_every_reader_command():
    for args in (["--help"], ["tail", "--help"], ["export", "--help"]):
        code, out, _ = await run_cli(*args)
        assert code == 0
        assert "Usage" in out
    _, out, _ = await run_cli("--help")
    assert "tail" in out and "export" in out


async def test_tail_follows_a_running_execution_until_success_and_prints_business_messages(
    reader_bridge, reader_world
):
    execution_id = await reader_world.make_execution(logs=3, business_every=0)  # technical backlog only

    async def engine() -> None:
        await asyncio.sleep(1.0)
        await reader_world.append(execution_id, [
            {"message": "fetch step 1", "log_category": "business", "user_friendly_message": "Gathering sources",
             "progress_percentage": 25},
            {"message": "sql debug detail", "log_category": "technical", "level": "DEBUG"},
            {"message": "writing", "log_category": "business", "user_friendly_message": "Writing the report",
             "progress_percentage": 75},
        ])
        await asyncio.sleep(0.3)
        await reader_world.finish(execution_id, "SUCCESS")

    task = asyncio.create_task(engine())
    code, out, err = await run_cli("tail", execution_id, env=env_for(reader_bridge, reader_world.token()))
    await task
    assert code == 0, err
    assert "Gathering sources" in out and "Writing the report" in out
    assert "25%" in out and "75%" in out
    assert "sql debug detail" not in out and "log 1" not in out  # the business view hides technical logs
    assert "SUCCESS" in err


async def test_tail_technical_shows_levels_and_exits_1_when_the_execution_fails(reader_bridge, reader_world):
    execution_id = await reader_world.make_execution(logs=4, business_every=0)

    async def engine() -> None:
        await asyncio.sleep(0.8)
        await reader_world.append(execution_id, [{"message": "boom", "level": "ERROR"}])
        await asyncio.sleep(0.2)
        await reader_world.finish(execution_id, "ERROR")

    task = asyncio.create_task(engine())
    code, out, err = await run_cli("tail", execution_id, "--technical", env=env_for(reader_bridge, reader_world.token()))
    await task
    assert code == 1, err
    assert "ERROR" in out and "boom" in out and "log 1" in out and "INFO" in out
    code, out, _ = await run_cli(
        "tail", execution_id, "--technical", "--level", "error", env=env_for(reader_bridge, reader_world.token())
    )
    assert code == 1
    assert "boom" in out and "log 1" not in out


async def test_tail_no_follow_prints_the_backlog_and_exits(reader_bridge, reader_world):
    code, out, err = await run_cli(
        "tail", reader_world.running, "--no-follow", "--technical", env=env_for(reader_bridge, reader_world.token()),
        timeout=20,
    )
    assert code == 0, err
    assert len([line for line in out.splitlines() if line.strip()]) == 40


async def test_a_bad_token_prints_one_error_line_and_exits_non_zero(reader_bridge, reader_world):
    for command in (["tail", reader_world.finished], ["export", reader_world.finished]):
        code, out, err = await run_cli(*command, env=env_for(reader_bridge, "not-a-token"), timeout=20)
        assert code != 0
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), err
        assert "401" in lines[0]
        assert out == ""


async def test_a_missing_token_is_one_error_line(reader_bridge, reader_world):
    env = {k: v for k, v in os.environ.items() if k != "WORKFLOW_LOGS_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        CLI, "export", "x", "--url", reader_bridge.url, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**env, "NO_COLOR": "1"},
    )
    out, err = await proc.communicate()
    assert proc.returncode != 0
    assert err.decode().strip().startswith("error: no token")


async def test_a_failed_export_leaves_no_file_and_keeps_an_earlier_export(reader_bridge, reader_world, tmp_path):
    fresh = tmp_path / "fresh.jsonl"
    code, _, err = await run_cli(
        "export", reader_world.finished, "-o", str(fresh), env=env_for(reader_bridge, "not-a-token"), timeout=20
    )
    assert code != 0 and "401" in err
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one

    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text("kept\n")
    code, _, err = await run_cli(
        "export", "00000000-0000-4000-8000-00000000dead", "-o", str(earlier),
        env=env_for(reader_bridge, reader_world.token()), timeout=20,
    )
    assert code != 0 and "404" in err
    assert earlier.read_text() == "kept\n"
    assert [f.name for f in tmp_path.iterdir()] == ["earlier.jsonl"]

    code, _, err = await run_cli(
        "export", reader_world.finished, "-o", str(earlier), env=env_for(reader_bridge, reader_world.token())
    )
    assert code == 0, err
    assert [json.loads(line)["seq"] for line in earlier.read_text().splitlines()] == await reader_world.seqs(
        reader_world.finished
    )
    assert earlier.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


async def test_export_of_100000_logs_to_jsonl_and_csv_has_every_seq_once(reader_bridge, reader_world, admin_pool, tmp_path):
    execution_id = await reader_world.make_execution(status="SUCCESS")
    async with admin_pool.acquire() as conn:
        inserted = await factories.insert_logs_bulk(conn, execution_id, 100_000, nodes=4, business_every=3)
        # nested JSON fields and awkward text for the CSV
        await conn.execute(
            "update public.workflow_execution_logs set data = '{\"k\": [1, \"a,b\"]}'::jsonb,"
            " message = 'quote \" comma , newline' || chr(10) || 'é' where execution_id = $1 and seq = ("
            " select min(seq) from public.workflow_execution_logs where execution_id = $1)",
            execution_id,
        )
    assert inserted == 100_000
    expected = await reader_world.seqs(execution_id)
    env = env_for(reader_bridge, reader_world.token())

    jsonl = tmp_path / "logs.jsonl"
    code, _, err = await run_cli("export", execution_id, "--format", "jsonl", "--output", str(jsonl), env=env)
    assert code == 0, err
    assert "exported 100000 logs" in err
    seqs = []
    with jsonl.open(encoding="utf-8") as f:
        for line in f:
            seqs.append(json.loads(line)["seq"])
    assert seqs == expected

    out_csv = tmp_path / "logs.csv"
    code, _, err = await run_cli("export", execution_id, "--format", "csv", "-o", str(out_csv), env=env)
    assert code == 0, err
    raw = out_csv.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with out_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["id", "seq", "timestamp"]
    assert len(rows) == 100_000 + 1
    assert [int(r[header.index("seq")]) for r in body] == expected
    first = dict(zip(header, body[0]))
    assert json.loads(first["data"]) == {"k": [1, "a,b"]}
    assert first["message"] == 'quote " comma , newline\né'
    assert first["is_milestone"] in ("true", "false")


async def test_export_to_stdout_writes_jsonl(reader_bridge, reader_world):
    code, out, err = await run_cli(
        "export", reader_world.finished, "--page-size", "100", env=env_for(reader_bridge, reader_world.token())
    )
    assert code == 0, err
    lines = out.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == await reader_world.seqs(reader_world.finished)


async def test_export_of_a_workflow_over_a_time_range_has_every_log_of_every_execution_in_the_window_once(
    reader_bridge, reader_world, admin_pool, tmp_path
):
    from datetime import datetime, timedelta, timezone

    start = datetime(2025, 5, 1, tzinfo=timezone.utc)
    async with admin_pool.acquire() as conn:
        workflow_id = await factories.make_workflow(conn, reader_world.owner, name="export workflow")
        runs = [await factories.make_execution(conn, workflow_id, status="SUCCESS") for _ in range(3)]
        for turn in range(4):  # runs written in turns: their seq ranges interleave
            for run in runs:
                await factories.insert_logs_bulk(
                    conn, run, 700, first=turn * 1000 + 1, start=start + timedelta(hours=turn), step=timedelta(seconds=1)
                )
        since, until = start + timedelta(hours=1), start + timedelta(hours=3) - timedelta(seconds=1)
        rows = await conn.fetch(
            "select l.seq, l.execution_id from public.workflow_execution_logs l"
            " where l.execution_id = any($1::text[]) and l.created_at between $2 and $3 order by l.seq",
            runs, since, until,
        )
    expected = [(r["seq"], r["execution_id"]) for r in rows]
    assert len(expected) == 3 * 700 * 2
    env = env_for(reader_bridge, reader_world.token())

    jsonl = tmp_path / "workflow.jsonl"
    code, _, err = await run_cli(
        "export", "--workflow", workflow_id, "--since", since.isoformat(), "--until", until.isoformat(),
        "--page-size", "500", "-o", str(jsonl), env=env,
    )
    assert code == 0, err
    assert f"exported {len(expected)} logs" in err
    with jsonl.open(encoding="utf-8") as f:
        got = [(e["seq"], e["execution_id"]) for e in map(json.loads, f)]
    assert got == expected

    out_csv = tmp_path / "workflow.csv"
    code, _, err = await run_cli("export", "-w", workflow_id, "--format", "csv", "-o", str(out_csv), env=env)
    assert code == 0, err
    with out_csv.open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    assert table[0][:3] == ["execution_id", "id", "seq"]
    assert "highlight" not in table[0]
    assert len(table) == 1 + 3 * 700 * 4


async def test_export_needs_exactly_one_of_an_execution_and_a_workflow(reader_bridge, reader_world):
    env = env_for(reader_bridge, reader_world.token())
    for args in ([], [reader_world.finished, "--workflow", reader_world.workflow_id]):
        code, out, err = await run_cli("export", *args, env=env, timeout=20)
        assert code == 2
        assert "name one execution" in err and out == ""


async def test_export_of_another_users_workflow_fails_with_not_found(reader_bridge, reader_world):
    code, out, err = await run_cli(
        "export", "--workflow", reader_world.workflow_id, env=env_for(reader_bridge, reader_world.token("other")), timeout=20
    )
    assert code == 1
    assert "404" in err and out == ""
