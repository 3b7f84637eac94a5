"""The live execution page (`GET /executions/{id}`): its headers over plain HTTP, and the page itself in a
real headless Chromium (Playwright) against a real bridge subprocess and Postgres, with logs written by
the SDK.

Chromium: $WORKFLOW_LOGS_CHROMIUM, else /usr/bin/chromium (Debian's package; CI installs it). A machine
without it fails these tests with that message instead of skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import pytest_asyncio
from workflow_logs import PostgresSink, WorkflowLogger

CHROMIUM = os.environ.get("WORKFLOW_LOGS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
STEP = 10_000  # ms: hard limit of every wait in the browser
FAST = {"flush_interval": 0.02, "batch_size": 50}
SCREENSHOT = os.environ.get("WORKFLOW_LOGS_PAGE_SCREENSHOT")  # save the business view there (docs/)


# =============================================================================================
# Plain HTTP
# =============================================================================================
async def test_page_is_a_static_shell_with_a_strict_csp_and_no_store(client, world, bridge):
    token = world.token()
    r = await client.get(f"/executions/{world.finished}", params={"access_token": token})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    # The shell holds no data: not the id, not the token, no inline script.
    assert world.finished not in r.text and token not in r.text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text) is None
    # The same shell for an id nobody can see: the HTML route reveals nothing.
    other = await client.get("/executions/no-such-execution")
    assert other.status_code == 200 and other.text == r.text
    # The token never reaches a log line.
    assert token not in bridge.log_text()


async def test_page_assets_are_served_as_modules_with_nosniff(client):
    js = await client.get("/static/execution.js")
    assert js.status_code == 200
    assert js.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert js.headers["x-content-type-options"] == "nosniff"
    css = await client.get("/static/execution.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/nothing.js")).status_code == 404


async def test_page_for_an_id_longer_than_any_execution_id_is_404(client):
    assert (await client.get("/executions/" + "x" * 256)).status_code == 404


async def test_page_assets_never_write_log_data_as_html():
    static = Path(__file__).resolve().parents[2] / "bridge" / "workflow_logs_bridge" / "static"
    for path in static.glob("*.js"):
        text = path.read_text()
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "document.write" not in text, path


# =============================================================================================
# The browser
# =============================================================================================
@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install -y chromium) or set WORKFLOW_LOGS_CHROMIUM",
            pytrace=False,
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser):
    context = await browser.new_context(viewport={"width": 1200, "height": 800})
    pg = await context.new_page()
    pg.set_default_timeout(STEP)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.errors = errors  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        await context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest_asyncio.fixture(loop_scope="session")
async def writer(database_url: str) -> AsyncIterator[WorkflowLogger]:
    async with WorkflowLogger(PostgresSink(database_url), **FAST) as logger:
        yield logger


async def shown_count(page) -> int:
    return int(await page.locator("#count").get_attribute("data-count"))


async def rendered_seqs(page) -> list[int]:
    return [int(s) for s in await page.locator("#list .row[data-seq]").evaluate_all("rows => rows.map(r => r.dataset.seq)")]


async def wait_count(page, n: int) -> None:
    await page.wait_for_function(
        "n => Number(document.querySelector('#count').dataset.count) === n", arg=n, timeout=STEP
    )


async def progress(page) -> int:
    return int(await page.locator("#progress").get_attribute("aria-valuenow"))


async def business_count(scratch, execution_id: str) -> int:
    return await scratch.pool.fetchval(
        "select count(*) from public.workflow_execution_logs where execution_id = $1 and log_category = 'business'",
        execution_id,
    )


async def test_live_page_shows_logs_progress_technical_view_reload_and_completion(
    page, bridge, world, scratch, writer
):
    execution_id = await scratch.execution()
    run = writer.execution(execution_id)
    run.workflow_started("Started sorting <b>your</b> inbox")  # markup in a log must stay text
    await writer.flush()

    await page.goto(f"{bridge.url}/executions/{execution_id}?access_token={world.token()}")
    await page.locator("#list").get_by_text("Started sorting <b>your</b> inbox").wait_for()
    assert await page.locator("#list b").count() == 0
    assert "access_token" not in page.url  # moved out of the address bar
    await page.wait_for_function("() => document.querySelector('#live').dataset.state === 'live'", timeout=STEP)
    assert await progress(page) == 0

    # Live: a step completes; its message appears, the step row says completed, the bar moves.
    async with run.step("Fetch emails", node_id="fetch", step_number=1, total_steps=3) as step:
        step.info("imap returned 12 messages", technical_details={"host": "imap.example"})
        step.step_output("Fetched 12 new emails", category="business", is_milestone=True)
    await writer.flush()
    await page.locator("#list").get_by_text("Fetched 12 new emails").first.wait_for()
    await page.wait_for_function("() => Number(document.querySelector('#progress').getAttribute('aria-valuenow')) >= 33")
    await page.locator('#steps [data-node="fetch"][data-status="completed"]').wait_for()
    assert await page.locator("#list .row.milestone").count() >= 2

    # A failing step: running then failed, with a stack trace for the technical view.
    try:
        async with run.step("Classify", node_id="classify", step_number=2, total_steps=3):
            raise ValueError("model refused the prompt")
    except ValueError:
        pass
    run.debug("token count 5120", node_id="classify")
    await writer.flush()
    await page.locator('#steps [data-node="classify"][data-status="failed"]').wait_for()
    await wait_count(page, await business_count(scratch, execution_id))

    # Technical view: every log; level filter; the stack trace expands.
    await page.click("#view-technical")
    total = len(await scratch.seqs(execution_id))
    await wait_count(page, total)
    await page.select_option("#filter-level", "error")
    await wait_count(page, 1)
    row = page.locator("#list .row[data-level='error']")
    assert await row.count() == 1
    await row.click()
    await page.locator("#list").get_by_text("ValueError: model refused the prompt").first.wait_for()
    await page.select_option("#filter-level", "debug")
    await wait_count(page, 1)
    assert await page.locator("#list .row[data-seq]").evaluate_all("rs => rs.map(r => r.dataset.level)") == ["debug"]
    await page.select_option("#filter-level", "")
    await page.select_option("#filter-node", "fetch")
    await wait_count(page, await scratch.pool.fetchval(
        "select count(*) from public.workflow_execution_logs where execution_id = $1 and node_id = 'fetch'", execution_id
    ))
    await page.select_option("#filter-node", "")
    await page.select_option("#filter-event", "step_error")
    await wait_count(page, 1)

    # Reload: the same logs once each (the token survives the reload in this tab only).
    await page.reload()
    await page.locator("#list").get_by_text("Fetched 12 new emails").first.wait_for()
    expected = await business_count(scratch, execution_id)
    await wait_count(page, expected)
    seqs = await rendered_seqs(page)
    assert len(seqs) == expected and seqs == sorted(set(seqs))

    # More live logs after the reload, then completion: a banner, 100%.
    run.workflow_progress("Writing your digest", step_number=3, total_steps=3, progress_percentage=90.0)
    await writer.flush()
    await page.locator("#list").get_by_text("Writing your digest").wait_for()
    await page.wait_for_function("() => Number(document.querySelector('#progress').getAttribute('aria-valuenow')) === 90")
    run.workflow_completed("Your digest is ready")
    await writer.flush()
    await page.locator("#list").get_by_text("Your digest is ready").first.wait_for()
    await scratch.finish(execution_id, "SUCCESS")
    banner = page.locator("#banner")
    await banner.wait_for(state="visible")
    assert "Finished successfully" in await banner.inner_text()
    assert await progress(page) == 100
    assert await page.locator("#status").text_content() == "success"
    seqs = await rendered_seqs(page)
    assert len(seqs) == await business_count(scratch, execution_id) and seqs == sorted(set(seqs))
    assert world.token() not in bridge.log_text()
    if SCREENSHOT:
        await page.screenshot(path=SCREENSHOT)


async def test_stream_that_ends_and_resumes_leaves_no_gap_and_no_duplicate(
    browser, bounded_bridge, world, scratch, writer
):
    """The bounded bridge ends every stream after 3 s; EventSource resumes with Last-Event-ID."""
    execution_id = await scratch.execution()
    run = writer.execution(execution_id)
    context = await browser.new_context()
    try:
        pg = await context.new_page()
        pg.set_default_timeout(STEP)
        await pg.goto(f"{bounded_bridge.url}/executions/{execution_id}?access_token={world.token()}")
        await pg.wait_for_function("() => document.querySelector('#live').dataset.state === 'live'", timeout=STEP)
        with anyio.fail_after(20):
            for i in range(8):  # spans a stream end (3 s) and the 2 s before the browser reconnects
                run.step_started(f"Batch {i}", node_id=f"n{i}")
                await writer.flush()
                await anyio.sleep(0.9)
        await wait_count(pg, 8)
        texts = await pg.locator("#list .row .msg").all_inner_texts()
        assert texts == [f"Batch {i}" for i in range(8)]
    finally:
        await context.close()
    # The stream really ended and was resumed: two connections (one access-log line each, written when
    # each connection closes; the second closes with the browser).
    path = f"/executions/{execution_id}/logs/stream"
    with anyio.fail_after(5):
        while bounded_bridge.log_text().count(path) < 2:
            await anyio.sleep(0.1)
    assert world.token() not in bounded_bridge.log_text()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("invalid token", "invalid or has expired"),
        ("unknown execution", "Execution not found"),
        ("another user's execution", "Execution not found"),
        ("no token", "No access token"),
    ],
)
async def test_page_explains_why_it_shows_nothing(page, bridge, world, case, expected):
    execution_id, query = world.finished, f"?access_token={world.token()}"
    if case == "invalid token":
        query = "?access_token=" + world.token()[:-4] + "AAAA"
    elif case == "unknown execution":
        execution_id = "exec-does-not-exist"
    elif case == "another user's execution":
        query = f"?access_token={world.token('other')}"
    elif case == "no token":
        query = ""
    await page.goto(f"{bridge.url}/executions/{execution_id}{query}")
    message = page.locator("#message")
    await message.wait_for(state="visible")
    assert expected in await message.inner_text()
    assert await page.locator("#main").is_hidden()
    assert await page.locator("#list .row[data-seq]").count() == 0


async def test_a_long_run_renders_only_the_rows_in_view_and_loads_older_pages_on_scroll(page, bridge, world, scratch):
    execution_id = await scratch.execution(status="SUCCESS", logs=20_000)
    seqs = await scratch.seqs(execution_id)
    await page.goto(f"{bridge.url}/executions/{execution_id}?access_token={world.token()}")
    await page.locator("#banner").wait_for(state="visible")
    await page.click("#view-technical")
    await wait_count(page, len(seqs))
    shown = await rendered_seqs(page)
    assert 0 < len(shown) < 100, len(shown)  # a screenful, not 20,000 rows
    assert shown[-1] == seqs[-1]  # opens at the newest log
    for fraction in (0.0, 0.5):  # the oldest page, then a page in the middle (offset), read as they come into view
        await page.locator("#list").evaluate("(el, f) => { el.scrollTop = f * el.scrollHeight; }", fraction)
        await page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        await page.wait_for_function(
            "() => document.querySelectorAll('#list .row.placeholder').length === 0"
            " && document.querySelectorAll('#list .row[data-seq]').length > 0"
        )
        shown = await rendered_seqs(page)
        start = seqs.index(shown[0])
        assert shown == seqs[start : start + len(shown)]  # consecutive, in order, nothing missing or repeated
        assert len(shown) < 100
        if fraction == 0.0:
            assert shown[0] == seqs[0]
