"""Prometheus metrics: RPC counts, latency and status by method, and the /metrics endpoint."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_REQUESTS = Counter(
    "shutter_rpc_requests_total",
    "RPCs served, by service, method and status code.",
    ["service", "method", "code"],
)
RPC_DURATION = Histogram(
    "shutter_rpc_duration_seconds",
    "Time to serve an RPC, by service and method.",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

BUS_LAG = Histogram(
    "shutter_bus_lag_seconds",
    "Time from an event's commit to its successful handling, by consumer group and event type.",
    ["group", "event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
BUS_BACKLOG = Gauge(
    "shutter_bus_backlog_events",
    "Events a consumer group has not finished: not yet read, or read and still in progress "
    "(for feed_svc's group, its fan-out queue).",
    ["group"],
)
BUS_DEAD_LETTERS = Counter(
    "shutter_bus_dead_letters_total",
    "Events a consumer group gave up on and put in its dead letters, by group and event type "
    "(replay them with `shutter bus dead-letters replay`).",
    ["group", "event_type"],
)
OUTBOX_REPLAYED = Counter(
    "shutter_outbox_replayed_events_total",
    "Outbox rows a relay published again because the bus lost events (its epoch changed).",
    ["producer"],
)
CACHE_LOOKUPS = Counter(
    "shutter_cache_lookups_total",
    "Cache lookups by cache and outcome (hit or miss); hit rate = hits / all.",
    ["cache", "outcome"],
)

_served_ports: set[int] = set()


def observe_event_handled(group: str, event_type: str, envelope: Any) -> None:
    """Record how long an event waited between its commit and its handling in a group."""
    occurred = envelope.occurred_at.seconds + envelope.occurred_at.nanos / 1e9
    if occurred:
        BUS_LAG.labels(group, event_type).observe(max(0.0, time.time() - occurred))


def cache_lookup(cache: str, *, hit: bool) -> None:
    """Count one lookup of a named cache."""
    CACHE_LOOKUPS.labels(cache, "hit" if hit else "miss").inc()


def serve_metrics(port: int | None, host: str = "127.0.0.1") -> None:
    """Serve this process's metrics at http://host:port/metrics (once per port)."""
    if port is None or port in _served_ports:
        return
    start_http_server(port, addr=host)
    _served_ports.add(port)
