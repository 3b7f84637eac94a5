"""A lean Server-Sent Events response.

Each stream here sends one write per wave of new logs, so the per-send cost is what a bridge with a
thousand viewers spends its CPU on. This response keeps the send path to the bare ASGI call:
* a stuck client is found by one process-wide watchdog that looks at every stream's pending send once a
  second (instead of arming a timer around every send);
* a comment ping every `ping_interval` seconds keeps proxies from closing idle streams;
* a client that disconnects ends the stream at once (the generator's `finally` runs);
* SIGTERM / SIGINT call the registered shutdown callbacks before the server's own handler, so streams
  end cleanly at once and clients resume with Last-Event-ID elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

log = logging.getLogger("workflow_logs_bridge.sse")

_active: "weakref.WeakSet[SSEResponse]" = weakref.WeakSet()
_watchdog: asyncio.Task | None = None


class SSEResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        ping_interval: float,
        send_timeout: float,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
        status_code: int = 200,
    ) -> None:
        self.body_iterator = content
        self.status_code = status_code
        self.background = background
        self.ping_interval = ping_interval
        self.send_timeout = send_timeout
        self.sending_since: float | None = None
        self._task: asyncio.Task | None = None
        self._aborted = False
        self.init_headers(
            {"Cache-Control": "no-store", "X-Accel-Buffering": "no", "Connection": "keep-alive", **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _ensure_watchdog(self.send_timeout)
        self._task = asyncio.current_task()
        _active.add(self)
        lock = asyncio.Lock()
        try:
            try:
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                async with asyncio.TaskGroup() as group:
                    pump = group.create_task(self._pump(send, lock))
                    watchers = [group.create_task(self._ping(send, lock)), group.create_task(self._disconnect(receive))]
                    done, _ = await asyncio.wait([pump, *watchers], return_when=asyncio.FIRST_COMPLETED)
                    for task in (pump, *watchers):
                        if task not in done:
                            task.cancel()
            except* ConnectionError:
                pass  # the client went away mid-write
        except asyncio.CancelledError:
            if not self._aborted:
                raise
            asyncio.current_task().uncancel()  # dropped by the watchdog: end quietly
        finally:
            _active.discard(self)
            with contextlib.suppress(Exception):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
            if self.background is not None:
                await self.background()

    async def _pump(self, send: Send, lock: asyncio.Lock) -> None:
        async for chunk in self.body_iterator:
            async with lock:
                self.sending_since = time.monotonic()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self.sending_since = None
        async with lock:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _ping(self, send: Send, lock: asyncio.Lock) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            async with lock:
                self.sending_since = time.monotonic()
                await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
                self.sending_since = None

    async def _disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    def stuck_for(self, now: float) -> float:
        return now - self.sending_since if self.sending_since is not None else 0.0

    def abort(self) -> None:
        if self._task is not None and not self._task.done():
            self._aborted = True
            self._task.cancel()


def _ensure_watchdog(send_timeout: float) -> None:
    global _watchdog
    if _watchdog is None or _watchdog.done():
        _watchdog = asyncio.get_running_loop().create_task(_watch(send_timeout), name="sse-watchdog")


async def _watch(send_timeout: float) -> None:
    """Once a second: drop streams whose client has not taken a write for `send_timeout` seconds."""
    while True:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        for response in list(_active):
            if response.stuck_for(now) > response.send_timeout:
                log.warning("dropping a stream whose client took no data for %.0f s", response.send_timeout)
                response.abort()


def on_server_exit(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` in the event loop as soon as the process is asked to stop (SIGTERM / SIGINT),
    before the server's own handler starts its graceful shutdown; returns a function that undoes it.

    The server (uvicorn) installs its handlers before the application starts, so they are wrapped here:
    ours runs first, then theirs. Outside the main thread (a server run in a thread) nothing is installed.
    """
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(sig: int, frame: Any) -> None:
        loop.call_soon_threadsafe(callback)
        before = previous.get(sig)
        if callable(before):
            before(sig, frame)
        elif before == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, handler)
    except ValueError:  # not the main thread
        previous.clear()

    def undo() -> None:
        for sig, before in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                if signal.getsignal(sig) is handler:
                    signal.signal(sig, before)

    return undo
