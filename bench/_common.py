"""Helpers shared by the benchmarks in bench/: timing, statistics, targets, tables and JSON results.

A benchmark measures side by side in one run (the thing and its floor), reports medians and p95 in
milliseconds, and writes `bench/results/<name>.json` with the machine it ran on. Nothing here knows about
workflow logs.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of unsorted values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Timing:
    """Wall-clock samples of one case, in seconds; reported in milliseconds."""

    samples: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples, 50) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples, 95) * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.samples) * 1000 if self.samples else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "p50_ms": round(self.p50_ms, 4),
            "p95_ms": round(self.p95_ms, 4),
            "mean_ms": round(self.mean_ms, 4),
        }


async def time_calls(
    call: Callable[[], Awaitable[Any]],
    *,
    iterations: int = 200,
    warmup: int = 5,
    budget_s: float = 4.0,
    min_iterations: int = 20,
) -> tuple[Timing, Any]:
    """Call `call` `warmup` times, then up to `iterations` times timed; return (timing, last result).

    Slow cases get fewer iterations: the count is cut so the timed part takes about `budget_s`, but never
    below `min_iterations`.
    """
    started = time.perf_counter()
    result = None
    for _ in range(warmup):
        result = await call()
    per_call = (time.perf_counter() - started) / max(warmup, 1)
    n = iterations
    if per_call > 0:
        n = max(min_iterations, min(iterations, int(budget_s / per_call)))
    timing = Timing()
    for _ in range(n):
        t0 = time.perf_counter()
        result = await call()
        timing.samples.append(time.perf_counter() - t0)
    return timing, result


def ratio(value: float | None, floor: float | None) -> float | None:
    if value is None or floor is None or not floor or math.isnan(value) or math.isnan(floor):
        return None
    return value / floor


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A bound a figure must meet: `metric` (e.g. "p95_ms") compared with `limit` by `op` ("<" or ">=")."""

    metric: str
    op: str
    limit: float

    def check(self, value: float | None) -> bool | None:
        if value is None or math.isnan(value):
            return None
        return value < self.limit if self.op == "<" else value >= self.limit

    def describe(self) -> str:
        unit = " ms" if self.metric.endswith("_ms") else ""
        metric = self.metric.removesuffix("_ms")
        return f"{metric} {self.op} {self.limit:g}{unit}"

    def to_dict(self, value: float | None) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "limit": self.limit, "met": self.check(value)}


def mark(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: ""}[ok]


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, note: str = "") -> None:
    """A table on stdout: rich when it is installed (wide enough for any terminal), plain text otherwise."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency of the project
        widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
        print(f"\n{title}")
        print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
        for r in rows:
            print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))
        if note:
            print(note)
        return
    table = Table(title=title, title_justify="left", caption=note or None, caption_justify="left")
    for i, c in enumerate(columns):
        table.add_column(c, justify="left" if i == 0 else "right", no_wrap=i != 0)
    for r in rows:
        style = "red" if "FAIL" in r else None
        table.add_row(*(str(v) for v in r), style=style)
    Console(width=max(160, _terminal_width())).print(table)


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 0


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "event_loop": type(asyncio.get_event_loop_policy()).__module__.split(".")[0],
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as f:
            info["mem_total_kib"] = int(f.readline().split()[1])
    except OSError:
        pass
    return info


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json` (pretty, stable key order) and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def install_uvloop() -> bool:
    """Use uvloop when it is installed (the floor was measured with it)."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


class Stopwatch:
    """`with Stopwatch() as sw: ...; sw.seconds`."""

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0

    @property
    def elapsed(self) -> float:
        """Seconds since the block began (while it runs)."""
        return time.perf_counter() - self._t0
