"""Prometheus metrics of the bridge (GET /metrics)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_LATENCY = Histogram(
    "workflow_logs_request_seconds",
    "HTTP request latency by route (streams: time to first byte)",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ACTIVE_STREAMS = Gauge("workflow_logs_active_streams", "Open SSE streams", registry=REGISTRY)
WATCHED_EXECUTIONS = Gauge("workflow_logs_watched_executions", "Executions with a live tail", registry=REGISTRY)
NOTIFY_TO_FETCH = Histogram(
    "workflow_logs_notify_to_fetch_seconds",
    "From a NOTIFY reaching the bridge to the new logs being read and handed to streams",
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
NOTIFY_TO_SEND = Histogram(
    "workflow_logs_notify_to_send_seconds",
    "From a NOTIFY reaching the bridge to a stream writing the events",
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
LISTENER_UP = Gauge("workflow_logs_listener_up", "1 while the LISTEN connection is healthy", registry=REGISTRY)
POOL_SIZE = Gauge("workflow_logs_db_pool_connections", "Database pool connections", ["state"], registry=REGISTRY)


def render(pool_stats: dict[str, int], watched: int) -> tuple[bytes, str]:
    POOL_SIZE.labels("open").set(pool_stats["size"])
    POOL_SIZE.labels("idle").set(pool_stats["idle"])
    POOL_SIZE.labels("in_use").set(pool_stats["size"] - pool_stats["idle"])
    POOL_SIZE.labels("max").set(pool_stats["max"])
    WATCHED_EXECUTIONS.set(watched)
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
