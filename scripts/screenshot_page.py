"""Screenshot of the live execution page for the docs: docs/execution-page.png (desktop) and
docs/execution-page-phone.png.

A scratch database (on $TEST_DATABASE_URL, else the server on 127.0.0.1:5432, else an embedded
Postgres) with the demo data, a bridge on a free port, a running demo execution written with the SDK,
then headless Chromium ($WORKFLOW_LOGS_CHROMIUM or /usr/bin/chromium) opens the page.

    .venv/bin/python scripts/screenshot_page.py
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from workflow_logs import PostgresSink, WorkflowLogger
from workflow_logs import _paths
from workflow_logs._migrate import migrate
from workflow_logs._server import resolve_admin_url, scratch_database
from workflow_logs_bridge.auth import mint_token

REPO = Path(__file__).resolve().parents[1]
ALICE = "a11ce000-0000-4000-8000-000000000001"
WORKFLOW = "f1000000-0000-4000-8000-000000000001"
EXECUTION = "inbox-digest-2041"
CHROMIUM = os.environ.get("WORKFLOW_LOGS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def write_demo(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "insert into public.workflow_executions (execution_id, workflow_id, status, start_time)"
            " values ($1, $2, 'RUNNING', now() - interval '3 minutes')",
            EXECUTION,
            WORKFLOW,
        )
    finally:
        await conn.close()
    async with WorkflowLogger(PostgresSink(url), flush_interval=0.02) as logger:
        run = logger.execution(EXECUTION)
        run.workflow_started("Started summarising your inbox", total_steps=4, step_number=0)
        async with run.step("Fetch emails", node_id="fetch", node_type="gmail", step_number=1, total_steps=4) as step:
            step.info("gmail api returned 48 messages", performance_metrics={"latency_ms": 231})
            step.step_output("Fetched 48 new emails", category="business", is_milestone=True)
        async with run.step("Filter newsletters", node_id="filter", node_type="rules", step_number=2, total_steps=4) as step:
            step.step_output("Set aside 17 newsletters", category="business")
        async with run.step("Classify", node_id="classify", node_type="llm", step_number=3, total_steps=4) as step:
            step.warning("model retried after a rate limit", technical_details={"retry_after_s": 1})
            step.step_output("Sorted 31 emails into 5 topics", category="business", is_milestone=True)
        run.bind(node_id="summarise", node_name="Write digest", node_type="llm", step_number=4, total_steps=4).step_started(
            "Writing your digest", progress_percentage=80.0
        )
        run.bind(node_id="summarise", node_name="Write digest").workflow_progress(
            "Summarised 3 of 5 topics", step_number=4, total_steps=4, progress_percentage=88.0
        )


async def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)", file=sys.stderr)
        return 1
    from playwright.async_api import async_playwright

    admin_url, _ = await resolve_admin_url(os.environ.get("TEST_DATABASE_URL"), REPO / ".dev" / "screenshot-pg")
    async with scratch_database(admin_url, prefix="wl_screenshot") as url:
        await migrate(url, supabase_shim=True)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(_paths.seed_file().read_text(encoding="utf-8"))
        finally:
            await conn.close()
        await write_demo(url)

        secret = secrets.token_urlsafe(48)
        port = free_port()
        env = dict(os.environ, SUPABASE_JWT_SECRET=secret, WORKFLOW_LOGS_ENV="test")
        bridge = subprocess.Popen(
            [sys.executable, "-m", "workflow_logs.cli", "serve", "--database-url", url, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            async with httpx.AsyncClient() as client:
                while True:
                    try:
                        if (await client.get(f"{base}/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("the bridge did not start")
                    await asyncio.sleep(0.1)
            token = mint_token(secret, sub=ALICE)
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                for name, viewport in [("execution-page.png", (1200, 760)), ("execution-page-phone.png", (390, 844))]:
                    page = await browser.new_page(viewport={"width": viewport[0], "height": viewport[1]},
                                                  device_scale_factor=1 if viewport[0] > 600 else 2)
                    await page.goto(f"{base}/executions/{EXECUTION}?access_token={token}")
                    await page.wait_for_function("() => document.querySelector('#live').dataset.state === 'live'")
                    await page.wait_for_function("() => Number(document.querySelector('#count').dataset.count) > 0")
                    await page.wait_for_timeout(600)  # the progress bar's transition
                    out = REPO / "docs" / name
                    out.parent.mkdir(exist_ok=True)
                    await page.screenshot(path=str(out))
                    print(f"wrote {out.relative_to(REPO)}")
                    await page.close()
                await browser.close()
        finally:
            bridge.terminate()
            bridge.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
