"""Admission control at the edge: a bound on requests in flight per route class, beyond which a
request is answered 503 with Retry-After at once, instead of queueing behind a stalled service.

Classes: reads (GET, HEAD), writes (every other method) and transfers (upload bodies and media
files, which last long); the live notification stream and the edge's own routes are not counted.
"""

from __future__ import annotations

import grpc
from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from edge_proxy.settings import EdgeSettings
from edge_proxy.transcode import EdgeError, error_response, retry_headers

SHED = Counter(
    "shutter_edge_shed_requests_total",
    "Requests the edge answered 503 at once because too many of their class were in flight.",
    ["route_class"],
)

_UNCOUNTED = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/api/v1/notifications/stream")


def route_class(method: str, path: str) -> str | None:
    """Return the class a request is counted in, or None when it is not counted."""
    if path.startswith(_UNCOUNTED):
        return None
    if path.startswith("/media/") or (method == "PUT" and path.startswith("/api/v1/uploads/")):
        return "transfers"
    return "reads" if method in ("GET", "HEAD") else "writes"


class AdmissionMiddleware:
    """Count requests in flight per class; refuse (503, Retry-After) beyond each class's bound."""

    def __init__(self, app: ASGIApp, settings: EdgeSettings) -> None:
        self.app = app
        self.limits = {
            "reads": settings.edge_max_in_flight_reads,
            "writes": settings.edge_max_in_flight_writes,
            "transfers": settings.edge_max_in_flight_transfers,
        }
        self.in_flight = dict.fromkeys(self.limits, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = route_class(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        if self.in_flight[kind] >= self.limits[kind]:
            SHED.labels(kind).inc()
            busy = EdgeError(
                grpc.StatusCode.UNAVAILABLE,
                f"too many {kind} in flight; try again shortly",
                reason="OVERLOADED",
            )
            await error_response(busy.status(), 503, retry_headers(503))(scope, receive, send)
            return
        self.in_flight[kind] += 1  # one event loop: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight[kind] -= 1
