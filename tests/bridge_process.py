"""A real bridge in a subprocess, for the bridge and SDK suites: uvicorn running
`workflow_logs_bridge.app.create_app(Settings(...))` as `workflow-logs serve` runs it (JSON logs on
stderr, no uvicorn access log), the settings passed as JSON in the environment."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 20.0

RUNNER = """
import json, os, sys
import uvicorn
from workflow_logs_bridge.app import create_app
from workflow_logs_bridge.observability import configure_logging
from workflow_logs_bridge.settings import Settings

configure_logging(os.environ.get("BRIDGE_TEST_LOG_LEVEL", "INFO"))
settings = Settings(**json.loads(os.environ["BRIDGE_TEST_SETTINGS"]))
uvicorn.run(create_app(settings), host="127.0.0.1", port=int(sys.argv[1]), access_log=False,
            log_config=None, timeout_graceful_shutdown=10)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(port: int, settings: dict[str, Any], log_path: Path, log_level: str = "INFO") -> subprocess.Popen:
    """Start a bridge on `port`; its stdout and stderr go to `log_path`."""
    env = dict(os.environ, BRIDGE_TEST_SETTINGS=json.dumps(settings), BRIDGE_TEST_LOG_LEVEL=log_level)
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(port)], stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )


async def wait_answering(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = START_TIMEOUT) -> None:
    """Until /health answers at all (200, or 503 for a bridge whose database is down)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"bridge exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                await client.get("/health")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"bridge did not answer within {timeout}s:\n{log_path.read_text()[-4000:]}")
